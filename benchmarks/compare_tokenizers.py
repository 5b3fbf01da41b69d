"""AE vs VAE vs beta-VAE vs VQ-VAE (straight-through and rotation trick) vs FSQ, same data and budget.

Each model trains the same number of steps with the same batch, learning rate and
precision, then is measured on the validation split: PSNR, codebook usage (VQ / FSQ),
and how often the clock reader still reads the time after reconstruction. The VAEs also
draw samples from N(0, I). Writes a markdown table to stdout (and --out/table.md) and one
image grid per model.

    python benchmarks/compare_tokenizers.py --data data/clocks --steps 400 --out runs/compare
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from pipelines.evaluate import load_reader
from pipelines.reader import TOLERANCE, circular_error
from shared.data import load_images
from shared.images import make_grid, psnr, to_pil, to_tensor
from stage1_vqvae.train import train_tokenizer

VARIANTS = {
    "AE": ("ae", {}),
    "VAE": ("vae", {"beta": 1.0}),
    "beta-VAE (beta 4)": ("vae", {"beta": 4.0}),
    "VQ-VAE (EMA, straight-through)": ("vqvae", {}),
    "VQ-VAE (EMA, rotation trick)": ("vqvae", {"estimator": "rotation"}),
    "FSQ (8x8x8)": ("vqvae", {"quantizer": "fsq"}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--mixed-precision", default="bf16")
    p.add_argument("--only", nargs="*", help="names of variants to run (default: all)")
    args = p.parse_args()
    out = Path(args.out)
    val = load_images(args.data)["validation"]
    images = to_tensor(list(val["image"]))
    hours, minutes = torch.tensor(val["hour"]), torch.tensor(val["minute"])
    reader = load_reader()
    rows = []
    for name, (kind, config) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        slug = re.sub(r"\W+", "_", name.lower()).strip("_")
        model, metrics = train_tokenizer(
            args.data,
            out / slug,
            model=kind,
            config=config,
            steps=args.steps,
            mixed_precision=args.mixed_precision,
            eval_every=args.steps,
            save_every=args.steps,
            progress=False,
        )
        model.eval()
        with torch.inference_mode():
            recon = torch.cat([model(x).reconstruction for x in images.split(240)]).clamp(-1, 1)
            row = {"model": name, "psnr_db": psnr(recon, images).mean().item(), "seconds": metrics["seconds"]}
            rh, rm = reader.read(recon)
            row["readable"] = (circular_error(rh, rm, hours, minutes) <= TOLERANCE).float().mean().item()
            if kind == "vqvae":
                ids = torch.cat([model.encode(x) for x in images.split(240)])
                row["codebook_usage"] = ids.unique().numel() / model.config.codebook_size
            tiles = to_pil(torch.cat([images[:8], recon[:8]]))
            if kind == "vae":
                samples = model.sample_prior(8, torch.Generator().manual_seed(0))
                tiles += to_pil(samples.clamp(-1, 1))
        rows.append(row)
        captions = ["original"] * 8 + ["reconstruction"] * 8 + ["sample N(0,I)"] * (len(tiles) - 16)
        make_grid(tiles, captions, ncols=8, title=f"{name}: {row['psnr_db']:.1f} dB").save(out / f"{slug}.png")
        print(json.dumps(row), flush=True)
    lines = [
        f"| model ({args.steps} steps, batch 64, {args.mixed_precision}) | val PSNR (dB) | codebook usage | "
        "time readable after reconstruction | train seconds |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        usage = f"{r['codebook_usage']:.0%}" if "codebook_usage" in r else "-"
        lines.append(f"| {r['model']} | {r['psnr_db']:.2f} | {usage} | {r['readable']:.1%} | {r['seconds']:.0f} |")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
