"""One image file, read strictly: what a folder of images may hold (``shared.data.load_images``).

``open_image(path)`` gives an 8-bit RGB PIL image, or raises ``BadImageError`` (a ``ValueError``,
so the CLI prints it in one line and exits 2) naming the file and the reason.

Converted, as documented:

- an animated image (GIF, APNG, WebP, multi-page TIFF): its first frame; the others are ignored
- an EXIF orientation: applied, so a photo taken sideways comes out upright (as ``datasets`` does)
- transparency (RGBA, LA, a palette with a transparent colour): composited on white
- 16-bit or 32-bit integer greyscale (``I;16``, ``I``): scaled to 8 bits (65535 -> 255), then grey RGB
- greyscale, 1-bit, palette, CMYK, YCbCr, LAB, HSV: Pillow's conversion to RGB

Refused: a file that is not an image (or in a format Pillow cannot read), a truncated or corrupt
one, one with a side under ``MIN_SIDE`` pixels (a 1x1 image holds no picture), one of more than
``MAX_PIXELS`` pixels (a decompression bomb: refused from its header, before any decoding), and
floating-point pixels (mode ``F``: no agreed range).

``check_split`` applies this to every image of a ``datasets`` split: bad files are refused (the
error names the first and counts the rest) or, with ``skip_bad_images=True``, dropped and
returned; files that need a conversion are stored converted (PNG bytes in memory, no path).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    import datasets

MIN_SIDE = 16  # pixels, each side: the smallest clock dataset renders 16x16
MAX_PIXELS = 8192 * 8192  # 67 M pixels (192 MiB as RGB); Pillow's own bomb error starts at 179 M
_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class BadImageError(ValueError):
    """An image file that cannot be used: ``path`` and ``reason``; the message is one line."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"bad image file {self.path!r}: {reason}")


def _read(source, name: str) -> tuple[Image.Image, bool]:
    """(RGB image, whether the file is already 8-bit RGB, so that a plain decode gives the same)."""
    try:
        with warnings.catch_warnings():  # our own limit, below Pillow's warning, decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source)
    except Image.DecompressionBombError as e:
        raise BadImageError(name, f"too many pixels, refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise BadImageError(name, "not an image (or in a format Pillow cannot read)") from None
    except Exception as e:  # Pillow's plugins raise OSError, SyntaxError, ValueError, struct.error, ...
        raise BadImageError(name, f"cannot read it ({type(e).__name__}: {e})") from None
    with img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise BadImageError(
                name, f"{w}x{h} is {w * h:,} pixels, over the limit of {MAX_PIXELS:,} (a decompression bomb?)"
            )
        if min(w, h) < MIN_SIDE:
            raise BadImageError(name, f"{w}x{h} is too small: each side needs at least {MIN_SIDE} pixels")
        if img.mode == "F":
            raise BadImageError(name, "floating-point pixels (mode F) have no agreed range; save it as 8 or 16 bits")
        try:
            img.seek(0)
            img.load()
        except Exception as e:  # "image file is truncated", "broken data stream", a bad CRC, ...
            raise BadImageError(name, f"truncated or corrupt image data ({type(e).__name__}: {e})") from None
        as_is = img.mode == "RGB"
        try:
            rgb = _to_rgb(ImageOps.exif_transpose(img))
        except Exception as e:
            raise BadImageError(
                name, f"cannot convert its {img.mode} pixels to RGB ({type(e).__name__}: {e})"
            ) from None
    return rgb, as_is


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in _HIGH_DEPTH:
        a = np.asarray(img).astype(np.float64)
        img = Image.fromarray((np.clip(a, 0, 65535) / 257).round().astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img.copy()


def open_image(path: str | Path) -> Image.Image:
    """The image at ``path`` as 8-bit RGB (conversions above), or ``BadImageError`` naming the file."""
    return _read(Path(path), str(path))[0]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def check_split(
    split: datasets.Dataset, skip_bad_images: bool = False, column: str = "image"
) -> tuple[datasets.Dataset, list[BadImageError]]:
    """Read every image of ``split`` with ``open_image``'s rules -> (usable split, bad files skipped).

    Without ``skip_bad_images`` a bad file raises ``BadImageError`` naming the first one and
    counting the others. Every other column (labels, metadata) follows its image.
    """
    import datasets

    raw = split.cast_column(column, datasets.Image(decode=False))[column]
    keep, entries, bad = [], [], []
    for i, item in enumerate(raw):
        name = item.get("path") or f"row {i} of the {column!r} column"
        try:
            img, as_is = _read(Path(item["path"]) if item.get("bytes") is None else io.BytesIO(item["bytes"]), name)
        except BadImageError as e:
            bad.append(e)
            continue
        keep.append(i)
        # (a path beside the bytes would make datasets read the file again, unconverted)
        entries.append(item if as_is else {"path": None, "bytes": _png(img)})
    if bad and not skip_bad_images:
        more = f" (and {len(bad) - 1} more bad file(s))" if len(bad) > 1 else ""
        raise BadImageError(
            bad[0].path, f"{bad[0].reason}{more}; --skip-bad-images (skip_bad_images=True) skips such files"
        )
    if not bad and all(e is item for e, item in zip(entries, raw)):
        return split, []
    rest = split.select(keep).remove_columns(column).to_dict()
    data = {name: entries if name == column else rest[name] for name in split.column_names}
    return datasets.Dataset.from_dict(data, features=split.features), bad
