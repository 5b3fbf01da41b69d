"""``qvae data``: render the labelled clock dataset and its contact sheet."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from PIL import Image, ImageDraw

from shared.clocks import STYLE_FIELDS, random_style, render_clock
from shared.data import HELDOUT_SPLIT, build_clock_dataset
from shared.files import save_atomic
from shared.images import font


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder to write the DatasetDict to (replaced atomically)")
    p.add_argument("--train", type=int, default=20000, help="training images (>= 720)")
    p.add_argument("--val", type=int, default=720, help="validation images (>= 720)")
    p.add_argument("--test", type=int, default=720, help="test images (>= 720)")
    p.add_argument(
        "--heldout",
        type=int,
        default=0,
        help=f"also a {HELDOUT_SPLIT!r} split of this many clocks (>= 720) of the style region "
        "held out of the other splits (0: none)",
    )
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument(
        "--styles", type=int, default=0, help="distinct clock styles (0, the default: a new style per image)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sheet", help="also write a contact sheet of the first 32 training clocks, with their labels, to this PNG"
    )


def caption_lines(hour: int, minute: int, labels: dict[str, str]) -> list[str]:
    """Four short lines naming a clock's time and every style field's word."""
    return [
        f"{hour or 12}:{minute:02d} {labels['face_color']} {labels['shape']}",
        f"{labels['numerals']} numerals, {labels['ticks']} ticks",
        f"{labels['hand_color']} {labels['hand_shape']} hands, rim {labels['rim']}",
        f"{labels['background_color']} {labels['background_style']} bg"
        + (", seconds" if labels["second_hand"] == "yes" else ""),
    ]


def style_sheet(
    images: list[Image.Image], captions: list[list[str]], ncols: int = 8, scale: int = 3, title: str | None = None
) -> Image.Image:
    """Tiles with several caption lines each (``shared.images.make_grid`` fits one line)."""
    f = font(12)
    line, pad = 14, 8
    tw = max(im.width for im in images) * scale
    th = max(im.height for im in images) * scale + line * max(len(c) for c in captions) + 2
    top = 24 if title else 0
    nrows = -(-len(images) // ncols)
    sheet = Image.new("RGB", (ncols * (tw + pad) + pad, top + nrows * (th + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 6), title, fill="black", font=font(14))
    for i, (im, lines) in enumerate(zip(images, captions)):
        r, c = divmod(i, ncols)
        x, y = pad + c * (tw + pad), top + pad + r * (th + pad)
        sheet.paste(im.convert("RGB").resize((im.width * scale, im.height * scale), Image.NEAREST), (x, y))
        for k, text in enumerate(lines):
            draw.text((x, y + im.height * scale + 2 + k * line), text, fill="black", font=f)
    return sheet


def write_style_sheet(path: str | Path = "docs/clock_styles.png", n: int = 32, seed: int = 0) -> Path:
    """``n`` random styles at random times, 64x64, captioned with their labels (docs/clock_styles.png)."""
    rng = random.Random(seed)
    images, captions = [], []
    for i in range(n):
        style = random_style(rng.randrange(2**31))
        h, m = rng.randrange(12), rng.randrange(60)
        images.append(render_clock(h, m, style=style, size=64, seed=i))
        captions.append(caption_lines(h, m, style.labels))
    fields = ", ".join(f"{k} ({len(v)})" for k, v in STYLE_FIELDS.items())
    sheet = style_sheet(
        images, captions, title=f"qvae clock styles, {n} drawn at random (64x64, shown 3x). Fields (values): {fields}"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def run(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    ds = build_clock_dataset(
        args.train, args.val, args.test, size=args.size, seed=args.seed, num_styles=args.styles, heldout=args.heldout
    )
    save_atomic(ds, args.out)
    took = time.perf_counter() - start
    total = sum(len(s) for s in ds.values())
    print(
        f"wrote {total} clocks ({', '.join(f'{k} {len(v)}' for k, v in ds.items())}) to {args.out} "
        f"in {took:.1f}s ({total / took:.0f} clocks/s)"
    )
    if args.sheet:
        rows = ds["train"].select(range(min(32, len(ds["train"]))))
        captions = [caption_lines(r["hour"], r["minute"], {f: r[f] for f in STYLE_FIELDS}) for r in rows]
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        style_sheet(list(rows["image"]), captions).save(args.sheet)
        print(f"contact sheet: {args.sheet}")
