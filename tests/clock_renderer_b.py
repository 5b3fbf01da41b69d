"""A second clock renderer, written apart from ``shared/clocks.py`` (which it must not import).

It stands in for "another renderer's clocks": the folder a user would bring to
``qvae train --data DIR --conditions hour,minute``. Its look differs on purpose: faces
with a drop shadow or none at all, a bezel ring drawn as a thick outline, hue-picked colours
(HSV, not a named palette), hands as round-capped strokes, "sword" or "baton" polygons,
numerals at the four quarters only (or every hour in a bold serif), bar/dot indices,
antialiasing by Lanczos resampling from 3x. Labels are exact: hour 0..11 (or 1..12), minute 0..59.

    python tests/clock_renderer_b.py OUT --train 2000 --val 720 --test 720

writes ``OUT/{train,validation,test}/*.png`` with ``metadata.csv`` (``file_name,hour,minute``).
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import math
import random
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

SCALE = 3
LOOKS = ("minimal", "railway", "cardinal", "serif", "bezel")
FONT_FILES = ("DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf")


@lru_cache(maxsize=64)
def _font(bold_serif: bool, px: int) -> ImageFont.ImageFont:
    name = FONT_FILES[int(bold_serif)]
    for folder in ("/usr/share/fonts/truetype/dejavu/", ""):
        try:
            return ImageFont.truetype(folder + name, px)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=px)
    except TypeError:
        return ImageFont.load_default()


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _lum(c) -> float:
    return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255


def _polar(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    t = math.radians(deg)
    return cx + r * math.sin(t), cy - r * math.cos(t)


def _scheme(rng: random.Random) -> dict:
    """Colours picked in HSV: a face, an ink with a clear lightness gap, a backdrop and an accent."""
    hue = rng.random()
    dark_face = rng.random() < 0.35
    face = _hsv(hue, rng.uniform(0.0, 0.7), rng.uniform(0.08, 0.3) if dark_face else rng.uniform(0.8, 1.0))
    ink = _hsv(
        hue + rng.uniform(-0.1, 0.1),
        rng.uniform(0.0, 0.5),
        rng.uniform(0.85, 1.0) if dark_face else rng.uniform(0.0, 0.25),
    )
    backdrop = _hsv(rng.random(), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.95))
    accent = _hsv(hue + 0.5 + rng.uniform(-0.15, 0.15), 0.9, 0.95)
    return {"face": face, "ink": ink, "backdrop": backdrop, "accent": accent}


def _stroke(draw: ImageDraw.ImageDraw, a, b, width: float, color) -> None:
    """A line with round caps."""
    draw.line([a, b], fill=color, width=max(1, round(width)))
    r = width / 2
    for x, y in (a, b):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)


def _sword(draw: ImageDraw.ImageDraw, cx, cy, length, width, deg, color) -> None:
    """A hand widest a fifth of the way out, pointed at both ends."""
    t = math.radians(deg)
    ux, uy = math.sin(t), -math.cos(t)
    px, py = -uy, ux
    back = (cx - ux * length * 0.15, cy - uy * length * 0.15)
    wide = (cx + ux * length * 0.2, cy + uy * length * 0.2)
    tip = (cx + ux * length, cy + uy * length)
    draw.polygon(
        [back, (wide[0] + px * width, wide[1] + py * width), tip, (wide[0] - px * width, wide[1] - py * width)],
        fill=color,
    )


def draw_clock(hour: int, minute: int, size: int = 64, seed: int = 0) -> Image.Image:
    """One clock showing ``hour:minute`` in a look and colours drawn from ``seed``."""
    rng = random.Random(seed)
    look = rng.choice(LOOKS)
    col = _scheme(rng)
    big = size * SCALE
    cx = cy = big / 2 + rng.uniform(-0.03, 0.03) * big
    r = big * rng.uniform(0.38, 0.47)
    img = Image.new("RGB", (big, big), col["backdrop"])
    if look != "minimal" and rng.random() < 0.6:  # soft drop shadow
        shadow = Image.new("L", (big, big), 0)
        off = r * 0.06
        ImageDraw.Draw(shadow).ellipse([cx - r + off, cy - r + off, cx + r + off, cy + r + off], fill=120)
        shadow = shadow.filter(ImageFilter.GaussianBlur(r * 0.05))
        img.paste((0, 0, 0), (0, 0), shadow)
    draw = ImageDraw.Draw(img)
    if look == "minimal":  # no face, the backdrop is the dial: make the ink contrast with it
        col["face"] = col["backdrop"]
        col["ink"] = (15, 15, 15) if _lum(col["backdrop"]) > 0.5 else (240, 240, 240)
    else:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col["face"])
    if look == "bezel":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=col["ink"], width=max(2, round(r * 0.1)))
    ink = col["ink"]
    # indices
    for i in range(12):
        deg = i * 30
        if look in ("minimal", "bezel"):
            d = r * (0.045 if i % 3 else 0.07)
            x, y = _polar(cx, cy, r * 0.8, deg)
            draw.ellipse([x - d, y - d, x + d, y + d], fill=ink)
        elif look == "railway":
            w = r * (0.09 if i % 3 == 0 else 0.05)
            _stroke(draw, _polar(cx, cy, r * 0.72, deg), _polar(cx, cy, r * 0.9, deg), w, ink)
    if look == "railway":
        for i in range(60):
            if i % 5:
                draw.line(
                    [_polar(cx, cy, r * 0.86, i * 6), _polar(cx, cy, r * 0.92, i * 6)],
                    fill=ink,
                    width=max(1, round(r * 0.015)),
                )
    if look in ("cardinal", "serif"):
        numbers = (12, 3, 6, 9) if look == "cardinal" else tuple(range(1, 13))
        f = _font(look == "serif", max(8, round(r * (0.32 if look == "cardinal" else 0.2))))
        for n in numbers:
            x, y = _polar(cx, cy, r * (0.74 if look == "cardinal" else 0.8), (n % 12) * 30)
            draw.text((x, y), str(n), fill=ink, font=f, anchor="mm")
    # hands
    h_deg = (hour % 12) * 30 + minute * 0.5
    m_deg = minute * 6
    if look in ("railway", "bezel"):
        _sword(draw, cx, cy, r * 0.5, r * 0.085, h_deg, ink)
        _sword(draw, cx, cy, r * 0.82, r * 0.05, m_deg, ink)
    else:
        _stroke(draw, (cx, cy), _polar(cx, cy, r * 0.48, h_deg), r * 0.12, ink)
        _stroke(draw, (cx, cy), _polar(cx, cy, r * 0.8, m_deg), r * 0.06, ink)
    if rng.random() < 0.4:  # an accent seconds stroke
        s_deg = rng.uniform(0, 360)
        draw.line(
            [_polar(cx, cy, -r * 0.2, s_deg), _polar(cx, cy, r * 0.88, s_deg)],
            fill=col["accent"],
            width=max(1, round(r * 0.02)),
        )
    d = r * 0.05
    draw.ellipse([cx - d, cy - d, cx + d, cy + d], fill=col["accent"] if rng.random() < 0.5 else ink)
    return img.resize((size, size), Image.LANCZOS)


def write_clock_folder(
    out: str | Path,
    n_train: int,
    n_val: int,
    n_test: int,
    size: int = 64,
    seed: int = 0,
    twelve: bool = False,
    draw=draw_clock,
) -> Path:
    """Write ``out/{train,validation,test}/`` of PNGs, each with ``metadata.csv`` (file_name,hour,minute).

    Times cycle through all 720 in a seeded order (every time appears once a split has 720). Hours
    are labelled 0..11, or with ``twelve`` 1..12 as the face reads them (12:15, not 0:15). ``draw``:
    the renderer, ``draw(hour, minute, size=, seed=) -> PIL image`` (this one's by default).
    """
    out = Path(out)
    for k, (split, n) in enumerate((("train", n_train), ("validation", n_val), ("test", n_test))):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed * 7919 + k)
        times = []
        while len(times) < n:
            block = list(range(720))
            rng.shuffle(block)
            times += block
        with open(folder / "metadata.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", "hour", "minute"])
            for i, t in enumerate(times[:n]):
                name = f"clock_{i:06d}.png"
                draw(t // 60, t % 60, size=size, seed=rng.randrange(2**31)).save(folder / name)
                writer.writerow([name, (t // 60 or 12) if twelve else t // 60, t % 60])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--val", type=int, default=720)
    p.add_argument("--test", type=int, default=720)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--twelve", action="store_true", help="label the hours 1..12 (12:15, not 0:15)")
    a = p.parse_args()
    print(write_clock_folder(a.out, a.train, a.val, a.test, a.size, a.seed, a.twelve))
