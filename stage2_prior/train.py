"""``qvae train-prior``: train the stage-2 prior on a token folder.

Through the one training loop (``shared.training.fit``): this file supplies the prior built
from the folder's vocabulary, the batch -> loss step (conditions dropped to their null
tokens with probability ``cond_drop``, so one model samples guided and unguided; the loss
counts code positions only) and the evaluation, bits per code token on the validation
split. The model is saved with ``save_pretrained`` (safetensors, the vocabulary in its
config, generation_config.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from shared.training import TrainingArguments, arg, fit

from .data import bits_per_token, load_tokens, make_batch, split_tensors
from .model import FAMILIES, PRESETS, build_prior


@dataclass(kw_only=True)
class PriorTrainingArguments(TrainingArguments):
    tokens: str = arg(help="token folder (qvae tokenize: arrow, parquet or jsonl)", required=True)
    preset: Literal[tuple(PRESETS)] = arg("small", "model size")
    family: Literal[tuple(FAMILIES)] = arg("llama", "transformers model family")
    steps: int = arg(1500, "optimizer steps")
    lr: float = arg(1.5e-3, "peak learning rate")
    weight_decay: float = arg(0.01, "AdamW weight decay, on matrices only")
    cond_drop: float = arg(0.1, "probability of replacing the conditions with their null tokens (for guidance)")
    holdout_times: str = arg("", "comma-separated h:mm times left out of training, e.g. 3:45,7:10")
    max_eval_samples: int = arg(2000, "validation grids used for bits per token")

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.cond_drop < 1.0:
            raise ValueError(f"--cond-drop must be in [0, 1), got {self.cond_drop}")
        parse_times(self.holdout_times)  # fail before any work


def parse_times(text: str) -> list[tuple[int, int]]:
    """'3:45,11:00' -> [(3, 45), (11, 0)]; hour 12 is read as 0."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        try:
            h, m = (int(x) for x in item.split(":"))
        except ValueError:
            raise ValueError(f"bad time {item!r} in --holdout-times: write h:mm, e.g. 3:45") from None
        h = 0 if h == 12 else h
        if not (0 <= h < 12 and 0 <= m < 60):
            raise ValueError(f"bad time {item!r} in --holdout-times: hour 0..11 (or 12), minute 0..59")
        out.append((h, m))
    return out


def train_prior(args: PriorTrainingArguments, **model_overrides):
    """Train a prior on ``args.tokens``, save it to ``args.out/model``; return ``(model, metrics)``.
    ``model_overrides`` change fields of the preset's config (e.g. ``hidden_size=96``)."""
    dd, vocab = load_tokens(args.tokens)
    train = split_tensors(dd["train"], vocab, parse_times(args.holdout_times))
    val = split_tensors(dd["validation"], vocab) if "validation" in dd and len(dd["validation"]) else None

    def compute_loss(model, batch, generator):
        ids, hour, minute = batch
        drop = torch.rand(len(ids), generator=generator) < args.cond_drop
        input_ids, labels = make_batch(vocab, ids.cpu(), hour.cpu(), minute.cpu(), drop)
        device = next(model.parameters()).device
        return model(input_ids=input_ids.to(device), labels=labels.to(device)).loss

    def evaluate(model, step):
        ids, hour, minute = val[: args.max_eval_samples]
        return {"bits_per_token": bits_per_token(model, ids, hour, minute)}

    return fit(args, lambda: build_prior(vocab.codebook_size, vocab.grid_shape, args.preset, args.family,
                                         **model_overrides), train, compute_loss, evaluate if val is not None else None,
               name=f"prior ({args.family}/{args.preset}, K={vocab.codebook_size}, grid {vocab.grid_shape})")


ARGUMENTS = (PriorTrainingArguments,)


def run(args: PriorTrainingArguments) -> None:
    train_prior(args)
