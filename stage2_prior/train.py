"""``qvae train-prior``: train the stage-2 prior on exported tokens, on ``accelerate``.

One file for one CPU process, N GPUs or several nodes (``accelerate launch``). The loss
counts code positions only; conditions are dropped to the null tokens with probability
``--cond-drop`` so one model samples guided and unguided. Evaluation reports bits per
code token. Checkpoints (``save_state``) are atomic and verified; ``--resume`` continues
exactly where the last complete one stopped. The final model goes to ``OUT/model``
(``save_pretrained``: safetensors, config with the vocabulary, generation_config.json).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from shared.files import save_atomic
from shared.training import (TrainingArguments, args_dict, global_batch, make_accelerator,
                             make_optimizer, micro_batches, resume_from_latest, save_checkpoint)

from .data import load_tokens, make_batch, split_tensors
from .model import FAMILIES, PRESETS, build_prior, num_parameters

# Defaults for the `small` preset on a 2-core CPU: ~15-18 minutes (see benchmarks/RESULTS.md).
DEFAULTS = dict(steps=1600, batch_size=64, lr=1.5e-3, warmup_steps=100, weight_decay=0.01, mixed_precision="bf16")


@dataclass
class PriorTrainingArguments(TrainingArguments):
    tokens: str = ""
    preset: str = "small"
    family: str = "llama"
    cond_drop: float = 0.1
    holdout_times: list = field(default_factory=list)
    eval_batch_size: int = 256
    max_eval_samples: int = 2000
    progress: bool = True


def parse_times(text) -> list[tuple[int, int]]:
    """'3:45,11:00' (or a list of (h, m) / 'h:m') -> [(3, 45), (11, 0)]; hour 12 is read as 0."""
    if not text:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                h, m = (int(x) for x in item.strip().split(":"))
            except ValueError:
                raise ValueError(f"bad time {item!r}: write h:mm, e.g. 3:45") from None
        else:
            h, m = (int(x) for x in item)
        h = 0 if h == 12 else h
        if not (0 <= h < 12 and 0 <= m < 60):
            raise ValueError(f"bad time {h}:{m:02d}: hour 0..11 (or 12), minute 0..59")
        out.append((h, m))
    return out


@torch.no_grad()
def evaluate(accelerator, model, dataset, vocab, batch_size: int, max_samples: int) -> float:
    """Mean loss over code tokens of ``dataset`` (conditions kept), in bits per token."""
    model.eval()
    n = min(len(dataset), max_samples)
    rows = torch.arange(accelerator.process_index, n, accelerator.num_processes)
    total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    for i in range(0, len(rows), batch_size):
        ids, hour, minute = dataset[rows[i: i + batch_size]]
        input_ids, labels = make_batch(vocab, ids, hour, minute)
        loss = model(input_ids=input_ids.to(accelerator.device), labels=labels.to(accelerator.device)).loss
        count = (labels[:, 1:] != -100).sum()
        total += torch.tensor([loss.item() * count.item(), count.item()], dtype=torch.float64, device=accelerator.device)
    total = accelerator.reduce(total, "sum")
    model.train()
    return float(total[0] / total[1].clamp(min=1) / math.log(2))


def train_prior(tokens_dir, out, preset: str = "small", family: str = "llama", steps: int = DEFAULTS["steps"],
                batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"], cond_drop: float = 0.1,
                holdout_times=None, mixed_precision: str = DEFAULTS["mixed_precision"], grad_accum: int = 1, eval_every: int = 500,
                save_every: int = 500, log_every: int = 50, seed: int = 0, resume: bool = False,
                warmup_steps: int = DEFAULTS["warmup_steps"], weight_decay: float = DEFAULTS["weight_decay"],
                progress: bool = True, model_overrides: dict | None = None):
    """Train a prior on a token folder; return ``(model, metrics)``. The model is also saved
    to ``out/model`` (``metrics["model_path"]``)."""
    args = PriorTrainingArguments(out=str(out), tokens=str(tokens_dir), preset=preset, family=family, steps=steps,
                                  batch_size=batch_size, lr=lr, cond_drop=cond_drop,
                                  holdout_times=parse_times(holdout_times), mixed_precision=mixed_precision,
                                  grad_accum=grad_accum, eval_every=eval_every, save_every=save_every,
                                  log_every=log_every, seed=seed, resume=resume, warmup_steps=warmup_steps,
                                  weight_decay=weight_decay, progress=progress)
    return _train(args, model_overrides or {})


def _check(args: PriorTrainingArguments):
    if args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}: choose one of {', '.join(PRESETS)}")
    if args.family not in FAMILIES:
        raise ValueError(f"unknown family {args.family!r}: choose one of {', '.join(FAMILIES)}")
    for name in ("steps", "batch_size", "grad_accum", "eval_every", "save_every", "log_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if not 0.0 <= args.cond_drop < 1.0:
        raise ValueError(f"--cond-drop must be in [0, 1), got {args.cond_drop}")
    if args.lr <= 0:
        raise ValueError(f"--lr must be > 0, got {args.lr}")


def _train(args: PriorTrainingArguments, overrides: dict):
    _check(args)
    dd, vocab = load_tokens(args.tokens)
    train_ds = split_tensors(dd["train"], vocab, args.holdout_times)
    val_split = dd["validation"] if "validation" in dd else None
    val_ds = split_tensors(val_split, vocab) if val_split is not None and len(val_split) else None
    Path(args.out).mkdir(parents=True, exist_ok=True)
    accelerator = make_accelerator(args)
    model = build_prior(vocab.codebook_size, vocab.grid_shape, args.preset, args.family, **overrides)
    optimizer, schedule = make_optimizer(model, args)
    loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.num_workers, generator=torch.Generator().manual_seed(args.seed))
    # the schedule is stepped by hand once per optimizer step (accelerate would step it
    # num_processes times), and registered so save_state / load_state carry it
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    accelerator.register_for_checkpointing(schedule)
    config = {**args_dict(args), "holdout_times": len(args.holdout_times), "params": num_parameters(model)}
    accelerator.init_trackers("prior", config=config)
    accelerator.print(f"prior: {args.family}/{args.preset}, {num_parameters(model) / 1e6:.2f} M parameters, "
                      f"K={vocab.codebook_size}, grid {vocab.grid_shape}, {len(train_ds)} training grids"
                      f"{f' ({len(args.holdout_times)} times held out)' if args.holdout_times else ''}, "
                      f"global batch {global_batch(accelerator, args)} = {args.batch_size} x "
                      f"{accelerator.num_processes} processes x {args.grad_accum} accumulation, "
                      f"mixed precision {args.mixed_precision}")
    start = resume_from_latest(accelerator, args.out) if args.resume else 0
    total = args.steps * args.grad_accum
    bar = tqdm(total=args.steps, initial=start // args.grad_accum, desc="prior", unit="step",
               disable=not (args.progress and accelerator.is_local_main_process))
    metrics: dict = {"eval_bits_per_token": None}
    t0, seen, running = time.perf_counter(), 0, []
    model.train()
    for micro_step, (ids, hour, minute) in micro_batches(accelerator, loader, start, total, args.seed):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + micro_step * 101 + accelerator.process_index)
        drop = torch.rand(len(ids), generator=g) < args.cond_drop
        input_ids, labels = make_batch(vocab, ids.cpu(), hour.cpu(), minute.cpu(), drop)
        input_ids, labels = input_ids.to(accelerator.device), labels.to(accelerator.device)
        with accelerator.accumulate(model):
            loss = model(input_ids=input_ids, labels=labels).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        running.append(loss.detach().float())
        seen += len(ids)
        if not accelerator.sync_gradients:
            continue
        schedule.step()
        step = (micro_step + 1) // args.grad_accum
        bar.update(1)
        if step % args.log_every == 0 or step == args.steps:
            train_loss = torch.stack(running).mean().item()
            running = []
            bar.set_postfix(bits=f"{train_loss / math.log(2):.3f}")
            accelerator.log({"train/bits_per_token": train_loss / math.log(2), "train/lr": schedule.get_last_lr()[0],
                             "train/seq_per_s": seen * accelerator.num_processes / (time.perf_counter() - t0)}, step=step)
            metrics["train_bits_per_token"] = train_loss / math.log(2)
        if val_ds is not None and (step % args.eval_every == 0 or step == args.steps):
            bits = evaluate(accelerator, model, val_ds, vocab, args.eval_batch_size, args.max_eval_samples)
            metrics["eval_bits_per_token"] = bits
            accelerator.log({"eval/bits_per_token": bits}, step=step)
            accelerator.print(f"step {step}: eval {bits:.4f} bits/token")
        if step % args.save_every == 0 and step < args.steps:
            save_checkpoint(accelerator, args.out, micro_step + 1, extra={"step": step})
    bar.close()
    elapsed = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    path = Path(args.out) / "model"
    if accelerator.is_main_process:
        save_atomic(unwrapped, path)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    metrics.update(steps=args.steps, seconds=elapsed, seq_per_s=seen * accelerator.num_processes / max(elapsed, 1e-9),
                   params=num_parameters(unwrapped), model_path=str(path), train_samples=len(train_ds))
    if accelerator.is_main_process:
        (Path(args.out) / "metrics.json").write_text(json.dumps(metrics, indent=1))
    eb = metrics["eval_bits_per_token"]
    accelerator.print(f"done: {args.steps} steps in {elapsed / 60:.1f} min ({metrics['seq_per_s']:.0f} seq/s this run), "
                      f"eval {'n/a' if eb is None else f'{eb:.4f}'} bits/token, model saved to {path}")
    return unwrapped, metrics


def load_prior(path, **kwargs):
    """A saved prior (``OUT/model``) with its vocabulary checked."""
    from transformers import AutoModelForCausalLM

    from .vocab import prior_vocab

    if not Path(path).is_dir():
        raise FileNotFoundError(f"no prior at {path}")
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    prior_vocab(model)
    return model.eval()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--tokens", required=True, help="token folder (tokens.json + DatasetDict with ids, hour, minute)")
    a("--out", required=True, help="output folder: model/, checkpoints/, logs/, metrics.json")
    a("--preset", default="small", choices=list(PRESETS), help="model size (default small: the CPU default)")
    a("--family", default="llama", choices=list(FAMILIES))
    a("--steps", type=int, default=DEFAULTS["steps"], help="optimizer steps")
    a("--batch-size", type=int, default=DEFAULTS["batch_size"], help="per-process batch")
    a("--lr", type=float, default=DEFAULTS["lr"])
    a("--warmup-steps", type=int, default=DEFAULTS["warmup_steps"])
    a("--weight-decay", type=float, default=DEFAULTS["weight_decay"])
    a("--mixed-precision", default=DEFAULTS["mixed_precision"], choices=["no", "bf16", "fp16"],
      help="bf16 autocast (default: 1.6x faster than fp32 on this AVX512-bf16 CPU)")
    a("--grad-accum", type=int, default=1)
    a("--eval-every", type=int, default=500)
    a("--save-every", type=int, default=500)
    a("--log-every", type=int, default=50)
    a("--resume", action="store_true", help="continue from the last complete checkpoint in --out")
    a("--seed", type=int, default=0)
    a("--cond-drop", type=float, default=0.1, help="probability of replacing the condition with null tokens")
    a("--holdout-times", default="", help="comma-separated h:mm times left out of training, e.g. 3:45,7:10")
    a("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> None:
    train_prior(args.tokens, args.out, preset=args.preset, family=args.family, steps=args.steps,
                batch_size=args.batch_size, lr=args.lr, cond_drop=args.cond_drop, holdout_times=args.holdout_times,
                mixed_precision=args.mixed_precision, grad_accum=args.grad_accum, eval_every=args.eval_every,
                save_every=args.save_every, log_every=args.log_every, seed=args.seed, resume=args.resume,
                warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, progress=not args.no_progress)
