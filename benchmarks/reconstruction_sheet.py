"""Several tokenizers side by side on the same unseen images: originals, then one row per tokenizer.

The images are a source of ``tokenizer_generality.py`` (by default the held-out clock style);
each row's caption carries its PSNR over the images shown.

    python benchmarks/reconstruction_sheet.py --out docs/tokenizer_study.png \
        base=runs/tokstudy/base/model fsq8=runs/tokstudy/fsq8/model
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tokenizer_generality import sources

from shared.images import make_grid, psnr, to_pil
from stage1_vqvae import load_tokenizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tokenizers", nargs="+", metavar="NAME=PATH", help="a row label and a tokenizer folder")
    p.add_argument("--source", default="clocks, held-out style", help="a source of tokenizer_generality.py")
    p.add_argument("--n", type=int, default=8, help="images (columns)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args()
    pairs = [t.split("=", 1) for t in args.tokenizers]
    if any(len(pair) != 2 for pair in pairs):
        p.error("each tokenizer is NAME=PATH")
    images = sources(args.n, args.seed)[args.source]["images"]
    tiles, captions = to_pil(images), ["original"] + [""] * (args.n - 1)
    for name, path in pairs:
        vq = load_tokenizer(path)
        with torch.no_grad():
            rec = vq.decode(vq.encode(images)).clamp(-1, 1)
        tiles += to_pil(rec)
        captions += [f"{name}: {psnr(rec, images).mean():.1f} dB"] + [""] * (args.n - 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    make_grid(tiles, captions, ncols=args.n, title=args.source).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
