"""A general image mix from files that packages on this machine ship: icons, photos, pictures, text.

For a tokenizer that has to reconstruct images it never saw (not only clocks),
``build_image_mix(n, size=64, seed=0)`` assembles ``n`` images of ``size x size`` RGB into a
``datasets.DatasetDict`` with ``train`` and ``validation`` splits and the columns ``image``,
``source`` (the kind below: ``"icons"``, ``"photos"``, ``"pictures"`` or ``"text"``) and ``file``
(the file the image came from: an image file, or the font file that drew the text). Nothing is
downloaded: :func:`find_sources` walks :data:`SCAN_ROOTS` (``/usr/share``, ``/usr/lib``,
``/usr/local``, this interpreter's site-packages and standard library; or the folders that the
environment variable ``QVAE_IMAGE_MIX_ROOTS`` lists, separated by ``os.pathsep``, to build the same
mix on a machine that the files were copied to) and sorts what it finds:

- ``icons``: icon themes (``/usr/share/icons``, ``/usr/share/pixmaps``), one file per theme and
  icon name (the largest size; SVGs are skipped: no renderer here). Drawn whole, scaled to
  45-95% of the side, at a random place on a random plain or gradient background; monochrome
  ``-symbolic`` icons get a random colour; large icons are sometimes cropped instead.
- ``photos``: wallpaper folders (``/usr/share/backgrounds``, ``/usr/share/wallpapers``,
  ``/usr/share/desktop-base``), matplotlib's and scikit-image's sample data, and any JPEG of at
  least 200 px a side with many colours (at least 150 of 32^3 levels in a 64 x 64 thumbnail;
  JPEG diagrams have fewer and count as pictures). A square crop of a random side (log-uniform, from 12% of the short side
  or 0.75 x ``size``, to all of it) at a random place, randomly mirrored, resized to ``size``.
- ``pictures``: every other raster image (PNG, GIF, XPM, BMP, ...) of at least 16 x 32 px, not of one colour:
  logos, screenshots, diagrams, plots from documentation and test folders. Large ones are
  cropped like photos, small ones drawn whole like icons.
- ``text``: the installed fonts (``.ttf`` / ``.otf`` / ``.ttc``, incl. fonts inside Python
  packages) that draw at least 20 of ``A-Z a-z 0-9``: one to three lines of random letters,
  digits and punctuation, random size (text may run off the edge, as in a crop), random
  contrasting colours.

On the machine this was written on (Debian 12 + the project's .venv) ``find_sources()`` found:
icons 900 (Adwaita 885 distinct names, 373 in colour and 527 monochrome ``-symbolic``; hicolor,
locolor, pixmaps and cscope's web icons 15), photos 6 (gradio's sample photos in the .venv:
cheetah x3, lion, tower, groot), pictures 95 (tk, cmake, git, libxslt logos, valgrind / nodejs /
gnupg / pip documentation images, networkx, sympy and scipy test images, gradio's logos and
screenshot, google-cloud-sdk docs), text 38 fonts (DejaVu 22 from ``fonts-dejavu-core``, KaTeX
16 inside gradio). Real photos are thus few here: the photo share is crops of those six.
Identical files (by content) count once. Packages that would add photos with no download:
``gnome-backgrounds``, ``mate-backgrounds``, ``plasma-workspace-wallpapers``, ``desktop-base``
(``/usr/share/backgrounds``, ``/usr/share/wallpapers``), ``python-matplotlib-data``
(``mpl-data/sample_data``), ``python3-skimage`` (``skimage/data``): found when installed.

**Balance.** Each kind gets a share of the images (:data:`DEFAULT_WEIGHTS`, renormalised over the
kinds present) and no kind more than ``max_share`` (:data:`MAX_SHARE`, 35%) when there are enough
kinds to keep that cap (with fewer, the shares are equal). Within a kind, files are drawn
uniformly, so Adwaita's thousand icons do not drown the few photos, and the few photos do not
fill the mix either.

**Splits.** Within a kind of at least 10 files, 10% of the files (seeded) are kept for
``validation`` only, so validation measures unseen files; a smaller kind (the photos here) feeds
both splits, with different crops. The build is deterministic for (``seed``, the files present).

**Held out, always, by path** (:func:`is_held_out`, applied to the path and to the file a link
points to, case-insensitive): anything with ``emoji`` in its path (emoji icons, Noto Color Emoji);
Tux Paint's stamps (``tuxpaint``, ``tux-paint``, ``tux_paint``); anything that looks like a clock
from another renderer: ``clock``, ``chronometer``, ``alarm``, ``stopwatch`` or ``timer`` anywhere
in the path, or ``time``, ``times``, ``watch`` as a word (``preferences-system-time``, but not
``multimedia`` or ``daytime``). These are kept for evaluation; :func:`held_out_files` lists the ones
found here (on the machine above: 72, the Adwaita emoji, alarm and ``preferences-system-time``
icons at every size). The rule holds for ``sources`` given by hand too.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import os
import random
import re
import site
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import datasets
import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS = ("icons", "photos", "pictures", "text")
DEFAULT_WEIGHTS = {"icons": 0.30, "photos": 0.25, "pictures": 0.20, "text": 0.25}
"""Each kind's share of the mix before the cap (renormalised over the kinds present)."""
MAX_SHARE = 0.35
"""No kind fills more than this share of a split (when the kinds present allow it)."""
VAL_FRACTION = 0.1
MIN_FILES_TO_SPLIT = 10

ICON_ROOTS = ("/usr/share/icons", "/usr/share/pixmaps", "/usr/local/share/icons")
PHOTO_ROOTS = (
    "/usr/share/backgrounds",
    "/usr/share/wallpapers",
    "/usr/share/desktop-base",
    "/usr/local/share/backgrounds",
)
PHOTO_MARKERS = ("mpl-data/sample_data", "skimage/data")
MIN_PHOTO_SIDE = 200  # a JPEG this large (short side) and colourful counts as a photo
PHOTO_MIN_COLOURS = 150
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".xpm", ".ppm", ".pgm", ".ico"}
FONT_EXTS = {".ttf", ".otf", ".ttc"}
MAX_PIXELS = 8192 * 8192
LOAD_SIDE = 1024  # source images are decoded with at most this short side
_SKIP_DIRS = {"__pycache__", ".git", "node_modules"}

HELD_OUT_SUBSTRINGS = (
    "emoji",
    "tuxpaint",
    "tux-paint",
    "tux_paint",
    "clock",
    "chronometer",
    "alarm",
    "stopwatch",
    "timer",
)
HELD_OUT_WORDS = frozenset({"time", "times", "watch", "watches"})
ROOTS_ENV = "QVAE_IMAGE_MIX_ROOTS"

FEATURES = datasets.Features(
    {"image": datasets.Image(), "source": datasets.Value("string"), "file": datasets.Value("string")}
)


def is_held_out(path: str | os.PathLike) -> bool:
    """True for a path kept out of training (emoji, Tux Paint stamps, other clocks): module docstring."""
    names = {str(path)}
    try:
        names.add(os.path.realpath(path))
    except (OSError, ValueError):
        pass
    for name in names:
        p = name.lower()
        if any(s in p for s in HELD_OUT_SUBSTRINGS):
            return True
        if HELD_OUT_WORDS.intersection(re.split(r"[^a-z0-9]+", p)):
            return True
    return False


def _default_roots() -> tuple[str, ...]:
    if os.environ.get(ROOTS_ENV):  # another machine's files, copied over: the same mix there
        return tuple(os.environ[ROOTS_ENV].split(os.pathsep))
    roots = ["/usr/share", "/usr/lib", "/usr/local/share", "/usr/local/lib"]
    try:
        roots += site.getsitepackages()
    except AttributeError:  # some virtualenvs
        pass
    roots += [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], os.path.join(sys.base_prefix, "lib")]
    out = []
    for r in roots:
        if r not in out:
            out.append(r)
    return tuple(out)


SCAN_ROOTS = _default_roots()


def _walk(roots: Iterable[str]) -> list[str]:
    """Every file under ``roots`` (each real folder once, links to folders not followed), sorted."""
    seen_dirs, files = set(), set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            real = os.path.realpath(dirpath)
            if real in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add(real)
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for f in filenames:
                if os.path.splitext(f)[1].lower() in IMAGE_EXTS | FONT_EXTS:
                    files.add(os.path.join(dirpath, f))
    return sorted(files)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _image_size(path: str) -> tuple[int, int] | None:
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:  # noqa: BLE001 (Pillow raises many kinds): not an image it reads, skipped
        return None


def _looks_like_photo(path: str) -> bool:
    """Many colours: at least ``PHOTO_MIN_COLOURS`` of 32^3 levels in a 64x64 thumbnail (diagrams have few)."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (128, 128))
            thumb = img.convert("RGB").resize((64, 64))
    except Exception:  # noqa: BLE001 (Pillow and FreeType raise many kinds): not usable
        return False
    levels = {(r >> 3, g >> 3, b >> 3) for r, g, b in thumb.getdata()}
    return len(levels) >= PHOTO_MIN_COLOURS


def _is_flat(path: str) -> bool:
    """One colour all over (a blank spacer image): nothing to learn from."""
    try:
        with Image.open(path) as img:
            lo, hi = zip(*img.convert("RGBA").getextrema())
    except Exception:  # noqa: BLE001 (Pillow and FreeType raise many kinds): not usable
        return True
    return max(high - low for low, high in zip(lo, hi)) < 8


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()
    except OSError:
        return None


_PROBE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@lru_cache(maxsize=256)
def font_coverage(path: str) -> str:
    """The characters of ``A-Z a-z 0-9`` that the font at ``path`` draws (not as its missing-glyph box)."""
    try:
        f = ImageFont.truetype(path, 24)
        missing = bytes(f.getmask("\U0010fffd"))
        got = []
        for ch in _PROBE:
            mask = f.getmask(ch)
            if mask.getbbox() is not None and bytes(mask) != missing:
                got.append(ch)
        return "".join(got)
    except Exception:  # noqa: BLE001 (Pillow and FreeType raise many kinds): not usable
        return ""


def _classify(files: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """(files per kind, held-out files) from a list of candidate files."""
    kinds: dict[str, list[str]] = {k: [] for k in KINDS}
    held: list[str] = []
    icons: dict[tuple[str, str], tuple[int, str]] = {}
    for path in files:
        ext = os.path.splitext(path)[1].lower()
        if is_held_out(path):
            held.append(path)
            continue
        if ext in FONT_EXTS:
            if len(font_coverage(path)) >= 20:
                kinds["text"].append(path)
            continue
        size = _image_size(path)
        if size is None or min(size) < 16 or size[0] * size[1] > MAX_PIXELS:
            continue
        parts = Path(path).parts
        if _under(path, ICON_ROOTS) or "icons" in parts[:-1] or "pixmaps" in parts[:-1]:
            i = max(j for j, d in enumerate(parts[:-1]) if d in ("icons", "pixmaps"))
            theme = os.path.join(*parts[: i + 2]) if i + 2 < len(parts) else os.path.dirname(path)
            name = Path(path).name.split(".")[0]
            area = size[0] * size[1]
            if (theme, name) not in icons or area > icons[(theme, name)][0]:
                icons[(theme, name)] = (area, path)
        elif (
            _under(path, PHOTO_ROOTS)
            or any(m in path for m in PHOTO_MARKERS)
            or (ext in (".jpg", ".jpeg") and min(size) >= MIN_PHOTO_SIDE and _looks_like_photo(path))
        ):
            kinds["photos"].append(path)
        elif max(size) >= 32 and not _is_flat(path):
            kinds["pictures"].append(path)
    kinds["icons"] = sorted(p for _, p in icons.values())
    # identical files count once (the first kind, in KINDS order, keeps them)
    seen: set[str] = set()
    for k in KINDS:
        kept = []
        for p in sorted(kinds[k]):
            d = _digest(p)
            if d is not None and d not in seen:
                seen.add(d)
                kept.append(p)
        kinds[k] = kept
    return kinds, sorted(held)


@lru_cache(maxsize=4)
def _scan(roots: tuple[str, ...]) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    kinds, held = _classify(_walk(roots))
    return {k: tuple(v) for k, v in kinds.items()}, tuple(held)


def find_sources(roots: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The usable files per kind (``icons``, ``photos``, ``pictures``, ``text``), held-out ones removed.

    ``roots`` defaults to :data:`SCAN_ROOTS`; kinds with no file are left out of the result.
    """
    kinds, _ = _scan(tuple(roots or SCAN_ROOTS))
    return {k: list(v) for k, v in kinds.items() if v}


def held_out_files(roots: Sequence[str] | None = None) -> list[str]:
    """The image and font files under ``roots`` that :func:`is_held_out` keeps out of the mix."""
    return list(_scan(tuple(roots or SCAN_ROOTS))[1])


def source_shares(
    kinds: Iterable[str], weights: Mapping[str, float] | None = None, max_share: float = MAX_SHARE
) -> dict[str, float]:
    """Each kind's share of the mix: ``weights`` renormalised, then capped at ``max_share``.

    What a capped kind loses goes to the others in proportion to their weights. With too few
    kinds for the cap (``len(kinds) * max_share < 1``) the shares are equal.
    """
    kinds = list(dict.fromkeys(kinds))
    if not kinds:
        raise ValueError("no image sources: nothing to build the mix from")
    weights = weights or DEFAULT_WEIGHTS
    w = {k: float(weights.get(k, min(DEFAULT_WEIGHTS.values()))) for k in kinds}
    if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {w}")
    if len(kinds) * max_share < 1:
        return {k: 1 / len(kinds) for k in kinds}
    shares, fixed = {}, set()
    while True:
        free = [k for k in kinds if k not in fixed]
        left = 1 - sum(shares[k] for k in fixed)
        total = sum(w[k] for k in free)
        for k in free:
            shares[k] = left * w[k] / total if total > 0 else left / len(free)
        over = [k for k in free if shares[k] > max_share + 1e-12]
        if not over:
            return shares
        for k in over:
            shares[k] = max_share
            fixed.add(k)


def _quotas(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """``n`` split by ``shares`` (largest remainder; ties by kind order)."""
    raw = {k: n * s for k, s in shares.items()}
    q = {k: math.floor(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: -(raw[k] - q[k]))[: n - sum(q.values())]:
        q[k] += 1
    return q


# --- rendering -----------------------------------------------------------------------------


def _colour(rng: random.Random) -> tuple[int, int, int]:
    r = rng.random()
    if r < 0.2:  # greys, white and black
        v = rng.choice([rng.randint(0, 255), 255, 245, 20])
        return (v, v, v)
    h, s, v = rng.random(), rng.uniform(0.1, 1.0) if r < 0.7 else rng.uniform(0, 0.35), rng.uniform(0.15, 1.0)
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(h, s, v))


def _luma(c) -> float:
    return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255


def _contrasting(rng: random.Random, bg, min_diff: float = 0.35) -> tuple[int, int, int]:
    for _ in range(50):
        c = _colour(rng)
        if abs(_luma(c) - _luma(bg)) >= min_diff:
            return c
    return (0, 0, 0) if _luma(bg) > 0.5 else (255, 255, 255)


def _background(rng: random.Random, size: int) -> Image.Image:
    c1 = _colour(rng)
    if rng.random() < 0.65:
        return Image.new("RGB", (size, size), c1)
    c2 = _colour(rng)
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(1, size - 1) - 0.5
    t = xx * math.cos(a) + yy * math.sin(a)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    rgb = np.asarray(c1, np.float32) * (1 - t[..., None]) + np.asarray(c2, np.float32) * t[..., None]
    return Image.fromarray(rgb.round().astype(np.uint8), "RGB")


@lru_cache(maxsize=32)
def _load_rgba(path: str) -> Image.Image:
    """The file as RGBA, its short side brought down to ``LOAD_SIDE`` (a 4K wallpaper decodes small)."""
    with Image.open(path) as img:
        img.draft("RGB", (LOAD_SIDE, LOAD_SIDE))  # JPEG: decode at a reduced scale, never below LOAD_SIDE
        img.seek(0)
        img.load()
        img = img.convert("RGBA")
    k = LOAD_SIDE / min(img.size)
    if k < 1:
        img = img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))), Image.LANCZOS, reducing_gap=2.0)
    return img


def _resize(img: Image.Image, wh: tuple[int, int]) -> Image.Image:
    if img.size == wh:
        return img.copy()
    down = img.width > wh[0]
    return img.resize(wh, Image.LANCZOS if down else Image.BICUBIC, reducing_gap=3.0 if down else None)


def _whole(img: Image.Image, size: int, rng: random.Random, lo: float, hi: float) -> Image.Image:
    """``img`` (RGBA) scaled to fit ``lo..hi`` of the side, at a random place on a random background."""
    canvas = _background(rng, size)
    t = rng.uniform(lo, hi) * size
    k = t / max(img.size)
    wh = (max(1, round(img.width * k)), max(1, round(img.height * k)))
    small = _resize(img, wh)
    x, y = rng.randint(0, size - wh[0]), rng.randint(0, size - wh[1])
    canvas.paste(small, (x, y), small)
    return canvas


def _crop(img: Image.Image, size: int, rng: random.Random, bg: tuple[int, int, int] | None = None) -> Image.Image:
    """A square crop of random side (log-uniform) and place, mirrored half the time, resized to ``size``."""
    short = min(img.size)
    lo = min(short, max(0.75 * size, 0.12 * short))
    side = round(math.exp(rng.uniform(math.log(lo), math.log(short))))
    x, y = rng.randint(0, img.width - side), rng.randint(0, img.height - side)
    piece = img.crop((x, y, x + side, y + side))
    if piece.mode == "RGBA":
        under = Image.new("RGBA", piece.size, (*(bg or _colour(rng)), 255))
        piece = Image.alpha_composite(under, piece)
    if rng.random() < 0.5:
        piece = piece.transpose(Image.FLIP_LEFT_RIGHT)
    return _resize(piece.convert("RGB"), (size, size))


def _icon(path: str, size: int, rng: random.Random) -> Image.Image:
    img = _load_rgba(path)
    if "symbolic" in os.path.basename(path).lower() and rng.random() < 0.8:
        alpha = img.getchannel("A")
        img = Image.new("RGBA", img.size, _colour(rng))
        img.putalpha(alpha)
    if min(img.size) >= 2 * size and rng.random() < 0.25:
        return _crop(img, size, rng)
    return _whole(img, size, rng, 0.45, 0.95)


def _photo(path: str, size: int, rng: random.Random) -> Image.Image:
    return _crop(_load_rgba(path), size, rng, bg=(255, 255, 255))


def _picture(path: str, size: int, rng: random.Random) -> Image.Image:
    img = _load_rgba(path)
    if min(img.size) >= 1.5 * size and rng.random() < 0.7:
        return _crop(img, size, rng)
    return _whole(img, size, rng, 0.6, 1.0)


_PUNCT = ".,;:!?-+=/()&%$#@*'\""


def _text(path: str, size: int, rng: random.Random) -> Image.Image:
    chars = font_coverage(path) or _PROBE
    lower = "".join(c for c in chars if c.islower()) or chars
    upper = "".join(c for c in chars if c.isupper()) or chars
    digits = "".join(c for c in chars if c.isdigit()) or chars

    def word() -> str:
        r, n = rng.random(), rng.randint(1, 8)
        if r < 0.45:
            w = rng.choice(upper) + "".join(rng.choice(lower) for _ in range(n - 1))
        elif r < 0.65:
            w = "".join(rng.choice(upper) for _ in range(n))
        elif r < 0.8:
            w = "".join(rng.choice(digits) for _ in range(n))
        else:
            w = "".join(rng.choice(chars) for _ in range(n))
        return w + (rng.choice(_PUNCT) if rng.random() < 0.2 else "")

    bg = _colour(rng)
    canvas = _background(rng, size) if rng.random() < 0.3 else Image.new("RGB", (size, size), bg)
    fg = _contrasting(rng, canvas.getpixel((size // 2, size // 2)))
    px = max(6, int(size * math.exp(rng.uniform(math.log(0.15), math.log(0.9)))))
    font_ = ImageFont.truetype(path, px)
    lines = rng.randint(1, 3) if px < size * 0.4 else 1
    text = "\n".join(" ".join(word() for _ in range(rng.randint(1, 3))) for _ in range(lines))
    draw = ImageDraw.Draw(canvas)
    box = draw.multiline_textbbox((0, 0), text, font=font_)
    w, h = box[2] - box[0], box[3] - box[1]
    # a random place; text wider than the image runs off an edge, as in a crop
    x = rng.randint(min(0, size - w), max(0, size - w)) - box[0]
    y = rng.randint(min(0, size - h), max(0, size - h)) - box[1]
    draw.multiline_text((x, y), text, font=font_, fill=fg, spacing=max(1, px // 6))
    return canvas


RENDERERS = {"icons": _icon, "photos": _photo, "pictures": _picture, "text": _text}


def render_example(kind: str, path: str, size: int, rng: random.Random) -> Image.Image:
    """One ``size x size`` RGB image of ``kind`` from the file at ``path`` (a font for ``text``)."""
    if kind not in RENDERERS:
        kind = "text" if os.path.splitext(path)[1].lower() in FONT_EXTS else "pictures"
    return RENDERERS[kind](path, size, rng)


def _split_files(kind: str, files: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    files = sorted(files)
    if len(files) < MIN_FILES_TO_SPLIT:
        return files, files
    order = files[:]
    random.Random(f"{seed}:files:{kind}").shuffle(order)
    k = max(1, math.ceil(VAL_FRACTION * len(order)))
    return sorted(order[k:]), sorted(order[:k])


def _normalise_sources(sources) -> dict[str, list[str]]:
    if sources is None:
        found = find_sources()
    elif isinstance(sources, Mapping):
        found = {str(k): [str(p) for p in v] for k, v in sources.items()}
    else:  # names of kinds to keep
        wanted = [str(s) for s in sources]
        unknown = sorted(set(wanted) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown image source kind(s) {unknown}; known: {list(KINDS)}")
        found = {k: v for k, v in find_sources().items() if k in wanted}
    # the held-out rule holds for hand-given files too
    return {
        k: sorted(p for p in v if not is_held_out(p)) for k, v in found.items() if any(not is_held_out(p) for p in v)
    }


def _png(img: Image.Image) -> dict:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


def build_image_mix(
    n: int,
    size: int = 64,
    seed: int = 0,
    sources: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    val_fraction: float = VAL_FRACTION,
    weights: Mapping[str, float] | None = None,
    max_share: float = MAX_SHARE,
) -> datasets.DatasetDict:
    """``n`` images (``size x size`` RGB) of the mix: ``train`` and ``validation`` (``val_fraction`` of n).

    ``sources``: ``None`` (every kind :func:`find_sources` finds), a list of kind names to keep,
    or ``{kind: [files]}`` given by hand (kinds other than the four are drawn as pictures, or as
    text for font files). Held-out paths are always dropped. Columns: ``image``, ``source``
    (the kind), ``file``. Deterministic for (``seed``, the files present).
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 (a train and a validation image), got {n}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    found = _normalise_sources(sources)
    if not found:
        raise ValueError("no usable image files (after the held-out rule): nothing to build the mix from")
    kinds = sorted(found)
    shares = source_shares(kinds, weights, max_share)
    parts = {k: _split_files(k, found[k], seed) for k in kinds}
    n_val = max(1, round(n * val_fraction))
    splits = {}
    for s, (name, count) in enumerate((("train", n - n_val), ("validation", n_val))):
        plan = [k for k, q in _quotas(count, shares).items() for _ in range(q)]
        random.Random(f"{seed}:{name}:order").shuffle(plan)
        cols: dict[str, list] = {"image": [], "source": [], "file": []}
        for i, kind in enumerate(plan):
            rng = random.Random(f"{seed}:{name}:{i}")
            files = parts[kind][s]
            for attempt in range(len(files)):  # a file that fails to draw: the next one
                path = files[(rng.randrange(len(files)) + attempt) % len(files)]
                try:
                    img = render_example(kind, path, size, rng)
                    break
                except Exception:  # noqa: BLE001, S112 (a broken file: the next one is drawn)
                    continue
            else:
                raise ValueError(f"no file of source {kind!r} could be drawn")
            cols["image"].append(_png(img))
            cols["source"].append(kind)
            cols["file"].append(path)
        splits[name] = datasets.Dataset.from_dict(cols, features=FEATURES)
    return datasets.DatasetDict(splits)


def write_sheet(path: str | Path = "docs/image_mix.png", n: int = 48, seed: int = 0, size: int = 64) -> Path:
    """A contact sheet of ``n`` training images of the mix, captioned with their source."""
    from shared.images import make_grid

    ds = build_image_mix(n + max(1, round(n * VAL_FRACTION / (1 - VAL_FRACTION))), size=size, seed=seed)["train"]
    ds = ds.select(range(min(n, len(ds))))
    caps = [f"{s}:{Path(f).stem[:10]}" for s, f in zip(ds["source"], ds["file"])]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(
        [r["image"] for r in ds],
        caps,
        ncols=8,
        scale=2,
        title=f"image mix (shared.image_mix, seed {seed}): source:file",
    ).save(path)
    return path


if __name__ == "__main__":
    for kind, files in find_sources().items():
        print(f"{kind:9s} {len(files):6d}")
    print(f"held out  {len(held_out_files()):6d}")
    print(write_sheet(*sys.argv[1:2]))
