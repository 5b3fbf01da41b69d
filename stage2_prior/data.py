"""Token data: a ``datasets.DatasetDict`` of code grids + label columns, the condition
fields drawn from those columns, and the batch builder.

The token folder's format is ``shared.tokens`` (written by ``qvae tokenize``, or by
``write_token_folder`` for tests); it may be arrow, parquet or jsonl. Columns used: ``ids`` (int16, the h*w grid flattened row-major) and the label columns
named as the prior's condition fields (hour, minute, style words, a class, ...).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .vocab import OPEN, Field, Vocab

IGNORE = -100


DEFAULT_MAX_VALUES = 1000


def load_tokens(tokens_dir) -> tuple:
    """(DatasetDict, metadata) from a token folder in any of its formats (arrow, parquet, jsonl)."""
    from shared.tokens import read_tokens  # datasets and pyarrow load on use: sampling needs neither

    dd, meta = read_tokens(tokens_dir)
    if "train" not in dd:
        raise ValueError(f"{tokens_dir} has no 'train' split (splits: {', '.join(dd)})")
    return dd, meta


def column_values(split, name: str) -> list:
    """A label column's values; an integer ``hour`` column is read on the 12-hour dial (12 and 0..23 as 0..11),
    so clocks labelled 1..12 or 0..23 get the dial's hours and time prompts ("noon") find them."""
    from datasets import ClassLabel

    feature = split.features[name]
    values = split[name]
    if isinstance(feature, ClassLabel):
        return [feature.names[v] for v in values]
    if name == "hour" and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 24 for v in values):
        return [v % 12 for v in values]
    return values


def infer_fields(split, names: list[str], max_values: int = DEFAULT_MAX_VALUES) -> tuple[Field, ...]:
    """Condition fields from a split's label columns (the train split's, so value lists come from it).

    Integers 0..N-1 become the field 0..N-1 (every hour of the dial, even one missing from the
    data); other values their sorted distinct values. A missing column, a missing value or more
    than ``max_values`` distinct values (not a category) is a ValueError that says so.
    """
    fields = []
    for name in names:
        if name not in split.column_names:
            raise ValueError(
                f"no column {name!r} to condition on; the columns are: "
                f"{', '.join(c for c in split.column_names if c not in ('ids', 'image'))}"
            )
        values = column_values(split, name)
        missing = [i for i, v in enumerate(values) if v is None or v == "" or (isinstance(v, float) and math.isnan(v))]
        if missing:
            raise ValueError(
                f"column {name!r} has missing values ({len(missing)} rows, the first is row {missing[0]}); "
                "fill them or leave the column out of --conditions"
            )
        many = next((v for v in values if isinstance(v, (list, tuple, dict))), None)
        if many is not None:
            raise ValueError(
                f"column {name!r} holds {type(many).__name__}s (e.g. {many!r}); a condition is one value "
                "per image (a word or a number): leave the column out of --conditions"
            )
        distinct = set(values)
        if len(distinct) > max_values:
            raise ValueError(
                f"column {name!r} has {len(distinct)} distinct values, more than the {max_values} a "
                f"category may have; raise the limit with --max-values or leave the column out"
            )
        if (
            all(isinstance(v, int) and not isinstance(v, bool) for v in distinct)
            and min(distinct) >= 0
            and max(distinct) < max_values
        ):
            fields.append(Field(name, tuple(range(max(distinct) + 1))))
        else:
            fields.append(Field(name, tuple(sorted(distinct, key=str))))
    return tuple(fields)


def split_tensors(split, vocab: Vocab, holdout_times=None, given=None) -> TensorDataset:
    """A TensorDataset (ids [N, h*w] long, condition index [N, n]) held in memory. A value that
    is not in the vocabulary (a class seen only outside the train split) is left open, and so is
    every field not named in ``given`` (default: all); rows whose (hour, minute) is in
    ``holdout_times`` are left out."""
    if "ids" not in split.column_names:
        raise ValueError(f"token split lacks column 'ids' (has {', '.join(split.column_names)})")
    table = split.with_format("numpy", columns=["ids"])[:]
    ids = np.asarray(table["ids"]) if not isinstance(table["ids"], list) else np.stack(table["ids"])
    ids = torch.as_tensor(ids.astype(np.int64))
    if ids.ndim != 2 or ids.shape[1] != vocab.num_codes:
        raise ValueError(
            f"ids have shape {tuple(ids.shape)}, expected [N, {vocab.num_codes}] for grid {vocab.grid_shape}"
        )
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab.codebook_size):
        raise ValueError(f"code ids out of range [0, {vocab.codebook_size})")
    index = torch.full((len(ids), vocab.num_cond), OPEN, dtype=torch.long)
    for j, f in enumerate(vocab.fields):
        if given is not None and f.name not in given:
            continue
        if f.name not in split.column_names:
            raise ValueError(f"token split lacks the condition column {f.name!r} (has {', '.join(split.column_names)})")
        lookup = {str(v).lower(): i for i, v in enumerate(f.values)}
        index[:, j] = torch.tensor(
            [lookup.get(str(v).lower(), OPEN) for v in column_values(split, f.name)], dtype=torch.long
        )
    if holdout_times:
        h, m = vocab.names.index("hour"), vocab.names.index("minute")
        held = torch.tensor([hh * 60 + mm for hh, mm in holdout_times], dtype=torch.long)
        keep = ~torch.isin(index[:, h] * 60 + index[:, m], held)
        ids, index = ids[keep], index[keep]
    return TensorDataset(ids, index)


def make_batch(vocab: Vocab, ids, index, drop=None):
    """``input_ids`` [B, n + h*w] = [conditions, codes] and ``labels`` with the condition
    positions set to -100 (the loss counts code positions only). ``index`` [B, n] holds each
    field's value position (-1: open); where ``drop`` [B, n] is True the field gets its null
    token (guidance training)."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(len(ids), -1)
    index = torch.as_tensor(index, dtype=torch.long).reshape(len(ids), vocab.num_cond)
    if drop is not None:
        index = index.masked_fill(torch.as_tensor(drop, dtype=torch.bool).reshape(index.shape), OPEN)
    input_ids = torch.cat([vocab.condition_ids(index).to(ids.device), ids], dim=1)
    labels = input_ids.clone()
    labels[:, : vocab.num_cond] = IGNORE
    return input_ids, labels


def write_token_folder(
    out, grids, labels: dict, codebook_size: int, val_fraction: float = 0.1, seed: int = 0, format: str = "arrow"
) -> Path:
    """Write a token folder from grids [N, h, w] and label columns ``{name: N values}`` (tests, synthetic data)."""
    from datasets import Dataset

    from shared.tokens import ids_feature, write_tokens

    grids = torch.as_tensor(grids)
    n, h, w = grids.shape
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(round(n * val_fraction)))
    columns = {k: [v.item() if hasattr(v, "item") else v for v in values] for k, values in labels.items()}

    def part(rows):
        data = {"ids": grids.reshape(n, -1)[rows].to(torch.int16).tolist()} | {
            k: [values[i] for i in rows] for k, values in columns.items()
        }
        return [Dataset.from_dict(data).cast_column("ids", ids_feature())]

    meta = {"codebook_size": int(codebook_size), "grid_shape": [h, w]}
    return write_tokens({"train": part(order[n_val:]), "validation": part(order[:n_val])}, out, meta, format)


@torch.no_grad()
def bits_per_token(prior, ids, index, batch_size: int = 256) -> float:
    """Mean negative log-likelihood of code grids ``ids`` [B, h, w] given their conditions
    (index ``[B, n]``, or a list of ``{field: value}``), in bits per code token."""
    from .vocab import prior_vocab

    vocab = prior_vocab(prior)
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(len(ids), -1)
    index = vocab.encode(torch.as_tensor(index) if not isinstance(index, list) else index)
    device = next(prior.parameters()).device
    was_training = prior.training
    prior.eval()
    total = 0.0
    for i in range(0, len(ids), batch_size):
        input_ids, labels = make_batch(vocab, ids[i : i + batch_size], index[i : i + batch_size])
        total += (
            prior(input_ids=input_ids.to(device), labels=labels.to(device)).loss.item()
            * labels[:, vocab.num_cond :].numel()
        )
    prior.train(was_training)
    return total / max(ids.numel(), 1) / math.log(2)
