"""Analog clock faces with exact labels, in many styles, deterministic per seed.

A clock is drawn at 4x its size and box-filtered down, which antialiases the hands.
Hands are kept apart by construction so they stay readable at 64x64: the hour hand is
always short and thick, the minute hand long and at most ~60% as wide, and the optional
second hand is hair-thin, longer than both and in a colour of its own.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from shared.images import font

RGB = tuple[int, int, int]
SUPERSAMPLE = 4
ROMAN = ["XII", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI"]
MARKS = ("arabic", "roman", "ticks", "plain")
TIPS = ("flat", "round", "arrow", "taper")

LIGHT = [(250, 250, 250), (245, 240, 225), (255, 248, 220), (235, 242, 250), (240, 250, 240),
         (250, 235, 235), (225, 225, 230), (255, 255, 240)]
DARK = [(20, 20, 20), (25, 35, 70), (110, 20, 25), (20, 70, 40), (70, 45, 25), (60, 60, 65),
        (45, 25, 80)]
BACKGROUNDS = [(255, 255, 255), (200, 210, 225), (60, 60, 70), (225, 215, 195), (190, 225, 205),
               (30, 40, 60), (240, 200, 180), (170, 170, 175)]
ACCENTS = [(220, 30, 30), (235, 120, 20), (200, 30, 140), (20, 160, 200)]


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
    background: RGB
    face: RGB
    rim: RGB
    rim_width: float  # fraction of the radius; 0 draws no rim
    marks: str  # one of MARKS
    mark_color: RGB
    minute_ticks: bool
    hour_hand: Hand
    minute_hand: Hand
    second_hand: Hand | None
    radius: float = 0.92  # face radius as a fraction of half the image


def random_style(seed: int | None = None) -> ClockStyle:
    """Draw a style from ``seed``: colours, numerals/ticks/plain, hand shapes, rim."""
    rng = random.Random(seed)
    dark_face = rng.random() < 0.2
    face = rng.choice(DARK if dark_face else LIGHT)
    ink = LIGHT if dark_face else DARK
    hand_color = rng.choice(ink)
    minute_color = hand_color if rng.random() < 0.6 else rng.choice(ink)
    hour_w = rng.uniform(0.11, 0.15)
    hour = Hand(rng.uniform(0.46, 0.56), hour_w, hand_color, rng.choice(TIPS), rng.choice([0.0, 0.12]))
    minute = Hand(rng.uniform(0.76, 0.86), hour_w * rng.uniform(0.45, 0.6), minute_color,
                  rng.choice(TIPS), hour.tail)
    second = None
    if rng.random() < 0.25:
        second = Hand(0.9, 0.025, rng.choice(ACCENTS), "flat", 0.18)
    rim_width = rng.choice([0.0, 0.05, 0.08, 0.12])
    return ClockStyle(
        background=rng.choice(BACKGROUNDS),
        face=face,
        rim=rng.choice(ink),
        rim_width=rim_width,
        marks=rng.choice(MARKS),
        mark_color=rng.choice(ink),
        minute_ticks=rng.random() < 0.4,
        hour_hand=hour,
        minute_hand=minute,
        second_hand=second,
        radius=rng.uniform(0.86, 0.96),
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


def _draw_hand(draw: ImageDraw.ImageDraw, c: float, radius: float, angle: float, hand: Hand) -> None:
    a = math.radians(angle)
    ux, uy = math.sin(a), -math.cos(a)  # along the hand
    px, py = -uy, ux  # across it
    half = hand.width * radius / 2
    length = hand.length * radius
    base = (c - ux * hand.tail * radius, c - uy * hand.tail * radius)
    body = length if hand.tip in ("flat", "round") else length * 0.8
    tip = (c + ux * length, c + uy * length)
    neck = (c + ux * body, c + uy * body)
    if hand.tip == "taper":
        poly = [(base[0] + px * half, base[1] + py * half), (base[0] - px * half, base[1] - py * half),
                (neck[0] - px * half * 0.6, neck[1] - py * half * 0.6), tip,
                (neck[0] + px * half * 0.6, neck[1] + py * half * 0.6)]
        draw.polygon(poly, fill=hand.color)
        return
    draw.polygon([(base[0] + px * half, base[1] + py * half), (base[0] - px * half, base[1] - py * half),
                  (neck[0] - px * half, neck[1] - py * half), (neck[0] + px * half, neck[1] + py * half)],
                 fill=hand.color)
    if hand.tip == "round":
        draw.ellipse([tip[0] - half, tip[1] - half, tip[0] + half, tip[1] + half], fill=hand.color)
    elif hand.tip == "arrow":
        w = half * 2.0
        draw.polygon([(neck[0] + px * w, neck[1] + py * w), tip, (neck[0] - px * w, neck[1] - py * w)],
                     fill=hand.color)


def _draw_marks(draw: ImageDraw.ImageDraw, c: float, radius: float, style: ClockStyle) -> None:
    inner = radius * (1 - style.rim_width)
    if style.minute_ticks:
        for i in range(60):
            if i % 5:
                draw.line([_point(c, inner * 0.93, i * 6), _point(c, inner * 0.99, i * 6)],
                          fill=style.mark_color, width=max(1, round(radius * 0.015)))
    if style.marks == "ticks":
        for i in range(12):
            w = radius * (0.07 if i % 3 == 0 else 0.04)
            draw.line([_point(c, inner * (0.78 if i % 3 == 0 else 0.84), i * 30), _point(c, inner * 0.98, i * 30)],
                      fill=style.mark_color, width=max(1, round(w)))
    elif style.marks in ("arabic", "roman"):
        text_font = font(max(8, round(radius * (0.24 if style.marks == "arabic" else 0.17))))
        for i in range(12):
            text = str(i or 12) if style.marks == "arabic" else ROMAN[i]
            x, y = _point(c, inner * 0.8, i * 30)
            draw.text((x, y), text, fill=style.mark_color, font=text_font, anchor="mm")


def render_clock(hour: int, minute: int, style: ClockStyle | int | None = None, size: int = 64,
                 seed: int | None = None) -> Image.Image:
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
    radius = c * style.radius
    img = Image.new("RGB", (big, big), style.background)
    draw = ImageDraw.Draw(img)
    draw.ellipse([c - radius, c - radius, c + radius, c + radius], fill=style.rim if style.rim_width else style.face)
    if style.rim_width:
        r = radius * (1 - style.rim_width)
        draw.ellipse([c - r, c - r, c + r, c + r], fill=style.face)
    _draw_marks(draw, c, radius, style)
    hour_angle, minute_angle = hand_angles(hour, minute)
    _draw_hand(draw, c, radius, hour_angle, style.hour_hand)
    _draw_hand(draw, c, radius, minute_angle, style.minute_hand)
    cap = style.hour_hand.width * radius * 0.75
    draw.ellipse([c - cap, c - cap, c + cap, c + cap], fill=style.hour_hand.color)
    if style.second_hand is not None:
        _draw_hand(draw, c, radius, random.Random(seed).uniform(0, 360), style.second_hand)
    return img.reduce(SUPERSAMPLE)
