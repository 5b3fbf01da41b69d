"""The token folder: the one on-disk format of image tokens, written by the exporter
(``qvae tokenize``) and read by the prior's trainer and by LLM training code.

    DIR/tokens.json     {"codebook_size": K, "grid_shape": [h, w], "format": ..., "splits": {...}, ...}
    arrow:              DIR/dataset_dict.json, DIR/<split>/...   (``DatasetDict.save_to_disk``)
    parquet / jsonl:    DIR/<split>/shard-00000-of-00004.<parquet|jsonl>

Every split has a column ``ids`` (``Sequence(Value("int16"))``: the ``h x w`` grid of code
ids flattened row-major) and keeps every label column of the images it came from (hour,
minute, style words, a class, ...). ``read_tokens`` gives the same rows and dtypes back
from any of the three formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from shared.files import atomic_dir

META_FILE = "tokens.json"
FORMATS = ("arrow", "parquet", "jsonl")
IDS = "ids"


def ids_feature() -> datasets.Sequence:
    return datasets.Sequence(datasets.Value("int16"))


def write_tokens(splits: dict[str, list[datasets.Dataset]], out: str | Path, meta: dict, format: str = "arrow") -> Path:
    """Write ``{split: [shard, ...]}`` to the token folder ``out`` atomically.

    ``meta`` must hold ``codebook_size`` and ``grid_shape``; ``format``, ``splits`` (rows,
    features and files per split) are added here.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    missing = {"codebook_size", "grid_shape"} - set(meta)
    if missing:
        raise ValueError(f"token metadata lacks {', '.join(sorted(missing))}")
    meta = {**meta, "format": format, "dtype": "int16", "layout": "row-major", "splits": {}}
    with atomic_dir(out) as tmp:
        whole = {}
        for name, shards in splits.items():
            whole[name] = datasets.concatenate_datasets(shards) if len(shards) > 1 else shards[0]
            info = {"num_rows": len(whole[name]), "features": whole[name].features.to_dict()}
            if format != "arrow":
                (tmp / name).mkdir(parents=True, exist_ok=True)
                info["files"] = []
                for i, shard in enumerate(shards):
                    rel = f"{name}/shard-{i:05d}-of-{len(shards):05d}.{format}"
                    if format == "parquet":
                        shard.to_parquet(str(tmp / rel))
                    else:
                        shard.to_json(str(tmp / rel), lines=True)
                    info["files"].append(rel)
            meta["splits"][name] = info
        if format == "arrow":
            datasets.DatasetDict(whole).save_to_disk(str(tmp))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
    return Path(out)


def read_meta(path: str | Path) -> dict:
    """``tokens.json`` of a token folder, with a clear error when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no token folder at {str(path)!r}")
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{str(meta_path)!r} is missing: not a token folder (write one with qvae tokenize)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(meta_path)!r} is not valid JSON: {e}") from None
    missing = {"codebook_size", "grid_shape"} - set(meta)
    if missing:
        raise ValueError(f"{str(meta_path)!r} lacks {', '.join(sorted(missing))}")
    return meta


def read_tokens(path: str | Path) -> tuple[datasets.DatasetDict, dict]:
    """A token folder in any format -> ``(DatasetDict, tokens.json metadata)``."""
    path = Path(path)
    meta = read_meta(path)
    fmt = meta.get("format", "arrow")
    if fmt not in FORMATS:
        raise ValueError(f"{str(path / META_FILE)!r} names an unknown format {fmt!r} (accepted: {', '.join(FORMATS)})")
    if fmt == "arrow":
        ds = datasets.load_from_disk(str(path))
        return (ds if isinstance(ds, datasets.DatasetDict) else datasets.DatasetDict({"train": ds})), meta
    splits = {}
    for name, info in meta["splits"].items():
        features = datasets.Features.from_dict(info["features"])
        tables = []
        for rel in info["files"]:
            file = path / rel
            if fmt == "parquet":
                tables.append(datasets.Dataset(pq.read_table(str(file))).cast(features))
            elif file.stat().st_size:  # an empty jsonl shard has no schema to read
                tables.append(datasets.Dataset(pa_json.read_json(str(file))).cast(features))
        splits[name] = (
            datasets.concatenate_datasets(tables)
            if tables
            else datasets.Dataset.from_dict({k: [] for k in features}, features=features)
        )
    return datasets.DatasetDict(splits), meta
