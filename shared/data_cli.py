"""``qvae data``: render the clock dataset and its contact sheet."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from shared.data import build_clock_dataset
from shared.files import save_atomic
from shared.images import make_grid


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder to write the DatasetDict to (replaced atomically)")
    p.add_argument("--train", type=int, default=20000, help="training images (>= 720)")
    p.add_argument("--val", type=int, default=720, help="validation images (>= 720)")
    p.add_argument("--test", type=int, default=720, help="test images (>= 720)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--styles", type=int, default=16, help="distinct clock styles (0: a new style per image)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sheet", help="also write a contact sheet of the first 32 training clocks to this PNG")


def run(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    ds = build_clock_dataset(args.train, args.val, args.test, size=args.size, seed=args.seed, num_styles=args.styles)
    save_atomic(ds, args.out)
    took = time.perf_counter() - start
    total = sum(len(s) for s in ds.values())
    print(f"wrote {total} clocks ({', '.join(f'{k} {len(v)}' for k, v in ds.items())}) to {args.out} "
          f"in {took:.1f}s ({total / took:.0f} clocks/s)")
    if args.sheet:
        rows = ds["train"].select(range(min(32, len(ds["train"]))))
        grid = make_grid(list(rows["image"]), [f"{h or 12}:{m:02d}" for h, m in zip(rows["hour"], rows["minute"])],
                         ncols=8)
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        grid.save(args.sheet)
        print(f"contact sheet: {args.sheet}")
