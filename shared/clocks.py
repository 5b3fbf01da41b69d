"""Analog clock faces with exact labels, in many labelled styles, deterministic per seed.

Every attribute the renderer varies on purpose is a named categorical field with a fixed,
ordered list of values (:data:`STYLE_FIELDS`, human words: ``face_color="red"``,
``shape="square"``, ``numerals="roman"``). A :class:`ClockStyle` carries its words in
``.labels``; the continuous parts (the exact colours, hand lengths and widths, the face size,
rim width, hand tails) are jittered from the seed around them:

- colours are jittered anywhere inside the named colour's cell of RGB: the drawn colour
  stays closer to its name than to any other name of its palette (in CIE L*a*b*), so
  colours spread over the RGB cube and the word stays true;
- the hands (and the numerals and ticks) always contrast with the face: a hand colour is
  only drawn on faces where its WCAG contrast ratio is at least :data:`MIN_HAND_CONTRAST`,
  on the jittered colours too (see :func:`contrast`);
- the background colour differs from the face colour, so the case shape stays visible.

A clock is drawn at 4x its size and box-filtered down, which antialiases the hands.
Hands are kept apart by construction so they stay readable at 64x64: the hour hand is
always short and thick, the minute hand long and at most ~60% as wide, and the optional
second hand is hair-thin, longer than both and in a colour of its own.

One region of the style space, :data:`HELD_OUT_STYLE`, is kept out of the default training
data (:func:`is_held_out`) so that generalization to unseen styles can be measured.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from PIL import Image, ImageDraw

from shared.images import font

RGB = tuple[int, int, int]
SUPERSAMPLE = 4
ROMAN = ["XII", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI"]

# Named colours of faces and backgrounds. The drawn colour is jittered inside its name's cell.
PALETTE: dict[str, RGB] = {
    "white": (245, 245, 245),
    "cream": (240, 228, 190),
    "grey": (150, 150, 150),
    "black": (25, 25, 25),
    "red": (200, 35, 35),
    "orange": (240, 130, 30),
    "yellow": (245, 215, 50),
    "green": (50, 150, 60),
    "teal": (20, 140, 140),
    "blue": (40, 90, 200),
    "navy": (30, 40, 110),
    "sky": (125, 185, 235),
    "lime": (165, 210, 55),
    "purple": (120, 50, 160),
    "pink": (240, 150, 190),
    "brown": (120, 75, 35),
}
ACHROMATIC = ("white", "grey", "black")  # drawn with little colour (chroma <= MAX_GREY_CHROMA)
# Named colours of the hands (and, among them, of the numerals and ticks).
HAND_PALETTE: dict[str, RGB] = dict(
    black=(20, 20, 20), white=(250, 250, 250), navy=(25, 35, 100), red=(185, 20, 30), yellow=(250, 210, 40)
)
# Thin second hands: bright accents, the one used is the best contrast that is not the hands' colour.
ACCENTS: tuple[RGB, ...] = ((225, 30, 30), (245, 125, 15), (210, 30, 150), (20, 170, 215), (250, 225, 0), (40, 185, 70))

STYLE_FIELDS: dict[str, tuple[str, ...]] = {
    "face_color": tuple(PALETTE),
    "shape": ("round", "square", "rounded", "octagon", "hexagon"),
    "numerals": ("arabic", "roman", "none"),
    "ticks": ("none", "hours", "minutes", "dots"),
    "hand_color": tuple(HAND_PALETTE),
    "hand_shape": ("flat", "round", "arrow", "taper", "diamond"),
    "rim": ("none", "thin", "thick"),
    "background_color": tuple(PALETTE),
    "background_style": ("plain", "gradient", "stripes", "dots", "checker"),
    "second_hand": ("no", "yes"),
}
"""Every labelled style field and its values, in a fixed order (the order of the labels too)."""

CLOCK_FIELDS = {"hour": range(12), "minute": range(60), **STYLE_FIELDS}
"""Every field a clock prompt can name: the time and the style fields (for ``shared.prompts.parse_prompt``)."""

HELD_OUT_STYLE: dict[str, str] = {"shape": "octagon", "face_color": "teal"}
"""The region of the style space kept out of the default training and validation data."""

MIN_HAND_CONTRAST = 3.5  # WCAG contrast ratio, hands / numerals / ticks against the face
COLOR_JITTER = 110  # at most this far from the named colour on each RGB axis, and
MAX_DELTA_E = {"cream": 20}  # at most this far in L*a*b* from the name (default below):
DEFAULT_DELTA_E = 30  # with 16 names, 73% of the RGB cube is in reach of some name
MAX_GREY_CHROMA = 16
RIM_WIDTHS = {"none": (0.0, 0.0), "thin": (0.035, 0.055), "thick": (0.085, 0.12)}


_LINEAR = [v / 255 / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)]


def _luminance(c: RGB) -> float:
    return 0.2126 * _LINEAR[c[0]] + 0.7152 * _LINEAR[c[1]] + 0.0722 * _LINEAR[c[2]]


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours: 1 (same luminance) .. 21 (black on white)."""
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _lab(c: RGB) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour, where distances roughly follow perceived difference."""
    r, g, b = _LINEAR[c[0]], _LINEAR[c[1]], _LINEAR[c[2]]
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


_PALETTE_LAB = [(n, _lab(rgb)) for n, rgb in PALETTE.items()]
_HAND_LAB = [(n, _lab(rgb)) for n, rgb in HAND_PALETTE.items()]


def nearest_name(color: RGB, palette: dict[str, RGB] = PALETTE) -> str:
    """The name in ``palette`` whose colour is nearest to ``color`` (CIE76 distance in L*a*b*)."""
    l0, a0, b0 = _lab(color)
    best, best_d = "", float("inf")
    labs = (
        _PALETTE_LAB
        if palette is PALETTE
        else _HAND_LAB
        if palette is HAND_PALETTE
        else [(n, _lab(rgb)) for n, rgb in palette.items()]
    )
    for name, (l1, a1, b1) in labs:
        d = (l0 - l1) ** 2 + (a0 - a1) ** 2 + (b0 - b1) ** 2
        if d < best_d:
            best, best_d = name, d
    return best


@cache
def hand_colors_for(face_color: str) -> tuple[str, ...]:
    """The hand colours drawn on a face of this colour (contrast >= MIN_HAND_CONTRAST)."""
    return tuple(h for h, rgb in HAND_PALETTE.items() if contrast(rgb, PALETTE[face_color]) >= MIN_HAND_CONTRAST)


@dataclass(frozen=True)
class Hand:
    """One hand; lengths and widths are fractions of the face radius."""

    length: float
    width: float
    color: RGB
    tip: str = "flat"
    tail: float = 0.0


@dataclass(frozen=True)
class ClockStyle:
    """A drawn style: its words (``labels``) and the exact geometry and colours behind them."""

    fields: tuple[tuple[str, str], ...]  # (field, value) in STYLE_FIELDS order
    background: RGB
    background2: RGB  # the second colour of a gradient or pattern
    face: RGB
    rim: RGB
    rim_width: float  # fraction of the radius; 0 draws no rim
    mark_color: RGB
    hour_hand: Hand
    minute_hand: Hand
    second_hand: Hand | None
    radius: float = 0.92  # face radius (inscribed circle) as a fraction of half the image
    numeral_scale: float = 1.0
    pattern: float = 0.0  # pattern period / gradient direction, from the seed

    @property
    def labels(self) -> dict[str, str]:
        """The style's words, one per field of :data:`STYLE_FIELDS`."""
        return dict(self.fields)

    def __getattr__(self, name: str) -> str:  # style.shape, style.numerals, ...
        if name in STYLE_FIELDS:
            return dict(self.fields)[name]
        raise AttributeError(name)


def _check(field: str, value: str) -> None:
    if field not in STYLE_FIELDS:
        raise ValueError(f"unknown style field {field!r}; the fields are {', '.join(STYLE_FIELDS)}")
    if value not in STYLE_FIELDS[field]:
        raise ValueError(f"unknown {field} {value!r}; accepted: {', '.join(STYLE_FIELDS[field])}")


LATTICE_STEP = 5  # jittered colours are drawn from the RGB lattice of this step (0, 5, .., 255)


def _lab_array(rgb: np.ndarray) -> np.ndarray:
    """:func:`_lab` for an ``[N, 3]`` uint8 array."""
    lin = np.asarray(_LINEAR)[rgb]
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


@lru_cache(maxsize=2)
def _lattice(hands: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The RGB lattice, its L*a*b*, the index of each colour's nearest name and the distance to it."""
    palette = HAND_PALETTE if hands else PALETTE
    levels = np.unique(np.r_[np.arange(0, 256, LATTICE_STEP), 255]).astype(np.uint8)
    rgb = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _lab_array(rgb).astype(np.float32)
    names = _lab_array(np.array(list(palette.values()), dtype=np.uint8)).astype(np.float32)
    dist = ((lab[:, None, :] - names[None]) ** 2).sum(-1)
    nearest = np.argmin(dist, 1)
    return rgb, lab, nearest, np.sqrt(dist[np.arange(len(rgb)), nearest])


@cache
def _cell(hands: bool, name: str, spread: int) -> np.ndarray:
    """The lattice colours within ``spread`` of ``name`` on each axis that are nearest to it
    (and, for faces and backgrounds, within MAX_DELTA_E of it; greys with little chroma)."""
    palette = HAND_PALETTE if hands else PALETTE
    rgb, lab, nearest, dist = _lattice(hands)
    keep = (nearest == list(palette).index(name)) & (np.abs(rgb.astype(int) - palette[name]).max(1) <= spread)
    if not hands:
        keep &= dist <= MAX_DELTA_E.get(name, DEFAULT_DELTA_E)
        if name in ACHROMATIC:
            keep &= np.hypot(lab[:, 1], lab[:, 2]) <= MAX_GREY_CHROMA
    return rgb[keep] if keep.any() else np.array([palette[name]], dtype=np.uint8)


def _jitter(rng: random.Random, name: str, palette: dict[str, RGB], spread: int) -> RGB:
    """A colour near ``palette[name]`` that is still nearer to it than to any other name."""
    cell = _cell(palette is HAND_PALETTE, name, spread)
    r, g, b = cell[rng.randrange(len(cell))].tolist()
    return r, g, b


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def random_style(seed: int | None = None, **fixed: str) -> ClockStyle:
    """Draw a style from ``seed``: every field uniformly from its values, then the jitter.

    Keyword arguments fix fields: ``random_style(3, face_color="red", shape="square")``.
    The hand colour is drawn among those that contrast with the face (and the face among
    those that contrast with a fixed hand colour); the background colour differs from the
    face colour unless both are fixed. An unknown field or value, or a fixed face and hand
    colour without contrast, is a ``ValueError`` that lists what is accepted.
    """
    for field, value in fixed.items():
        _check(field, value)
    rng = random.Random(seed)
    labels: dict[str, str] = {}
    hand_fixed = fixed.get("hand_color")
    bg_fixed = fixed.get("background_color")
    for field, values in STYLE_FIELDS.items():
        if field in fixed:
            labels[field] = fixed[field]
            continue
        if field == "face_color":
            values = tuple(
                v for v in values if v != bg_fixed and (hand_fixed is None or hand_fixed in hand_colors_for(v))
            )
            if not values:  # only when the fixed background is the one face the hand colour suits
                values = tuple(v for v in STYLE_FIELDS[field] if hand_fixed in hand_colors_for(v))
        elif field == "hand_color":
            values = hand_colors_for(labels["face_color"])
        elif field == "background_color":
            values = tuple(v for v in values if v != labels["face_color"])
        labels[field] = rng.choice(values)
    if labels["hand_color"] not in hand_colors_for(labels["face_color"]):
        raise ValueError(
            f"hand_color {labels['hand_color']!r} lacks contrast on a {labels['face_color']!r} face; "
            f"accepted with face_color={labels['face_color']!r}: "
            f"{', '.join(hand_colors_for(labels['face_color']))}"
        )

    hand_rgb = _jitter(rng, labels["hand_color"], HAND_PALETTE, 25)
    face = PALETTE[labels["face_color"]]
    for _ in range(20):
        face = _jitter(rng, labels["face_color"], PALETTE, COLOR_JITTER)
        if contrast(face, hand_rgb) >= MIN_HAND_CONTRAST:
            break
    else:
        face, hand_rgb = PALETTE[labels["face_color"]], HAND_PALETTE[labels["hand_color"]]
    # numerals and ticks: the hands' colour or another one that contrasts with the face
    inks = [h for h in hand_colors_for(labels["face_color"]) if contrast(HAND_PALETTE[h], face) >= MIN_HAND_CONTRAST]
    mark = hand_rgb if rng.random() < 0.6 or not inks else _jitter(rng, rng.choice(inks), HAND_PALETTE, 20)
    if contrast(mark, face) < MIN_HAND_CONTRAST:
        mark = hand_rgb
    background = _jitter(rng, labels["background_color"], PALETTE, COLOR_JITTER)
    toward = (255, 255, 255) if _luminance(background) < 0.35 else (0, 0, 0)
    background2 = _mix(background, toward, rng.uniform(0.18, 0.32))
    rim_name = rng.choice([n for n in (*PALETTE, *HAND_PALETTE) if n != labels["face_color"]])
    rim = _jitter(rng, rim_name, PALETTE if rim_name in PALETTE else HAND_PALETTE, 40)

    tip = labels["hand_shape"]
    tail = rng.choice([0.0, rng.uniform(0.1, 0.2)])
    hour_w = rng.uniform(0.1, 0.16)
    hour = Hand(rng.uniform(0.44, 0.56), hour_w, hand_rgb, tip, tail)
    minute = Hand(rng.uniform(0.74, 0.88), hour_w * rng.uniform(0.42, 0.6), hand_rgb, tip, tail)
    second = None
    if labels["second_hand"] == "yes":
        others = [a for a in ACCENTS if sum(abs(x - y) for x, y in zip(a, hand_rgb)) > 150]
        best = sorted(others, key=lambda a: -contrast(a, face))[:3]
        second = Hand(
            rng.uniform(0.9, 0.96), rng.uniform(0.02, 0.03), rng.choice(best), "flat", rng.uniform(0.12, 0.22)
        )
    lo, hi = RIM_WIDTHS[labels["rim"]]
    return ClockStyle(
        fields=tuple((f, labels[f]) for f in STYLE_FIELDS),
        background=background,
        background2=background2,
        face=face,
        rim=rim,
        rim_width=rng.uniform(lo, hi),
        mark_color=mark,
        hour_hand=hour,
        minute_hand=minute,
        second_hand=second,
        radius=rng.uniform(0.84, 0.95),
        numeral_scale=rng.uniform(0.85, 1.1),
        pattern=rng.random(),
    )


def is_held_out(style: ClockStyle | dict[str, str]) -> bool:
    """Whether a style (or its labels) lies in the region held out of the default data."""
    labels = style.labels if isinstance(style, ClockStyle) else style
    return all(labels.get(k) == v for k, v in HELD_OUT_STYLE.items())


def style_phrase(labels: dict[str, str]) -> str:
    """Every style field of ``labels`` in words, as a prompt would ask for them: "a red square
    clock, roman numerals, dots ticks, navy hands, arrow hands, thin rim, blue background,
    stripes background, with a seconds hand" (``shared.prompts.parse_prompt`` reads it back)."""
    missing = [k for k in STYLE_FIELDS if k not in labels]
    if missing:
        raise ValueError(
            f"no {', '.join(missing)} in the labels; a style phrase names every one of {list(STYLE_FIELDS)}"
        )
    w = {k: labels[k] for k in STYLE_FIELDS}
    seconds = "with a seconds hand" if w["second_hand"] == "yes" else "no seconds hand"
    return (
        f"a {w['face_color']} {w['shape']} clock, {w['numerals']} numerals, {w['ticks']} ticks, "
        f"{w['hand_color']} hands, {w['hand_shape']} hands, {w['rim']} rim, {w['background_color']} background, "
        f"{w['background_style']} background, {seconds}"
    )


def hand_angles(hour: int, minute: int, second: float = 0.0) -> tuple[float, float]:
    """Angles in degrees clockwise from 12 of the hour and minute hands.

    The hour hand moves with the minutes, as on a real clock: 3:30 sits halfway
    between 3 and 4.
    """
    return (hour % 12) * 30.0 + minute * 0.5 + second / 120.0, minute * 6.0 + second / 10.0


def _point(c: float, r: float, angle: float) -> tuple[float, float]:
    a = math.radians(angle)
    return c + r * math.sin(a), c - r * math.cos(a)


# ---- case shapes: the face is described by its apothem ``a`` (the inscribed circle's radius)

# A `round` hand ends in a ball this many times the hand's half-width (at least BALL_TIP_MIN of the
# face's radius): a cap of the hand's own width vanished in the downscale (readers took round for
# flat one time in five, benchmarks/RESULTS.md "Clock reader").
BALL_TIP, BALL_TIP_MIN = 2.0, 0.035
ROUNDED_CORNER = 0.35  # corner radius of the rounded square, a fraction of the apothem
POLYGON_SIDES = {"octagon": 8, "hexagon": 6}
SHAPE_SCALE = {"hexagon": 0.9}  # the hexagon's corners reach 1.15 a: shrink it to fit the image


def _boundary(shape: str, a: float, angle: float) -> float:
    """Distance from the centre to the edge of a face of apothem ``a`` along a clock angle."""
    if shape == "round":
        return a
    t = math.radians(angle)
    ux, uy = math.sin(t), math.cos(t)
    if shape in ("square", "rounded"):
        d = a / max(abs(ux), abs(uy))
        if shape == "rounded":
            inner = a * (1 - ROUNDED_CORNER)
            px, py = abs(ux) * d, abs(uy) * d
            if px > inner and py > inner:  # in a corner: meet the corner circle instead
                ax, ay = abs(ux), abs(uy)
                b = ax * inner + ay * inner
                disc = b * b - (2 * inner * inner - (a * ROUNDED_CORNER) ** 2)
                d = b + math.sqrt(max(0.0, disc))
        return d
    sector = 360 / POLYGON_SIDES[shape]
    delta = (angle + sector / 2) % sector - sector / 2  # flat sides face 12, 3, 6, 9 (octagon)
    return a / math.cos(math.radians(delta))


def _draw_face(draw: ImageDraw.ImageDraw, shape: str, c: float, a: float, fill: RGB) -> None:
    if shape == "round":
        draw.ellipse([c - a, c - a, c + a, c + a], fill=fill)
    elif shape == "square":
        draw.rectangle([c - a, c - a, c + a, c + a], fill=fill)
    elif shape == "rounded":
        draw.rounded_rectangle([c - a, c - a, c + a, c + a], radius=a * ROUNDED_CORNER, fill=fill)
    else:
        n = POLYGON_SIDES[shape]
        r = a / math.cos(math.pi / n)
        draw.polygon([_point(c, r, 180 / n + k * 360 / n) for k in range(n)], fill=fill)


def _draw_background(img: Image.Image, style: ClockStyle) -> None:
    kind = style.background_style
    if kind == "plain":
        return
    big = img.width
    if kind == "gradient":
        mask = Image.linear_gradient("L").resize((big, big))
        if style.pattern < 0.5:
            mask = mask.transpose(Image.Transpose.ROTATE_90)
        img.paste(Image.new("RGB", (big, big), style.background2), (0, 0), mask)
        return
    cells = 6 + int(style.pattern * 6)  # pattern period: 6..11 cells across
    if kind == "checker":
        tile = Image.new("RGB", (cells, cells), style.background)
        tile.putdata(
            [style.background2 if (i // cells + i % cells) % 2 else style.background for i in range(cells * cells)]
        )
        img.paste(tile.resize((big, big), Image.NEAREST))
        return
    draw = ImageDraw.Draw(img)
    step = big / cells
    if kind == "stripes":
        w = step / 2
        for k in range(-cells, 2 * cells + 1):  # diagonal stripes
            x = k * step
            draw.polygon([(x, 0), (x + w, 0), (x + w - big, big), (x - big, big)], fill=style.background2)
    else:  # dots
        r = step * 0.22
        for i in range(cells):
            for j in range(cells):
                x, y = (i + 0.5) * step, (j + 0.5) * step
                draw.ellipse([x - r, y - r, x + r, y + r], fill=style.background2)


def _draw_hand(draw: ImageDraw.ImageDraw, c: float, radius: float, angle: float, hand: Hand) -> None:
    a = math.radians(angle)
    ux, uy = math.sin(a), -math.cos(a)  # along the hand
    px, py = -uy, ux  # across it
    half = hand.width * radius / 2
    length = hand.length * radius
    base = (c - ux * hand.tail * radius, c - uy * hand.tail * radius)
    tip = (c + ux * length, c + uy * length)
    if hand.tip == "diamond":  # a lozenge, widest a third of the way out
        mid = (c + ux * length * 0.25, c + uy * length * 0.25)
        w = half * 1.2
        draw.polygon(
            [base, (mid[0] + px * w, mid[1] + py * w), tip, (mid[0] - px * w, mid[1] - py * w)], fill=hand.color
        )
        draw.line([base, (c, c)], fill=hand.color, width=max(1, round(half)))
        return
    ball = max(half * BALL_TIP, BALL_TIP_MIN * radius) if hand.tip == "round" else 0.0  # the tip's radius
    body = length - ball if hand.tip in ("flat", "round") else length * 0.8
    neck = (c + ux * body, c + uy * body)
    if hand.tip == "taper":
        poly = [
            (base[0] + px * half, base[1] + py * half),
            (base[0] - px * half, base[1] - py * half),
            (neck[0] - px * half * 0.6, neck[1] - py * half * 0.6),
            tip,
            (neck[0] + px * half * 0.6, neck[1] + py * half * 0.6),
        ]
        draw.polygon(poly, fill=hand.color)
        return
    draw.polygon(
        [
            (base[0] + px * half, base[1] + py * half),
            (base[0] - px * half, base[1] - py * half),
            (neck[0] - px * half, neck[1] - py * half),
            (neck[0] + px * half, neck[1] + py * half),
        ],
        fill=hand.color,
    )
    if hand.tip == "round":  # a ball clearly wider than the hand, ending where the hand ends
        draw.ellipse([neck[0] - ball, neck[1] - ball, neck[0] + ball, neck[1] + ball], fill=hand.color)
    elif hand.tip == "arrow":
        w = half * 2.0
        draw.polygon([(neck[0] + px * w, neck[1] + py * w), tip, (neck[0] - px * w, neck[1] - py * w)], fill=hand.color)


@lru_cache(maxsize=1024)
def _glyph(text: str, size: int) -> tuple[Image.Image, int, int]:
    """``text`` rasterized once as a mask, with its offset from the centre (FreeType is slow)."""
    f = font(size)
    left, top, right, bottom = f.getbbox(text, anchor="mm")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=f, anchor="mm")
    return mask, left, top


def _draw_marks(draw: ImageDraw.ImageDraw, c: float, a: float, style: ClockStyle) -> None:
    """Ticks and numerals, placed along the face's own edge (inside the rim)."""
    shape, ticks, numerals = style.shape, style.ticks, style.numerals
    inner = a * (1 - style.rim_width)
    edge = [_boundary(shape, inner, i * 6) for i in range(60)]
    ink = style.mark_color
    gap = a * 0.04
    if ticks == "minutes":
        for i in range(60):
            if i % 5:
                draw.line(
                    [_point(c, edge[i] - gap - a * 0.07, i * 6), _point(c, edge[i] - gap, i * 6)],
                    fill=ink,
                    width=max(1, round(a * 0.02)),
                )
    if ticks in ("hours", "minutes"):
        for i in range(0, 60, 5):
            major = i % 15 == 0
            length = a * (0.16 if major else 0.11)
            draw.line(
                [_point(c, edge[i] - gap - length, i * 6), _point(c, edge[i] - gap, i * 6)],
                fill=ink,
                width=max(1, round(a * (0.065 if major else 0.04))),
            )
    elif ticks == "dots":
        for i in range(0, 60, 5):
            r = a * (0.06 if i % 15 == 0 else 0.04)
            x, y = _point(c, edge[i] - gap - a * 0.06, i * 6)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=ink)
    if numerals == "none":
        return
    size = a * style.numeral_scale * (0.25 if numerals == "arabic" else 0.18)
    inset = a * (0.28 if ticks != "none" else 0.16) + size * 0.2
    for i in range(12):
        text = str(i or 12) if numerals == "arabic" else ROMAN[i]
        x, y = _point(c, edge[i * 5] - inset, i * 30)
        mask, left, top = _glyph(text, max(8, round(size)))
        draw.bitmap((round(x) + left, round(y) + top), mask, fill=ink)


def render_clock(
    hour: int, minute: int, style: ClockStyle | int | None = None, size: int = 64, seed: int | None = None
) -> Image.Image:
    """Draw an analog clock showing ``hour:minute`` as an RGB PIL image of ``size`` x ``size``.

    ``hour`` is read on the 12-hour dial (0..23 accepted, 12 and 0 are the same),
    ``minute`` is 0..59. ``style`` is a :class:`ClockStyle`, a style seed, or ``None`` to
    draw one from ``seed``. ``seed`` also places the second hand, where the style has one.
    """
    if not (isinstance(hour, int) and 0 <= hour <= 23):
        raise ValueError(f"hour must be an integer in 0..23, got {hour!r}")
    if not (isinstance(minute, int) and 0 <= minute <= 59):
        raise ValueError(f"minute must be an integer in 0..59, got {minute!r}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if style is None or isinstance(style, int):
        style = random_style(seed if style is None else style)
    big = size * SUPERSAMPLE
    c = big / 2
    a = c * style.radius * SHAPE_SCALE.get(style.shape, 1.0)
    img = Image.new("RGB", (big, big), style.background)
    _draw_background(img, style)
    draw = ImageDraw.Draw(img)
    if style.rim_width:
        _draw_face(draw, style.shape, c, a, style.rim)
    _draw_face(draw, style.shape, c, a * (1 - style.rim_width), style.face)
    _draw_marks(draw, c, a, style)
    hour_angle, minute_angle = hand_angles(hour, minute)
    _draw_hand(draw, c, a, hour_angle, style.hour_hand)
    _draw_hand(draw, c, a, minute_angle, style.minute_hand)
    cap = style.hour_hand.width * a * 0.75
    draw.ellipse([c - cap, c - cap, c + cap, c + cap], fill=style.hour_hand.color)
    if style.second_hand is not None:
        _draw_hand(draw, c, a, random.Random(seed).uniform(0, 360), style.second_hand)
    return img.reduce(SUPERSAMPLE)
