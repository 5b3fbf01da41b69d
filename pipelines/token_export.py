"""Token export: a dataset (or image folder) -> a grid of stage-1 code ids per image.

``qvae tokenize --model DIR --data DIR --out DIR --format arrow|parquet|jsonl``

Output (the contract with stage 2 and with LLM training code):

- every split of the input becomes a split of the output, with a column ``ids``
  (``Sequence(Value("int16"))``: the ``h x w`` grid flattened row-major) and every
  metadata column of the input kept (hour, minute, style, label, ...); the image column
  is dropped;
- the folder is the one token format of ``shared.tokens`` (arrow, parquet or jsonl, with
  ``tokens.json``), which ``shared.tokens.read_tokens`` and ``qvae train-prior`` read back.

Resumable: each split is encoded in shards; every finished shard is saved atomically to
``.<OUT name>.partial/`` beside ``OUT`` and skipped on a rerun with the same tokenizer; the
final assembly into ``OUT`` is atomic too (a crash leaves the old ``OUT`` or none).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import datasets
import torch
from tqdm.auto import tqdm

from shared.data import load_images
from shared.files import save_atomic
from shared.images import to_tensor
from shared.tokens import FORMATS, META_FILE, ids_feature, write_tokens

JOB_FILE = "job.json"
DEFAULT_SHARD_ROWS = 10_000
IMAGE_COLUMN = "image"


def _model_info(model) -> dict:
    cfg = model.config
    size = getattr(cfg, "image_size", None)
    if size is None:
        raise ValueError("the tokenizer's config has no image_size")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    grid = tuple(int(v) for v in model.grid_shape(h, w))
    k = int(cfg.codebook_size)
    if k > 2**15:
        raise ValueError(f"codebook_size {k} does not fit int16 ids (at most 32768)")
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return {
        "codebook_size": k,
        "grid_shape": list(grid),
        "image_size": [h, w],
        "downsample": getattr(cfg, "downsample", None),
        "weights_sha256": digest.hexdigest(),
    }


def _as_dataset_dict(data) -> datasets.DatasetDict:
    if isinstance(data, datasets.DatasetDict):
        ds = data
    elif isinstance(data, datasets.Dataset):
        ds = datasets.DatasetDict({"train": data})
    else:
        return load_images(data)
    for name, split in ds.items():
        if IMAGE_COLUMN not in split.column_names:
            raise ValueError(f"split {name!r} has no {IMAGE_COLUMN!r} column (columns: {split.column_names})")
    return ds


def _shard_counts(ds: datasets.DatasetDict, num_shards: int | None) -> dict[str, int]:
    counts = {}
    for name, split in ds.items():
        n = len(split)
        want = math.ceil(n / DEFAULT_SHARD_ROWS) if num_shards is None else int(num_shards)
        if want < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        counts[name] = max(1, min(want, n)) if n else 0
    return counts


def _output_features(split: datasets.Dataset) -> datasets.Features:
    feats = {k: v for k, v in split.features.items() if k != IMAGE_COLUMN}
    return datasets.Features({"ids": ids_feature(), **feats})


class _Encoder:
    """The ``datasets.map`` batch function: PIL images -> flattened int16 id rows."""

    def __init__(self, model, info: dict, split: str, on_size_mismatch: str, bar):
        self.model = model
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.size = tuple(info["image_size"])
        self.grid = tuple(info["grid_shape"])
        self.split = split
        self.resize = on_size_mismatch == "resize"
        self.bar = bar

    def __call__(self, batch: dict) -> dict:
        images = batch[IMAGE_COLUMN]
        h, w = self.size
        if not self.resize:
            for img in images:
                if (img.height, img.width) != (h, w):
                    where = f" ({img.filename})" if getattr(img, "filename", "") else ""
                    raise ValueError(
                        f"an image in split {self.split!r}{where} is {img.width}x{img.height} pixels but the "
                        f"tokenizer expects {w}x{h}; resize the data or pass --resize"
                    )
        x = to_tensor(images, size=(h, w)).to(self.device, self.dtype)
        with torch.inference_mode():
            ids = self.model.encode(x)
        if tuple(ids.shape[1:]) != self.grid:
            raise RuntimeError(f"the tokenizer returned grids of {tuple(ids.shape[1:])}, expected {self.grid}")
        self.bar.update(len(images))
        return {"ids": ids.flatten(1).to(torch.int16).cpu().numpy()}


@contextmanager
def _quiet_datasets():
    """Hide datasets' own bars (map, save, cast): the export shows one bar of its own."""
    were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if were_on:
            datasets.enable_progress_bars()


def _partial_dir(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def _check_job(partial: Path, job: dict) -> None:
    path = partial / JOB_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        if old != job:
            diff = sorted(k for k in set(old) | set(job) if old.get(k) != job.get(k))
            raise ValueError(
                f"an unfinished export with other settings ({', '.join(diff)}) is at "
                f"{str(partial)!r}; delete it or rerun with the same tokenizer and data"
            )
    else:
        partial.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(job, indent=1))
        tmp.rename(path)


def export_tokens(
    model,
    data,
    out: str | Path,
    format: str = "arrow",
    batch_size: int = 256,
    on_size_mismatch: str = "resize",
    num_shards: int | None = None,
    progress: bool = True,
    max_shards: int | None = None,
) -> dict:
    """Encode every image of ``data`` with the stage-1 ``model`` and write the ids to ``out``.

    ``model``: a stage-1 model or its folder. ``data``: a ``DatasetDict`` / ``Dataset``, a
    saved dataset folder or an image folder. ``on_size_mismatch``: ``"resize"`` (bicubic) or
    ``"reject"`` (``ValueError`` naming the size found and expected). ``num_shards``: shards
    per split (default one per 10,000 images). ``max_shards``: stop after encoding this many
    new shards (``complete`` is then False; rerun to finish). Returns metrics: images encoded,
    seconds, images/s, shards done and skipped, complete.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if on_size_mismatch not in ("resize", "reject"):
        raise ValueError(f"on_size_mismatch must be 'resize' or 'reject', got {on_size_mismatch!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    tokenizer_path = None
    if isinstance(model, (str, Path)):
        tokenizer_path = str(model)
        from stage1_vqvae import load_tokenizer  # on use: qvae tokenize --help stays fast

        model = load_tokenizer(model, device="cuda" if torch.cuda.is_available() else None)
    model.eval()
    info = _model_info(model)
    ds = _as_dataset_dict(data)
    counts = _shard_counts(ds, num_shards)
    out = Path(out)
    partial = _partial_dir(out)
    job = {
        **info,
        "on_size_mismatch": on_size_mismatch,
        "splits": {
            name: {"num_rows": len(split), "num_shards": counts[name], "columns": split.column_names}
            for name, split in ds.items()
        },
    }
    _check_job(partial, job)

    with _quiet_datasets():
        return _export(
            model,
            ds,
            out,
            partial,
            info,
            counts,
            format,
            batch_size,
            on_size_mismatch,
            progress,
            max_shards,
            tokenizer_path,
        )


def _export(
    model, ds, out, partial, info, counts, format, batch_size, on_size_mismatch, progress, max_shards, tokenizer_path
) -> dict:
    total = sum(len(s) for s in ds.values())
    bar = tqdm(total=total, unit="img", desc="tokenizing", disable=not progress, dynamic_ncols=True)
    done = skipped = encoded = 0
    seconds = 0.0
    try:
        for name, split in ds.items():
            features = _output_features(split)
            encoder = _Encoder(model, info, name, on_size_mismatch, bar)
            for i in range(counts[name]):
                shard_dir = partial / name / f"{i:05d}-of-{counts[name]:05d}"
                piece = split.shard(counts[name], i, contiguous=True)
                if shard_dir.is_dir():
                    skipped += 1
                    bar.update(len(piece))
                    continue
                if max_shards is not None and done >= max_shards:
                    break
                start = time.perf_counter()
                tokens = piece.map(
                    encoder,
                    batched=True,
                    batch_size=batch_size,
                    remove_columns=[IMAGE_COLUMN],
                    features=features,
                    keep_in_memory=True,
                    load_from_cache_file=False,
                    new_fingerprint=f"tokens-{name}-{i}",
                )
                save_atomic(tokens, shard_dir)
                seconds += time.perf_counter() - start
                encoded += len(piece)
                done += 1
    finally:
        bar.close()

    complete = all(
        (partial / name / f"{i:05d}-of-{counts[name]:05d}").is_dir() for name in ds for i in range(counts[name])
    )
    rate = encoded / seconds if seconds > 0 else float("nan")
    metrics = {
        "images": encoded,
        "seconds": round(seconds, 3),
        "images_per_s": rate,
        "shards_done": done,
        "shards_skipped": skipped,
        "complete": complete,
        "out": str(out),
    }
    if progress:
        print(
            f"encoded {encoded} images in {seconds:.1f} s ({rate:.1f} images/s); "
            f"{done} shards written, {skipped} reused"
        )
    if not complete:
        return metrics

    meta = {
        "codebook_size": info["codebook_size"],
        "grid_shape": info["grid_shape"],
        "image_size": info["image_size"],
        "downsample": info["downsample"],
        "tokenizer": tokenizer_path or getattr(model, "name_or_path", None),
        "tokenizer_sha256": info["weights_sha256"],
    }
    shards = {
        name: [
            datasets.load_from_disk(str(partial / name / f"{i:05d}-of-{counts[name]:05d}")) for i in range(counts[name])
        ]
        for name in ds
    }
    write_tokens({name: parts or [_empty(ds[name])] for name, parts in shards.items()}, out, meta, format)
    shutil.rmtree(partial, ignore_errors=True)
    return metrics


def _empty(split: datasets.Dataset) -> datasets.Dataset:
    features = _output_features(split)
    return datasets.Dataset.from_dict({k: [] for k in features}, features=features)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="stage-1 tokenizer folder (config.json + model.safetensors)")
    parser.add_argument("--data", required=True, help="a saved dataset folder or a folder of images")
    parser.add_argument("--out", required=True, help="output folder (replaced atomically when done)")
    parser.add_argument("--format", choices=FORMATS, default="arrow")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--resize",
        dest="on_size_mismatch",
        action="store_const",
        const="resize",
        help="resize images of another size to the tokenizer's size (default)",
    )
    size.add_argument(
        "--reject",
        dest="on_size_mismatch",
        action="store_const",
        const="reject",
        help="stop with an error at the first image of another size",
    )
    parser.set_defaults(on_size_mismatch="resize")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--num-shards",
        type=int,
        default=None,
        help=f"shards per split (default: one per {DEFAULT_SHARD_ROWS} images); finished shards are reused",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip and count image files that cannot be used instead of stopping at the first",
    )
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> None:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    from stage1_vqvae import load_tokenizer

    model = load_tokenizer(args.model, device=device)
    data = load_images(args.data, skip_bad_images=args.skip_bad_images)
    export_tokens(
        model,
        data,
        args.out,
        format=args.format,
        batch_size=args.batch_size,
        on_size_mismatch=args.on_size_mismatch,
        num_shards=args.num_shards,
        progress=not args.no_progress,
    )
    meta = json.loads((Path(args.out) / META_FILE).read_text())
    print(
        f"wrote {args.format} tokens to {args.out} (grid {meta['grid_shape'][0]}x{meta['grid_shape'][1]}, "
        f"K={meta['codebook_size']})"
    )
