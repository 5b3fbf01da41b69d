"""``qvae train-prior``: train the stage-2 prior on a token folder.

Through the one training loop (``shared.training.fit``): this file supplies the prior built
from the folder's codebook and the condition fields chosen among its label columns, the
batch -> loss step (all conditions dropped to their null tokens with probability
``cond_drop``, else each field with a per-sequence random rate, so one model samples
guided and unguided, with any subset of the fields; the loss counts code positions only) and the evaluation, bits per code token on the validation
split. The model is saved with ``save_pretrained`` (safetensors, the vocabulary in its
config, generation_config.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from transformers import AutoModelForCausalLM

from shared.loading import load_config
from shared.training import COMPILE_HELP, OPTIMIZER_HELP, Compile, OptimizerName, TrainingArguments, arg, fit

from .data import DEFAULT_MAX_VALUES, bits_per_token, infer_fields, load_tokens, make_batch, split_tensors
from .model import FAMILIES, PRESETS, build_prior, load_prior, uses_dial
from .vocab import Vocab, prior_vocab


@dataclass(kw_only=True)
class PriorTrainingArguments(TrainingArguments):
    tokens: str = arg(help="token folder (qvae tokenize: arrow, parquet or jsonl)", required=True)
    preset: Literal[tuple(PRESETS)] = arg("small", "model size")
    family: Literal[tuple(FAMILIES)] = arg("llama", "transformers model family")
    dial: bool = arg(True, "with numeric hour and minute fields, add each code cell's place relative to the hands")
    steps: int = arg(650, "optimizer steps")
    lr: float = arg(1.5e-3, "peak learning rate")
    weight_decay: float = arg(0.01, "AdamW weight decay, on matrices only")
    optimizer: OptimizerName = arg("muon", OPTIMIZER_HELP)
    compile: Compile = arg("auto", COMPILE_HELP)
    conditions: str = arg("hour,minute", "comma-separated label columns of the token folder to condition on")
    max_values: int = arg(DEFAULT_MAX_VALUES, "most distinct values a condition column may have (a category)")
    cond_drop: float = arg(0.1, "probability of replacing all conditions with their null tokens (for guidance)")
    field_drop: float = arg(
        1.0,
        "otherwise each field is left open with probability r, r ~ U(0, field_drop) per "
        "sequence, so one prior samples with any subset of the fields given",
    )
    init_from: str | None = arg(
        None,
        "a prior folder (e.g. a pipeline's prior/) to fine-tune instead of a fresh prior: its vocabulary, "
        "size and family are kept, --conditions must be among its fields and the others are left open",
    )
    holdout_times: str = arg("", "comma-separated h:mm times left out of training, e.g. 3:45,7:10")
    max_eval_samples: int = arg(2000, "validation grids used for bits per token")

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.cond_drop < 1.0 or not 0.0 <= self.field_drop <= 1.0:
            raise ValueError(
                f"--cond-drop must be in [0, 1) and --field-drop in [0, 1], got {self.cond_drop} and {self.field_drop}"
            )
        if not self.condition_names:
            raise ValueError("--conditions names no column: give at least one, e.g. hour,minute")
        parse_times(self.holdout_times)  # fail before any work

    @property
    def condition_names(self) -> list[str]:
        return [c.strip() for c in self.conditions.split(",") if c.strip()]


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


def start_vocab(path, data: Vocab) -> Vocab:
    """The vocabulary of the prior at ``path`` to fine-tune on tokens of vocabulary ``data``: same codebook
    and grid, every field of the data's among the prior's with each of its values, else a ValueError saying
    which."""
    vocab = prior_vocab(load_config(AutoModelForCausalLM, path, "prior"))  # its config: no weights read
    if (vocab.codebook_size, vocab.grid_shape) != (data.codebook_size, data.grid_shape):
        raise ValueError(
            f"the prior at {str(path)!r} models {vocab.codebook_size} codes on a {vocab.grid_shape} grid, the "
            f"tokens have {data.codebook_size} on {data.grid_shape}: tokenize with that prior's tokenizer"
        )
    missing = [f.name for f in data.fields if f.name not in vocab.names]
    if missing:
        raise ValueError(
            f"the prior at {str(path)!r} is conditioned on {', '.join(vocab.names)} and cannot learn {', '.join(missing)}"
        )
    for f in data.fields:
        known = {str(v).lower() for v in vocab.field(f.name).values}
        unknown = [v for v in f.values if str(v).lower() not in known]
        if unknown:
            raise ValueError(f"the prior at {str(path)!r} has no value {unknown[0]!r} in its field {f.name!r}")
    return vocab


def train_prior(args: PriorTrainingArguments, **model_overrides):
    """Train a prior on ``args.tokens``, save it to ``args.out/model``; return ``(model, metrics)``.
    ``model_overrides`` change fields of the preset's config (e.g. ``hidden_size=96``)."""
    dd, meta = load_tokens(args.tokens)
    fields = infer_fields(dd["train"], args.condition_names, args.max_values)
    vocab = Vocab(int(meta["codebook_size"]), tuple(meta["grid_shape"]), fields)
    if args.init_from:
        vocab = start_vocab(args.init_from, vocab)
        make_model, what = partial(load_prior, args.init_from), f"fine-tuned from {args.init_from}"
    else:
        what = f"{args.family}/{args.preset}" + (", dial" if uses_dial(vocab, args.family, args.dial) else "")
        make_model = partial(
            build_prior,
            vocab.codebook_size,
            vocab.grid_shape,
            args.preset,
            args.family,
            fields,
            args.dial,
            **model_overrides,
        )
    given = set(args.condition_names)
    train = split_tensors(dd["train"], vocab, parse_times(args.holdout_times), given)
    val = split_tensors(dd["validation"], vocab, given=given) if "validation" in dd and len(dd["validation"]) else None

    def compute_loss(model, batch, generator):
        ids, index = batch
        rate = torch.rand(len(ids), 1, generator=generator) * args.field_drop
        drop = torch.rand(index.shape, generator=generator) < rate
        drop |= torch.rand(len(ids), 1, generator=generator) < args.cond_drop
        input_ids, labels = make_batch(vocab, ids.cpu(), index.cpu(), drop)
        device = next(model.parameters()).device
        return model(input_ids=input_ids.to(device), labels=labels.to(device)).loss

    def evaluate(model, step):
        ids, index = val[: args.max_eval_samples]
        return {"bits_per_token": bits_per_token(model, ids, index)}

    return fit(
        args,
        make_model,
        train,
        compute_loss,
        evaluate if val is not None else None,
        name=f"prior ({what}, K={vocab.codebook_size}, grid {vocab.grid_shape}, "
        f"fields {', '.join(f'{f.name} ({len(f.values)})' for f in fields)})",
    )


ARGUMENTS = (PriorTrainingArguments,)


def run(args: PriorTrainingArguments) -> None:
    train_prior(args)
