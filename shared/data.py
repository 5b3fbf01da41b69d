"""The clock dataset (a ``datasets.DatasetDict`` saved with ``save_to_disk``) and image loading.

Every split holds every one of the 720 times (split sizes below 720 are refused), in a
seeded order. By default (``num_styles=0``) every clock has a style of its own; with
``num_styles > 0`` styles come from a fixed set of that many style seeds shared by all
splits, so validation measures new drawings of familiar styles. Beside ``image``,
``hour``, ``minute`` and ``style`` (the style seed) each row has one string column per
style field of :data:`shared.clocks.STYLE_FIELDS` holding its word ("red", "square").
Styles of the held-out region (:data:`shared.clocks.HELD_OUT_STYLE`) never appear in
train / validation / test unless ``include_held_out=True``; ``heldout=n`` adds a
``heldout_styles`` split of ``n`` clocks of that region only.
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

from shared.clocks import HELD_OUT_STYLE, STYLE_FIELDS, is_held_out, random_style, render_clock
from shared.image_files import check_split

TIMES = 720
FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "hour": datasets.Value("int8"),
        "minute": datasets.Value("int8"),
        "style": datasets.Value("int32"),
    }
)
"""The columns every clock dataset has (older datasets have only these)."""
CLOCK_FEATURES = datasets.Features({**FEATURES, **{f: datasets.Value("string") for f in STYLE_FIELDS}})
"""The columns of :func:`build_clock_dataset`: ``FEATURES`` and one word column per style field."""
HELDOUT_SPLIT = "heldout_styles"

Row = tuple[int, int, int, int, int, tuple[tuple[str, str], ...]]


def _render_png(args: Row) -> dict:
    hour, minute, style_seed, seed, size, fixed = args
    style = random_style(style_seed, **dict(fixed))
    buf = io.BytesIO()
    render_clock(hour, minute, style=style, size=size, seed=seed).save(buf, format="PNG", compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


def _allowed_seeds(n: int, include_held_out: bool) -> list[int]:
    """``n`` style seeds 0, 1, 2, ... skipping the held-out region unless it is included."""
    seeds, s = [], 0
    while len(seeds) < n:
        if include_held_out or not is_held_out(random_style(s)):
            seeds.append(s)
        s += 1
    return seeds


def split_rows(
    n: int, seed: int, num_styles: int = 0, size: int = 64, include_held_out: bool = False, held_out_only: bool = False
) -> list[tuple[Row, dict[str, str]]]:
    """``n`` clocks as ((hour, minute, style seed, image seed, size, fixed fields), labels).

    All 720 times, then repeats, in a seeded order. ``num_styles=0``: a style of its own per
    clock (a style seed that falls in the held-out region is redrawn, unless
    ``include_held_out``); ``held_out_only``: every style in the held-out region (its fields
    fixed, the rest drawn from the style seed).
    """
    if n < TIMES:
        raise ValueError(f"a split needs at least {TIMES} images so that every time appears, got {n}")
    rng = random.Random(seed)
    times = [i % TIMES for i in range(n)]
    rng.shuffle(times)
    fixed = tuple(HELD_OUT_STYLE.items()) if held_out_only else ()
    pool = _allowed_seeds(num_styles, include_held_out) if num_styles > 0 and not held_out_only else []
    rows = []
    for t in times:
        image_seed = rng.randrange(2**31)
        style_seed = pool[rng.randrange(num_styles)] if pool else image_seed
        style = random_style(style_seed, **dict(fixed))
        while not (include_held_out or held_out_only) and is_held_out(style):
            style_seed = rng.randrange(2**31)
            style = random_style(style_seed)
        rows.append(((t // 60, t % 60, style_seed, image_seed, size, fixed), style.labels))
    return rows


def build_clock_dataset(
    train: int = 20000,
    val: int = 720,
    test: int = 720,
    size: int = 64,
    seed: int = 0,
    num_styles: int = 0,
    num_proc: int | None = None,
    progress: bool = True,
    heldout: int = 0,
    include_held_out: bool = False,
) -> datasets.DatasetDict:
    """Render the train/validation/test splits of labelled clocks (and ``heldout_styles``).

    ``num_styles=0`` (the default) gives every clock a style of its own; ``heldout > 0``
    adds a ``heldout_styles`` split of that many clocks (>= 720) from the held-out region.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if num_styles < 0:
        raise ValueError(f"num_styles must be >= 0 (0: a style per clock), got {num_styles}")
    plan = [("train", train, False), ("validation", val, False), ("test", test, False)]
    if heldout:
        plan.append((HELDOUT_SPLIT, heldout, True))
    # every row (and the colour tables behind the styles) before the workers fork
    planned = [
        (name, split_rows(n, seed * 1000 + i, num_styles, size, include_held_out, only))
        for i, (name, n, only) in enumerate(plan)
    ]
    splits = {}
    num_proc = num_proc or min(4, os.cpu_count() or 1)
    with Pool(num_proc) as pool:
        for name, rows in planned:
            images = list(
                tqdm(
                    pool.imap(_render_png, [r for r, _ in rows], chunksize=256),
                    total=len(rows),
                    desc=f"rendering {name}",
                    disable=not progress,
                )
            )
            columns = {
                "image": images,
                "hour": [r[0] for r, _ in rows],
                "minute": [r[1] for r, _ in rows],
                "style": [r[2] for r, _ in rows],
            }
            columns.update({f: [labels[f] for _, labels in rows] for f in STYLE_FIELDS})
            splits[name] = datasets.Dataset.from_dict(columns, features=CLOCK_FEATURES)
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
            raise ValueError(f"split {name!r} of {str(path)!r} has no 'image' column (columns: {split.column_names})")
    return time_labels_on_the_dial(ds)


def time_labels_on_the_dial(ds: datasets.DatasetDict) -> datasets.DatasetDict:
    """Clock labels as a dial shows them, where an ``hour`` column stands beside a ``minute`` column:
    both as integers where they came as digit strings (``"03"``, as JSON lines may give them), and
    hours counted 1..12 or 0..23 as 0..11 (hour % 12), as the rendered clocks, the time prompts and
    the shipped pipeline count them: 12:15 and 0:15 (and 15:40 and 3:40) are one drawing."""
    if any(not {"hour", "minute"} <= set(split.column_names) for split in ds.values()):
        return ds
    values = {c: list({v for split in ds.values() for v in split.unique(c)}) for c in ("hour", "minute")}
    as_int = [c for c, vs in values.items() if vs and all(isinstance(v, str) and v.strip().isdecimal() for v in vs)]
    for c in as_int:
        values[c] = [int(v) for v in values[c]]
    hours = values["hour"]
    fold = bool(hours) and all(type(h) is int for h in hours) and min(hours) >= 0 and 11 < max(hours) <= 23
    if not (as_int or fold):
        return ds
    if as_int:
        print(f"{' and '.join(as_int)} labels read as numbers", file=sys.stderr)
    if fold:
        print(
            f"hour labels {min(hours)}..{max(hours)} read on a 12-hour dial as 0..11 (hour % 12: 12 is 0, 15 is 3)",
            file=sys.stderr,
        )

    def dial(column: str, split: datasets.Dataset) -> list:
        vs = [int(v) for v in split[column]] if column in as_int else split[column]
        return [v % 12 for v in vs] if column == "hour" and fold else vs

    # new columns beside the old table, not map(): that would copy every image, and for a saved
    # dataset write its cache into the user's folder
    changed = sorted({*as_int, *(["hour"] if fold else [])})
    out = {}
    for name, split in ds.items():
        new = {c: dial(c, split) for c in changed}
        split = split.remove_columns(changed)
        for c in changed:
            split = split.add_column(c, new[c])
        out[name] = split
    return datasets.DatasetDict(out)


def train_split(ds: datasets.DatasetDict) -> datasets.Dataset:
    """The split a model learns from: ``train``, or the first split where none is called so."""
    return ds["train"] if "train" in ds else ds[next(iter(ds))]


def with_validation(ds: datasets.DatasetDict, seed: int = 0) -> datasets.DatasetDict:
    """``ds`` with a ``train`` split (its first split, where none is called so) and a ``validation``
    split: where it has none, a seeded 5% of train (at least one row) is carved out of train."""
    if "train" not in ds:
        ds = datasets.DatasetDict({"train": train_split(ds), **ds})
    if "validation" in ds:
        return ds
    parts = ds["train"].train_test_split(test_size=max(1, len(ds["train"]) // 20), seed=seed)
    return datasets.DatasetDict({**ds, "train": parts["train"], "validation": parts["test"]})
