"""Does the tokenizer reconstruct images it never saw? PSNR, codebook usage and readable time per source.

Sources, none of them in the tokenizer's training data:

- ``clocks, every style``: clocks of our renderer, a style each (a test stream);
- ``clocks, held-out style``: the region of the style space kept out of training (teal octagons);
- ``clocks, second renderer``: ``tests/clock_renderer_b.py``, written apart from ours;
- ``image mix (unseen files)``: the validation split of ``shared.image_mix`` (icons, photos,
  pictures, text from files the training split does not use);
- ``held-out files``: emoji, other packages' clock and alarm icons (``held_out_files``).

Beside each, the same images through bicubic from a 16x16 thumbnail (16 * 16 * 3 * 8 = 6,144
bits, against the tokens' h * w * log2 K). For clocks, the clock reader reads the time on the
originals and on the reconstructions, and for our renderer's clocks each style field too: a
field the tokens lose (a thin rim, tick marks, the hand's shape) is one no prior over them can
be asked for. Writes ``OUT/generality.json`` and ``OUT/generality.png``
(per source: originals, reconstructions, thumbnails).

    python benchmarks/tokenizer_generality.py --out runs/tokenizer_generality        # the shipped tokenizer
    python benchmarks/tokenizer_generality.py --tokenizer pipelines/weights/image_tokenizer \
        --reader benchmarks/judge_reader --out runs/tokenizer_generality_f4
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import torch

from pipelines.pipeline import DEFAULT_PIPELINE
from pipelines.reader import RenderedClocks, load_reader, measure_reader, reader_accuracy
from shared.clocks import HELD_OUT_STYLE
from shared.image_mix import build_image_mix, held_out_files, render_example
from shared.images import make_grid, psnr, thumbnail, to_pil, to_tensor
from stage1_vqvae import load_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from clock_renderer_b import draw_clock  # noqa: E402  (a test helper: the stand-in for another renderer)

THUMB = 16


def sources(n: int, seed: int) -> dict[str, dict]:
    """``{name: {"images": float [N, 3, 64, 64] in [-1, 1], "hour", "minute" (clocks only)}}``."""
    rng = random.Random(seed)
    times = [(rng.randrange(12), rng.randrange(60)) for _ in range(n)]
    ours = RenderedClocks(n, f"qvae-tokenizer-generality-{seed}").batch()
    held = RenderedClocks(n, f"qvae-tokenizer-generality-held-{seed}", **HELD_OUT_STYLE).batch()
    mix = build_image_mix(max(10 * n, 100), seed=seed)["validation"]
    files = held_out_files()
    return {
        "clocks, every style": ours,
        "clocks, held-out style": held,
        "clocks, second renderer": {
            "images": to_tensor([draw_clock(h, m, 64, seed + i) for i, (h, m) in enumerate(times)]),
            "hour": torch.tensor([h for h, _ in times]),
            "minute": torch.tensor([m for _, m in times]),
        },
        "image mix (unseen files)": {"images": to_tensor(mix.select(range(min(n, len(mix))))["image"])},
        "held-out files (emoji, other clocks)": {
            "images": to_tensor([render_example("icons", files[i % len(files)], 64, rng) for i in range(n)])
        },
    }


@torch.inference_mode()
def measure(vq, reader, src: dict) -> tuple[dict, torch.Tensor, torch.Tensor]:
    x = src["images"]
    ids = torch.cat([vq.encode(c) for c in x.split(256)])
    rec = torch.cat([vq.decode(i) for i in ids.split(256)]).clamp(-1, 1)
    thumb = thumbnail(x, THUMB)
    row = {
        "n": len(x),
        "psnr_db": psnr(rec, x).mean().item(),
        "thumbnail_psnr_db": psnr(thumb, x).mean().item(),
        "codebook_usage": ids.unique().numel() / vq.config.codebook_size,
    }
    if "hour" in src:
        row["reader_originals"] = reader_accuracy(reader, x, src["hour"], src["minute"])["accuracy"]
        row["reader_reconstructions"] = reader_accuracy(reader, rec, src["hour"], src["minute"])["accuracy"]
    if "fields" in src and reader.fields:  # each style field, as the reader's own validation measures it
        row["fields_originals"], row["fields_reconstructions"] = (
            {
                k.removeprefix("field/"): v
                for k, v in measure_reader(reader, {"images": images, "fields": src["fields"]}).items()
                if k.startswith("field/")
            }
            for images in (x, rec)
        )
    return row, rec, thumb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", default=str(DEFAULT_PIPELINE / "tokenizer"), help="default: the shipped one")
    p.add_argument("--reader", default=None, help="the clock reader that judges (default: the shipped one)")
    p.add_argument("--n", type=int, default=400, help="images per source")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    vq, reader = load_tokenizer(args.tokenizer), load_reader(args.reader)
    grid = vq.encode(torch.zeros(1, 3, 64, 64)).shape[-2:]
    bits = grid.numel() * math.log2(vq.config.codebook_size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, tiles, captions = {}, [], []
    for name, src in sources(args.n, args.seed).items():
        rows[name], rec, thumb = measure(vq, reader, src)
        for label, batch in (("original", src["images"]), ("tokens", rec), ("16x16 bicubic", thumb)):
            tiles += to_pil(batch[:8])
            captions += [f"{name[:22]}: {label}"] + [""] * 7
    make_grid(tiles, captions, ncols=8).save(out / "generality.png")
    result = {"tokenizer": args.tokenizer, "token_bits": bits, "thumbnail_bits": THUMB * THUMB * 3 * 8, "sources": rows}
    (out / "generality.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"tokens: {tuple(grid)} x log2({vq.config.codebook_size}) = {bits:.0f} bits; thumbnail {THUMB * THUMB * 24}")
    print(
        "| source | n | tokenizer PSNR | 16x16 bicubic PSNR | codebook usage | time read: originals | reconstructions |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        read = (
            f"{r['reader_originals']:.1%} | {r['reader_reconstructions']:.1%}" if "reader_originals" in r else "- | -"
        )
        print(
            f"| {name} | {r['n']} | {r['psnr_db']:.2f} dB | {r['thumbnail_psnr_db']:.2f} dB | "
            f"{r['codebook_usage']:.0%} | {read} |"
        )
    fielded = {name: r for name, r in rows.items() if "fields_originals" in r}
    names = list(next(iter(fielded.values()))["fields_originals"]) if fielded else []
    if names:
        print("\n| style field read (originals / reconstructions) | " + " | ".join(fielded) + " |")
        print("|---" * (len(fielded) + 1) + "|")
        for f in names:
            cells = [f"{r['fields_originals'][f]:.1%} / {r['fields_reconstructions'][f]:.1%}" for r in fielded.values()]
            print(f"| {f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
