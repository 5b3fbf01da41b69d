"""Tokenizer throughput: images/s through ``encode`` (and through the whole ``export_tokens``
path, PNG decoding and the arrow write included) at 64x64 and 256x256.

    python benchmarks/bench_tokenizer.py [--model TOKENIZER_DIR] [--sizes 64 256] [--images 512]

Without ``--model`` a randomly initialized default-config ``VQVAEModel`` is measured (speed
does not depend on the weights). At a size other than the tokenizer's ``image_size`` the
same weights run on the larger input (convolutions do not care), so 256x256 measures the
cost of 16x the pixels with one model. Prints results; copy them into RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import datasets
import torch

from pipelines.token_export import export_tokens
from shared.clocks import render_clock
from shared.data import FEATURES
from stage1_vqvae import load_tokenizer


def clocks(n: int, size: int) -> datasets.Dataset:
    rows = [(i % 12, (7 * i) % 60) for i in range(n)]
    return datasets.Dataset.from_dict(
        {
            "image": [render_clock(h, m, style=i, size=size, seed=i) for i, (h, m) in enumerate(rows)],
            "hour": [h for h, _ in rows],
            "minute": [m for _, m in rows],
            "style": list(range(n)),
        },
        features=FEATURES,
    )


def encode_rate(model, size: int, batch: int, images: int) -> float:
    x = torch.rand(batch, 3, size, size, device=next(model.parameters()).device) * 2 - 1
    with torch.inference_mode():
        model.encode(x[:2])  # warm-up
        start, done = time.perf_counter(), 0
        while done < images:
            model.encode(x)
            done += batch
    return done / (time.perf_counter() - start)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="tokenizer folder (default: a random default-config VQVAEModel)")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--images", type=int, default=512, help="images per measurement at 64x64 (fewer at larger sizes)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.model:
        model = load_tokenizer(args.model, device=device)
    else:
        from stage1_vqvae import VQVAEConfig, VQVAEModel

        torch.manual_seed(0)
        model = VQVAEModel(VQVAEConfig()).to(device).eval()
    cfg = model.config
    print(
        f"tokenizer: {args.model or 'default config, random weights'}; f{cfg.downsample}, K={cfg.codebook_size}, "
        f"{sum(q.numel() for q in model.parameters()) / 1e6:.2f} M parameters; device {device}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(f"{'size':>9} {'grid':>7} {'encode img/s':>13} {'export img/s':>13}")
    for size in args.sizes:
        n = max(args.batch_size, args.images * 64 * 64 // (size * size))
        batch = min(args.batch_size, n)
        rate = encode_rate(model, size, batch, n)
        cfg.image_size = size  # export at this size: same weights, larger input
        data = clocks(n, size)
        with tempfile.TemporaryDirectory() as tmp:
            metrics = export_tokens(
                model, data, f"{tmp}/tokens", batch_size=batch, on_size_mismatch="reject", progress=False
            )
        h, w = model.grid_shape(size, size)
        print(f"{size:>4}x{size:<4} {h:>3}x{w:<3} {rate:>13.1f} {metrics['images_per_s']:>13.1f}", flush=True)


if __name__ == "__main__":
    main()
