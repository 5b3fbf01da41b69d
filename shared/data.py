"""The clock dataset (a ``datasets.DatasetDict`` saved with ``save_to_disk``) and image loading.

Every split holds every one of the 720 times (split sizes below 720 are refused), in a
seeded order. Styles come from a fixed set of ``num_styles`` style seeds shared by all
splits, so validation measures new drawings of familiar styles; ``num_styles=0`` gives
every image a style of its own.
"""

from __future__ import annotations

import io
import os
import random
import sys
from multiprocessing import Pool
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from shared.clocks import render_clock
from shared.image_files import check_split

TIMES = 720
FEATURES = datasets.Features({
    "image": datasets.Image(),
    "hour": datasets.Value("int8"),
    "minute": datasets.Value("int8"),
    "style": datasets.Value("int32"),
})


def _render_png(args: tuple[int, int, int, int, int]) -> dict:
    hour, minute, style, seed, size = args
    buf = io.BytesIO()
    render_clock(hour, minute, style=style, size=size, seed=seed).save(buf, format="PNG", compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


def split_rows(n: int, seed: int, num_styles: int, size: int) -> list[tuple[int, int, int, int, int]]:
    """(hour, minute, style, image seed, size) for ``n`` clocks: all 720 times, then repeats."""
    if n < TIMES:
        raise ValueError(f"a split needs at least {TIMES} images so that every time appears, got {n}")
    rng = random.Random(seed)
    times = [i % TIMES for i in range(n)]
    rng.shuffle(times)
    rows = []
    for t in times:
        image_seed = rng.randrange(2**31)
        style = rng.randrange(num_styles) if num_styles > 0 else image_seed
        rows.append((t // 60, t % 60, style, image_seed, size))
    return rows


def build_clock_dataset(train: int = 20000, val: int = 720, test: int = 720, size: int = 64,
                        seed: int = 0, num_styles: int = 16, num_proc: int | None = None,
                        progress: bool = True) -> datasets.DatasetDict:
    """Render the train/validation/test splits of clocks with exact labels."""
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    splits = {}
    num_proc = num_proc or min(4, os.cpu_count() or 1)
    with Pool(num_proc) as pool:
        for i, (name, n) in enumerate((("train", train), ("validation", val), ("test", test))):
            rows = split_rows(n, seed * 1000 + i, num_styles, size)
            images = list(tqdm(pool.imap(_render_png, rows, chunksize=256), total=n,
                               desc=f"rendering {name}", disable=not progress))
            splits[name] = datasets.Dataset.from_dict(
                {"image": images, "hour": [r[0] for r in rows], "minute": [r[1] for r in rows],
                 "style": [r[2] for r in rows]}, features=FEATURES)
    return datasets.DatasetDict(splits)


def load_images(path: str | Path, skip_bad_images: bool = False) -> datasets.DatasetDict:
    """A saved ``DatasetDict`` / ``Dataset`` folder or a folder of images, as a ``DatasetDict``.

    An image folder (``imagefolder``) gives a ``train`` split with an ``image`` column. Every
    file in it is read first (``shared.image_files``): greyscale, 16-bit, transparent, CMYK,
    palette and animated images come as RGB as documented there; a file that is not a usable
    image (not an image, truncated, under 16 px a side, a decompression bomb) is refused with
    one line naming it, or with ``skip_bad_images`` skipped and counted on stderr.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no dataset folder at {str(path)!r}")
    if (path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists():
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.Dataset):
            ds = datasets.DatasetDict({"train": ds})
    else:
        try:
            ds = datasets.load_dataset("imagefolder", data_dir=str(path))
        except Exception as e:  # datasets raises several types for folders with no images
            raise ValueError(f"{str(path)!r} is neither a saved dataset nor a folder of images ({e})") from e
        checked = {name: check_split(split, skip_bad_images) for name, split in ds.items()}
        ds = datasets.DatasetDict({name: split for name, (split, _) in checked.items()})
        bad = [e for _, skipped in checked.values() for e in skipped]
        if bad:
            print(f"skipped {len(bad)} bad image file(s) in {str(path)!r}, e.g. {bad[0]}", file=sys.stderr)
        if not any(len(split) for split in ds.values()):
            raise ValueError(f"{str(path)!r} holds no usable image ({len(bad)} bad file(s) skipped)")
    for name, split in ds.items():
        if "image" not in split.column_names:
            raise ValueError(f"split {name!r} of {str(path)!r} has no 'image' column "
                             f"(columns: {split.column_names})")
    return ds
