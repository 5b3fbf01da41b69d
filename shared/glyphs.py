"""A labelled dataset that is not clocks: glyphs of the installed fonts, with (character, font) labels.

``build_glyph_dataset(out_dir)`` writes an image folder as a user would bring one::

    out_dir/train/metadata.csv        file_name,character,font
    out_dir/train/u0041_sans_000.png  ...
    out_dir/validation/...            (same layout)
    out_dir/test/...

so ``datasets.load_dataset("imagefolder", data_dir=out_dir)`` (and ``qvae train --data out_dir
--conditions character,font``) reads it with ``character`` and ``font`` as columns. Every
(character, font) pair appears in every split: ``per_pair`` images a pair, 10% of them (at least
one) in validation and as many in test. Each image is the one character drawn with small random
jitter (size 50-80% of the side, offset up to 8%, rotation up to 12 degrees, a random background
colour and a contrasting ink colour), so a pair's images all differ. Deterministic per ``seed``.

Fonts (:data:`FONT_CHOICES`, ``font`` is the short name): the first 8 found of ``sans``, ``serif``
(DejaVu, ``fonts-dejavu-core``), ``fraktur``, ``script``, ``typewriter``, ``caligraphic`` (KaTeX,
shipped inside the ``gradio`` package), ``light``, ``bold``, ``mono``, ``serif-italic`` (DejaVu).
Visually distinct faces, so telling the font apart is learnable but not trivial; the characters
default to ``A-Z`` (KaTeX Script and Caligraphic have capitals only): 26 x 8 = 208 pairs. Emoji
fonts are never used (:func:`shared.image_mix.is_held_out`). A font that lacks one of the asked
characters is refused with its name and the missing characters.
"""

from __future__ import annotations

import csv
import os
import random
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from shared.files import atomic_dir
from shared.image_mix import FONT_EXTS, SCAN_ROOTS, _colour, _contrasting, _walk, font_coverage, is_held_out

DEFAULT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FONT_CHOICES: tuple[tuple[str, str], ...] = (
    ("sans", "DejaVuSans.ttf"),
    ("serif", "DejaVuSerif.ttf"),
    ("fraktur", "KaTeX_Fraktur-Regular"),
    ("script", "KaTeX_Script-Regular"),
    ("typewriter", "KaTeX_Typewriter-Regular"),
    ("caligraphic", "KaTeX_Caligraphic-Regular"),
    ("light", "DejaVuSans-ExtraLight.ttf"),
    ("bold", "DejaVuSans-Bold.ttf"),
    ("mono", "DejaVuSansMono.ttf"),
    ("serif-italic", "DejaVuSerif-Italic.ttf"),
)
"""(short name, file name or its start): the default fonts in order of preference."""
DEFAULT_NUM_FONTS = 8
SPLITS = ("train", "validation", "test")


@lru_cache(maxsize=4)
def _font_files(roots: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in _walk(roots) if os.path.splitext(p)[1].lower() in FONT_EXTS and not is_held_out(p))


def find_fonts(roots: Sequence[str] | None = None, num: int = DEFAULT_NUM_FONTS) -> dict[str, str]:
    """``{short name: font file}``: the first ``num`` of :data:`FONT_CHOICES` installed here."""
    files = _font_files(tuple(roots or SCAN_ROOTS))
    found = {}
    for name, stem in FONT_CHOICES:
        match = sorted(p for p in files if os.path.basename(p) == stem or os.path.basename(p).startswith(stem))
        if match:
            found[name] = match[0]
        if len(found) == num:
            break
    return found


def render_glyph(char: str, font_path: str, size: int, rng: random.Random) -> Image.Image:
    """``char`` in the font at ``font_path``, jittered (scale, offset, rotation, colours), ``size`` RGB."""
    big = size * 4
    scale = rng.uniform(0.5, 0.8)
    font_ = ImageFont.truetype(font_path, int(big * scale))
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font_)
    dx, dy = rng.uniform(-0.08, 0.08) * big, rng.uniform(-0.08, 0.08) * big
    draw.text(
        ((big - (right - left)) / 2 - left + dx, (big - (bottom - top)) / 2 - top + dy), char, font=font_, fill=255
    )
    mask = mask.rotate(rng.uniform(-12, 12), Image.BICUBIC).resize((size, size), Image.LANCZOS)
    bg = _colour(rng)
    ink = _contrasting(rng, bg, 0.4)
    return Image.composite(Image.new("RGB", (size, size), ink), Image.new("RGB", (size, size), bg), mask)


def _split_counts(per_pair: int) -> dict[str, int]:
    held = max(1, round(per_pair * 0.1))
    return {"train": per_pair - 2 * held, "validation": held, "test": held}


def build_glyph_dataset(
    out_dir: str | Path,
    size: int = 64,
    chars: str = DEFAULT_CHARS,
    fonts: Mapping[str, str] | Sequence[str] | None = None,
    per_pair: int = 12,
    seed: int = 0,
) -> Path:
    """Write the glyph image folder (``train/``, ``validation/``, ``test/``) to ``out_dir``, atomically.

    ``fonts``: ``None`` (:func:`find_fonts`), a list of short names from :data:`FONT_CHOICES`, or
    ``{short name: font file}``. ``per_pair`` (>= 3) images per (character, font) pair.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if per_pair < 3:
        raise ValueError(f"per_pair must be at least 3 (one image each for train, validation, test), got {per_pair}")
    chars = "".join(dict.fromkeys(chars))
    if not chars or any(c.isspace() for c in chars):
        raise ValueError(f"chars must be non-empty and hold no white space, got {chars!r}")
    if fonts is None:
        fonts = find_fonts()
    elif not isinstance(fonts, Mapping):
        available = find_fonts(num=len(FONT_CHOICES))
        unknown = [f for f in fonts if f not in available]
        if unknown:
            raise ValueError(f"font(s) {unknown} not found here; available: {sorted(available)}")
        fonts = {f: available[f] for f in fonts}
    fonts = dict(fonts)
    if len(fonts) < 2:
        raise ValueError(f"need at least 2 fonts for a font label, found {sorted(fonts)}")
    for name, path in fonts.items():
        if is_held_out(path):
            raise ValueError(f"font {name!r} ({path}) is held out of training (emoji / clock) by shared.image_mix")
        if not os.path.isfile(path):
            raise ValueError(f"font {name!r}: no file at {path!r}")
        missing = "".join(c for c in chars if not _draws(path, c))
        if missing:
            raise ValueError(f"font {name!r} ({path}) has no glyph for {missing!r}")
    counts = _split_counts(per_pair)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            (tmp / split).mkdir()
        rows: dict[str, list[tuple[str, str, str]]] = {s: [] for s in SPLITS}
        for char in chars:
            for name, path in fonts.items():
                k = 0
                for split in SPLITS:
                    for _ in range(counts[split]):
                        rng = random.Random(f"{seed}:{ord(char)}:{name}:{k}")
                        file_name = f"u{ord(char):04x}_{name}_{k:03d}.png"
                        render_glyph(char, path, size, rng).save(tmp / split / file_name, compress_level=1)
                        rows[split].append((file_name, char, name))
                        k += 1
        for split in SPLITS:
            with open(tmp / split / "metadata.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["file_name", "character", "font"])
                w.writerows(rows[split])
    return out_dir


def _draws(font_path: str, char: str) -> bool:
    if char in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789":
        return char in font_coverage(font_path)
    f = ImageFont.truetype(font_path, 24)
    mask = f.getmask(char)
    return mask.getbbox() is not None and bytes(mask) != bytes(f.getmask("\U0010fffd"))


def write_sheet(path: str | Path = "docs/glyphs.png", n: int = 48, seed: int = 0, size: int = 64) -> Path:
    """A contact sheet of ``n`` glyphs (every font, several characters), captioned ``character font``."""
    from shared.images import make_grid

    fonts = find_fonts()
    rng = random.Random(seed)
    cells = []
    names = list(fonts)
    for i in range(n):
        name = names[i % len(names)]
        char = rng.choice(DEFAULT_CHARS)
        cells.append((render_glyph(char, fonts[name], size, random.Random(f"{seed}:{i}")), f"{char} {name}"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(
        [c[0] for c in cells],
        [c[1] for c in cells],
        ncols=min(len(names), 8),
        scale=2,
        title=f"glyphs (shared.glyphs): character font, {len(names)} fonts",
    ).save(path)
    return path


if __name__ == "__main__":
    print(find_fonts())
    print(write_sheet(*sys.argv[1:2]))
