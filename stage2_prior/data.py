"""Token data: a ``datasets.DatasetDict`` of code grids + hour + minute, and the batch builder.

The token folder's format is ``shared.tokens`` (written by ``qvae tokenize``, or by
``write_token_folder`` for tests); it may be arrow, parquet or jsonl. Columns used: ``ids`` (int16, the h*w grid flattened row-major), ``hour`` (0..11),
``minute`` (0..59); other columns are ignored.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from shared.tokens import ids_feature, read_tokens, write_tokens

from .vocab import Vocab

IGNORE = -100


def load_tokens(tokens_dir) -> tuple:
    """(DatasetDict, Vocab) from a token folder in any of its formats (arrow, parquet, jsonl)."""
    dd, meta = read_tokens(tokens_dir)
    if "train" not in dd:
        raise ValueError(f"{tokens_dir} has no 'train' split (splits: {', '.join(dd)})")
    return dd, Vocab(int(meta["codebook_size"]), tuple(meta["grid_shape"]))


def split_tensors(split, vocab: Vocab, holdout_times=None) -> TensorDataset:
    """A TensorDataset (ids [N, h*w] long, hour [N], minute [N]) held in memory; rows whose
    (hour, minute) is in ``holdout_times`` are left out."""
    for col in ("ids", "hour", "minute"):
        if col not in split.column_names:
            raise ValueError(f"token split lacks column {col!r} (has {', '.join(split.column_names)})")
    table = split.with_format("numpy", columns=["ids", "hour", "minute"])[:]
    ids = np.asarray(table["ids"]) if not isinstance(table["ids"], list) else np.stack(table["ids"])
    ids = torch.as_tensor(ids.astype(np.int64))
    hour = torch.as_tensor(np.asarray(table["hour"]).astype(np.int64))
    minute = torch.as_tensor(np.asarray(table["minute"]).astype(np.int64))
    if ids.ndim != 2 or ids.shape[1] != vocab.num_codes:
        raise ValueError(f"ids have shape {tuple(ids.shape)}, expected [N, {vocab.num_codes}] for grid {vocab.grid_shape}")
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab.codebook_size):
        raise ValueError(f"code ids out of range [0, {vocab.codebook_size})")
    vocab.condition_ids(hour, minute)  # validates the labels
    if holdout_times:
        held = torch.tensor([h * 60 + m for h, m in holdout_times], dtype=torch.long)
        keep = ~torch.isin(hour * 60 + minute, held)
        ids, hour, minute = ids[keep], hour[keep], minute[keep]
    return TensorDataset(ids, hour, minute)


def make_batch(vocab: Vocab, ids, hours, minutes, drop=None):
    """``input_ids`` [B, 2 + h*w] = [hour, minute, codes] and ``labels`` with the condition
    positions set to -100 (the loss counts code positions only). Rows where ``drop`` is True
    get the null condition tokens (classifier-free guidance training)."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(len(ids), -1)
    cond = vocab.condition_ids(hours, minutes).to(ids.device)
    if drop is not None:
        cond = torch.where(torch.as_tensor(drop, device=ids.device).reshape(-1, 1), vocab.null_ids(len(ids)).to(ids.device), cond)
    input_ids = torch.cat([cond, ids], dim=1)
    labels = input_ids.clone()
    labels[:, : vocab.num_cond] = IGNORE
    return input_ids, labels


def write_token_folder(out, grids, hours, minutes, codebook_size: int, val_fraction: float = 0.1, seed: int = 0,
                       format: str = "arrow") -> Path:
    """Write a token folder from grids [N, h, w] and their times (tests, synthetic data)."""
    from datasets import Dataset, Features, Value

    grids = torch.as_tensor(grids)
    n, h, w = grids.shape
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(round(n * val_fraction)))
    features = Features({"ids": ids_feature(), "hour": Value("int8"), "minute": Value("int8")})

    def part(rows):
        return [Dataset.from_dict({"ids": grids.reshape(n, -1)[rows].to(torch.int16).tolist(),
                                   "hour": [int(hours[i]) for i in rows], "minute": [int(minutes[i]) for i in rows]},
                                  features=features)]

    meta = {"codebook_size": int(codebook_size), "grid_shape": [h, w]}
    return write_tokens({"train": part(order[n_val:]), "validation": part(order[:n_val])}, out, meta, format)


@torch.no_grad()
def bits_per_token(prior, ids, hours, minutes, batch_size: int = 256) -> float:
    """Mean negative log-likelihood of code grids ``ids`` [B, h, w] given their times, in bits per code token."""
    from .vocab import prior_vocab

    vocab = prior_vocab(prior)
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(len(ids), -1)
    hours, minutes = torch.as_tensor(hours).reshape(-1), torch.as_tensor(minutes).reshape(-1)
    device = next(prior.parameters()).device
    was_training = prior.training
    prior.eval()
    total = 0.0
    for i in range(0, len(ids), batch_size):
        input_ids, labels = make_batch(vocab, ids[i:i + batch_size], hours[i:i + batch_size], minutes[i:i + batch_size])
        total += prior(input_ids=input_ids.to(device), labels=labels.to(device)).loss.item() * labels[:, vocab.num_cond:].numel()
    prior.train(was_training)
    return total / max(ids.numel(), 1) / math.log(2)
