r"""A third clock renderer, written apart from ``shared/clocks.py`` and ``clock_renderer_b.py``.

A second stand-in for "another renderer's clocks", further from ours than renderer B: wide
pictures (a desk clock in a scene, 6:5), not square; a wallpaper behind it (a gradient,
stripes or checks); cases that are round, rounded squares or octagons, with a metallic rim;
a dial of 60 minute dots and 12 bars, roman numerals, or a bare ring; hands that are arrows,
spades or thin needles with a counterweight, the hour hand sometimes in another colour from
the minute hand; a date window at three o'clock and a glare over the glass as distractors;
antialiasing by box-filtering from 4x. Labels are exact: hour 0..11, minute 0..59.

    python -c "import sys; sys.path.insert(0, 'tests'); from clock_renderer_b import write_clock_folder; \
        from clock_renderer_c import draw_clock; write_clock_folder('OUT', 20000, 720, 720, 80, draw=draw_clock)"

writes ``OUT/{train,validation,test}/*.png`` (``6/5 * 80`` x ``80``) with ``metadata.csv``
(``file_name,hour,minute``), through renderer B's folder writer.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

SUPERSAMPLE = 4
WALLS = ("gradient", "stripes", "checks")
CASES = ("round", "rounded", "octagon")
DIALS = ("dots", "roman", "ring")
HANDS = ("arrow", "spade", "needle")
ROMAN = ("XII", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI")


@lru_cache(maxsize=32)
def _font(px: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", px)
    except OSError:
        try:
            return ImageFont.load_default(size=px)
        except TypeError:
            return ImageFont.load_default()


def _rgb(rng: random.Random, light: bool) -> tuple[int, int, int]:
    """A colour whose every channel is light (150..255) or dark (0..90)."""
    lo, hi = (150, 255) if light else (0, 90)
    return tuple(rng.randint(lo, hi) for _ in range(3))


def _point(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    return cx + r * math.sin(math.radians(deg)), cy - r * math.cos(math.radians(deg))


def _wall(rng: random.Random, w: int, h: int) -> Image.Image:
    a, b = _rgb(rng, rng.random() < 0.5), _rgb(rng, rng.random() < 0.5)
    kind = rng.choice(WALLS)
    img = Image.new("RGB", (w, h), a)
    draw = ImageDraw.Draw(img)
    if kind == "gradient":
        for y in range(h):
            t = y / (h - 1)
            draw.line([(0, y), (w, y)], fill=tuple(round(p + (q - p) * t) for p, q in zip(a, b)))
    elif kind == "stripes":
        step = rng.randint(h // 12, h // 5)
        for x in range(-h, w, 2 * step):  # diagonal bands
            draw.polygon([(x, h), (x + step, h), (x + step + h, 0), (x + h, 0)], fill=b)
    else:
        step = rng.randint(h // 10, h // 4)
        for y in range(0, h, step):
            for x in range((y // step) % 2 * step, w, 2 * step):
                draw.rectangle([x, y, x + step - 1, y + step - 1], fill=b)
    return img


def _case(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill, outline, width: int) -> None:
    if kind == "round":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width)
    elif kind == "rounded":
        draw.rounded_rectangle([cx - r, cy - r, cx + r, cy + r], r * 0.35, fill=fill, outline=outline, width=width)
    else:
        corners = [_point(cx, cy, r / math.cos(math.radians(22.5)), 22.5 + 45 * i) for i in range(8)]
        draw.polygon(corners, fill=fill, outline=outline, width=width)


def _hand(draw: ImageDraw.ImageDraw, kind: str, cx, cy, length, width, deg, color) -> None:
    tip = _point(cx, cy, length, deg)
    if kind == "needle":  # thin, with a round counterweight behind the centre
        draw.line([_point(cx, cy, -length * 0.25, deg), tip], fill=color, width=max(1, round(width * 0.6)))
        q = _point(cx, cy, -length * 0.2, deg)
        d = width * 1.1
        draw.ellipse([q[0] - d, q[1] - d, q[0] + d, q[1] + d], fill=color)
        return
    neck = _point(cx, cy, length * (0.78 if kind == "arrow" else 0.7), deg)
    draw.line([(cx, cy), neck], fill=color, width=max(1, round(width)))
    side = width * (1.4 if kind == "arrow" else 1.1)
    left, right = _point(*neck, side, deg - 90), _point(*neck, side, deg + 90)
    if kind == "arrow":
        draw.polygon([left, tip, right], fill=color)
    else:  # a spade: a diamond on the shaft, the tip beyond it
        back = _point(cx, cy, length * 0.55, deg)
        draw.polygon([back, left, tip, right], fill=color)


def draw_clock(hour: int, minute: int, size: int = 80, seed: int = 0) -> Image.Image:
    """One clock showing ``hour:minute``, ``6/5 * size`` wide and ``size`` high, its look drawn from ``seed``."""
    rng = random.Random(seed)
    w, h = round(size * 1.2) * SUPERSAMPLE, size * SUPERSAMPLE
    img = _wall(rng, w, h)
    draw = ImageDraw.Draw(img)
    cx, cy = w / 2 + rng.uniform(-0.04, 0.04) * w, h / 2 + rng.uniform(-0.03, 0.03) * h
    r = h * rng.uniform(0.36, 0.44)
    light_face = rng.random() < 0.7
    face, ink = _rgb(rng, light_face), _rgb(rng, not light_face)
    metal = rng.choice(((192, 192, 200), (205, 170, 90), (120, 120, 128), (40, 40, 44)))
    case = rng.choice(CASES)
    _case(draw, case, cx, cy, r * 1.08, metal, None, 0)
    _case(draw, case, cx, cy, r, face, None, 0)
    dial = rng.choice(DIALS)
    if dial == "dots":
        for i in range(60):
            x, y = _point(cx, cy, r * 0.88, i * 6)
            if i % 5:
                d = r * 0.018
                draw.ellipse([x - d, y - d, x + d, y + d], fill=ink)
            else:
                draw.line([_point(cx, cy, r * 0.74, i * 6), (x, y)], fill=ink, width=max(1, round(r * 0.06)))
    elif dial == "roman":
        f = _font(max(6, round(r * 0.2)))
        for i, numeral in enumerate(ROMAN):
            draw.text(_point(cx, cy, r * 0.78, i * 30), numeral, fill=ink, font=f, anchor="mm")
    else:
        draw.ellipse(
            [cx - r * 0.9, cy - r * 0.9, cx + r * 0.9, cy + r * 0.9], outline=ink, width=max(1, round(r * 0.03))
        )
    if rng.random() < 0.4:  # a date window at three o'clock
        x, y = _point(cx, cy, r * 0.55, 90)
        draw.rectangle([x - r * 0.12, y - r * 0.08, x + r * 0.12, y + r * 0.08], fill=(250, 250, 250), outline=ink)
        draw.text((x, y), str(rng.randint(1, 31)), fill=(20, 20, 20), font=_font(max(6, round(r * 0.12))), anchor="mm")
    kind = rng.choice(HANDS)
    hour_ink = ink if rng.random() < 0.6 else _rgb(rng, not light_face)
    _hand(draw, kind, cx, cy, r * 0.52, r * 0.07, (hour % 12) * 30 + minute / 2, hour_ink)
    _hand(draw, kind, cx, cy, r * 0.84, r * 0.045, minute * 6, ink)
    d = r * 0.06
    draw.ellipse([cx - d, cy - d, cx + d, cy + d], fill=metal)
    if rng.random() < 0.5:  # a glare over the glass, top left
        glare = Image.new("L", (w, h), 0)
        ImageDraw.Draw(glare).ellipse([cx - r * 0.8, cy - r * 0.85, cx + r * 0.1, cy - r * 0.2], fill=60)
        img.paste((255, 255, 255), (0, 0), glare)
    return img.resize((w // SUPERSAMPLE, h // SUPERSAMPLE), Image.BOX)
