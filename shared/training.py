"""The one training loop, on ``accelerate``: every trainer of the project runs through ``fit``.

A trainer supplies only what is its own: the model, a dataset, ``compute_loss(model, batch,
generator)`` and ``evaluate(model, step)``. ``fit`` owns the rest: the accelerator and its
mixed precision (chosen by the hardware unless asked for) and the attention kernel that
suits it, ``prepare``, AdamW (or Muon on the hidden matrices, ``--optimizer muon``) with a
warmup + cosine or warmup-stable-decay schedule, gradient accumulation and clipping, the progress bar and
tensorboard, the evaluation cadence, atomic ``save_state`` checkpoints with exact resume,
and the atomic final ``save_pretrained``.

The same code runs on one CPU process or under ``accelerate launch`` on N GPUs or nodes:
the data order depends only on (seed, epoch), so a resumed run sees exactly the batches the
uninterrupted run would have. Settings are one dataclass per trainer (a subclass of
``TrainingArguments``); ``qvae`` turns its fields into command-line options with
``transformers.HfArgumentParser``, so each default is written once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, get_int_from_env, set_seed
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup, get_wsd_schedule

from shared.checkpoints import latest_checkpoint, resume_from_latest, save_checkpoint
from shared.files import save_atomic

Precision = Literal["auto", "no", "bf16", "fp16"]
Compile = Literal["auto", "true", "false"]
OptimizerName = Literal["adamw", "muon"]
# below this many steps a compilation (tens of seconds on 2 CPU cores) costs more than it saves
COMPILE_MIN_STEPS = 500
COMPILE_HELP = (
    "train through torch.compile (inductor; on a CPU it needs a C++ compiler): true, false, or auto: where a "
    f"run of at least {COMPILE_MIN_STEPS} steps pays the compilation back and the compiler is there. "
    "Evaluation and the saved model use the plain module"
)
OPTIMIZER_HELP = (
    "adamw, or muon: Muon (orthogonalised momentum) on the hidden linear layers' matrices, AdamW on the rest "
    "(embeddings, output head, convolutions, norms); one --lr and --weight-decay for both (Muon's step is scaled "
    "to AdamW's size)"
)
ESTIMATE_AFTER = 10  # optimizer steps timed before the run prints its estimate for this machine


def arg(default=None, help: str = "", **metadata):
    """A dataclass field with its command-line help (read by ``HfArgumentParser``)."""
    return field(default=default, metadata={"help": help, **metadata})


def check_at_least(args, least: dict[str, int]) -> None:
    """Refuse a count of ``args`` below its least, named as the flag is typed (``None``: not given)."""
    for name, value in least.items():
        given = getattr(args, name)
        if given is not None and given < value:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {value}, got {given}")


@dataclass(kw_only=True)
class TrainingArguments:
    """What every trainer has. Subclasses add their own fields and change defaults."""

    out: str = arg(help="output folder: model/, checkpoints/, samples/, logs/, metrics.json", required=True)
    steps: int = arg(2000, "optimizer steps")
    batch_size: int = arg(64, "batch per process (the global batch is this x processes x grad_accum)")
    grad_accum: int = arg(1, "micro batches per optimizer step")

    # the optimizer: AdamW or Muon + AdamW, linear warmup into a cosine decay
    lr: float = arg(1e-3, "peak learning rate")
    warmup_steps: int = arg(100, "warmup steps of the learning rate")
    decay_fraction: float = arg(
        1.0,
        "share of the steps after warmup over which the learning rate decays (cosine) to zero; below 1 it "
        "holds the peak until then (warmup-stable-decay)",
    )
    weight_decay: float = arg(0.0, "AdamW weight decay, on matrices only")
    optimizer: OptimizerName = arg("adamw", OPTIMIZER_HELP)
    mixed_precision: Precision = arg(
        "auto", "auto: bf16 where the device computes it natively, else fp32 (fp16 on GPUs without bf16)"
    )
    compile: Compile = arg("false", COMPILE_HELP)

    # every so many optimizer steps (and at the end)
    eval_every: int = arg(500, "optimizer steps between evaluations")
    save_every: int = arg(500, "optimizer steps between checkpoints")
    log_every: int = arg(50, "optimizer steps between tensorboard logs")

    seed: int = arg(0, "seed of the initialisation, the data order and the random choices in the loss")
    resume: bool = arg(False, "continue from the latest complete checkpoint in --out")
    progress: bool = arg(True, "show a progress bar")
    num_workers: int = arg(0, "DataLoader worker processes")

    def __post_init__(self):
        if not self.out:
            raise ValueError("--out is required: the folder to write the model, checkpoints and logs to")
        check_at_least(
            self, dict.fromkeys(("steps", "batch_size", "grad_accum", "eval_every", "save_every", "log_every"), 1)
        )
        if self.lr <= 0 or self.warmup_steps < 0 or self.weight_decay < 0 or self.num_workers < 0:
            raise ValueError("--lr must be > 0 and --warmup-steps, --weight-decay, --num-workers >= 0")
        if not 0.0 < self.decay_fraction <= 1.0:
            raise ValueError(f"--decay-fraction must be in (0, 1], got {self.decay_fraction}")
        if self.optimizer not in OptimizerName.__args__:
            raise ValueError(f"--optimizer must be one of {', '.join(OptimizerName.__args__)}, got {self.optimizer!r}")
        if self.compile not in Compile.__args__:
            raise ValueError(f"--compile must be one of {', '.join(Compile.__args__)}, got {self.compile!r}")
        if self.mixed_precision not in Precision.__args__:
            raise ValueError(
                f"--mixed-precision must be one of {', '.join(Precision.__args__)}, got {self.mixed_precision!r}"
            )

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if isinstance(v, (int, float, str, bool))}


def launched_processes() -> int:
    """How many processes the launcher started (``accelerate launch``, torchrun, MPI), read from
    the environment without touching accelerate's state: a bare ``PartialState()`` made before
    the Accelerator ignores ``ACCELERATE_USE_CPU`` and so would pin a 2-process CPU launch
    (gloo) to two independent single-process runs."""
    return get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), as oneDNN will use it.

    Without it, bf16 autocast falls back to a path ~20x slower than fp32. ``ONEDNN_MAX_CPU_ISA``
    below the bf16 ISAs (e.g. ``AVX2``, to reproduce an older CPU) counts as no.
    """
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if isa and isa != "ALL" and "BF16" not in isa and "AMX" not in isa:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: trust oneDNN's own probe
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16")) and bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def missing_compiler(device_type: str) -> str | None:
    """Why torch.compile cannot build for ``device_type`` (None: it can). On a CPU inductor builds C++."""
    if device_type != "cpu":
        return None
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except Exception as e:
        return f"torch.compile found no C++ compiler on this CPU ({e})"
    return None


def choose_compile(requested: str, steps: int, device_type: str | None = None) -> tuple[bool, str]:
    """``(compile, why)``: as asked, or for ``auto`` where a run this long pays the compilation back.
    Asked for without a compiler, refuse before training (it would fail at the first step, deep in
    a traceback)."""
    if requested == "false":
        return False, "--compile false"
    if requested == "auto" and steps < COMPILE_MIN_STEPS:  # no need to look for a compiler
        return False, f"auto: {steps} steps are too few to pay the compilation back (from {COMPILE_MIN_STEPS})"
    missing = missing_compiler(device_type or training_device_type())
    if requested == "true":
        if missing:
            raise ValueError(f"--compile true: {missing}; install one (g++) or pass --compile false")
        return True, "--compile true"
    if missing:
        return False, f"auto: {missing}"
    return True, f"auto: {steps} steps pay the compilation back"


def choose_attention(model, precision: str, device_type: str) -> str | None:
    """The attention kernel ``model`` trains with: plain matmul + softmax (``eager``) for bf16 on
    the CPU, else the model's own (``sdpa``, torch's fused kernel). At this project's lengths
    (~80-110 tokens) the CPU's fused kernel has a slow bf16 backward: a bf16 step of the default
    prior took 0.80 s with it against 0.46 s eager, where in fp32 it is the faster (0.87 s against
    0.89 s; ``benchmarks/bench_cpu_speed.py``, benchmarks/RESULTS.md). Models without a
    fused attention kernel to choose (the tokenizer) are left as they are: None."""
    if not getattr(model, "_supports_sdpa", False):
        return None
    current = model.config._attn_implementation
    if current == "sdpa" and device_type == "cpu" and precision == "bf16":
        model.set_attn_implementation("eager")
        return "eager"
    return current


def training_device_type() -> str:
    """The device the Accelerator will train on, known before it is made: a GPU unless
    ``ACCELERATE_USE_CPU`` says otherwise."""
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return "cuda" if torch.cuda.is_available() and not use_cpu else "cpu"


def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` computes bf16 in hardware: the one probe behind precision and optimizer."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device_type == "cpu" and cpu_has_native_bf16()


def choose_precision(requested: str, device_type: str | None = None) -> tuple[str, str]:
    """``(precision, why)``: ``requested`` unless it is ``auto``; then what the device does natively."""
    if requested != "auto":
        return requested, "asked for with --mixed-precision"
    device_type = device_type or training_device_type()
    if device_type == "cuda":
        if native_bf16(device_type):
            return "bf16", "auto: this GPU computes bf16 natively"
        return "fp16", "auto: this GPU has no bf16, so fp16 with a gradient scaler"
    if device_type == "cpu":
        if native_bf16(device_type):
            return "bf16", "auto: this CPU has native bf16 (AVX512-BF16 or AMX)"
        return "no", "auto: this CPU has no native bf16 (bf16 autocast would run a slow fallback), so fp32"
    return "no", f"auto: fp32 on {device_type}"


def choose_optimizer(requested: str, device_type: str | None = None) -> tuple[str, str]:
    """``(optimizer, why)``: ``requested``, except that Muon falls back to AdamW where torch has no
    Muon. Muon's Newton-Schulz steps run in bf16 where the device has it natively, else in fp32
    (``newton_schulz_dtype``: bf16 there is a fallback 30 times slower; benchmarks/RESULTS.md)."""
    if requested != "muon":
        return requested, "asked for"
    if not hasattr(torch.optim, "Muon"):  # pyproject allows a torch older than Muon (2.9)
        return "adamw", f"muon asked for, but torch {torch.__version__} has no torch.optim.Muon (2.9 and later)"
    device_type = device_type or training_device_type()
    if newton_schulz_dtype(device_type) == torch.bfloat16:
        return "muon", f"asked for; Newton-Schulz steps in bf16, native on this {device_type}"
    return "muon", f"asked for; Newton-Schulz steps in fp32, as this {device_type} has no native bf16"


def newton_schulz_dtype(device_type: str | None = None) -> torch.dtype:
    """bf16 (torch's Muon) where the device computes it natively, else fp32."""
    return torch.bfloat16 if native_bf16(device_type or training_device_type()) else torch.float32


def make_accelerator(args: TrainingArguments, precision: str, compiled: bool = False) -> Accelerator:
    """An Accelerator that logs to tensorboard under ``out/logs`` and seeds everything.

    accelerate keeps process-wide singletons that refuse a second Accelerator with other
    settings (``qvae train`` runs several trainers in one process), so a single-process run
    starts from a fresh state; a launched multi-process run keeps its own.
    """
    if launched_processes() == 1:
        AcceleratorState._reset_state()
        GradientState._reset_state()
    accelerator = Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=args.grad_accum,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=args.out, logging_dir=str(Path(args.out) / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        # the prepared scheduler is stepped once per optimizer step, by fit (accelerate's
        # default steps it num_processes times, for schedules written in single-process steps)
        step_scheduler_with_optimizer=False,
        dynamo_backend="inductor" if compiled else None,  # None: accelerate's default (its env/config)
    )
    set_seed(args.seed)
    return accelerator


def make_optimizer(model: torch.nn.Module, args: TrainingArguments, optimizer: str | None = None):
    """AdamW (or Muon + AdamW: ``optimizer``, by default ``args.optimizer``) with weight decay on
    matrices only, and linear warmup into a cosine decay over the last ``decay_fraction`` of the
    steps after it (the peak held before: warmup-stable-decay)."""
    hidden = []
    if (optimizer or args.optimizer) == "muon":  # the linear layers between the embeddings and the output head
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        hidden = [
            m.weight
            for m in model.modules()
            if isinstance(m, torch.nn.Linear) and m is not head and m.weight.requires_grad
        ]
    taken = {id(p) for p in hidden}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": args.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    if hidden:
        from shared.muon import MuonAdamW  # here: it subclasses torch.optim.Muon, absent before torch 2.9

        optimizer = MuonAdamW(
            hidden, groups, args.lr, args.weight_decay, betas=(0.9, 0.95), ns_dtype=newton_schulz_dtype()
        )
    else:
        optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    warmup = min(args.warmup_steps, args.steps // 2)
    if args.decay_fraction == 1.0:  # the cosine as it always was (get_wsd_schedule's differs in the last digits)
        return optimizer, get_cosine_schedule_with_warmup(optimizer, warmup, args.steps)
    decay = max(1, round((args.steps - warmup) * args.decay_fraction))
    return optimizer, get_wsd_schedule(optimizer, warmup, decay, num_training_steps=args.steps)


def micro_batches(accelerator: Accelerator, dataloader, start: int, total: int) -> Iterator[tuple[int, object]]:
    """Yield ``(micro_step, batch)`` for micro steps ``start .. total-1``, epoch after epoch.

    The sampler is reseeded per epoch, and a resumed run skips exactly the batches of the
    current epoch already seen (``skip_first_batches``), so none is repeated or missed.
    """
    per_epoch = len(dataloader)
    step = start
    while step < total:
        epoch, offset = divmod(step, per_epoch)
        dataloader.set_epoch(epoch)
        loader = accelerator.skip_first_batches(dataloader, offset) if offset else dataloader
        for batch in loader:
            yield step, batch
            step += 1
            if step >= total:
                return


LossFn = Callable[[torch.nn.Module, object, torch.Generator], "torch.Tensor | tuple[torch.Tensor, dict]"]
EvalFn = Callable[[torch.nn.Module, int], dict]


def _log_eval(accelerator: Accelerator, results: dict, step: int, bar) -> dict:
    """Log an evaluation: numbers to tensorboard and the bar, PIL images to tensorboard only."""
    numbers = {k: v for k, v in results.items() if isinstance(v, (int, float))}
    accelerator.log({f"eval/{k}": v for k, v in numbers.items()}, step=step)
    tracker = accelerator.get_tracker("tensorboard", unwrap=True)
    for name, value in results.items():
        if hasattr(value, "save") and hasattr(tracker, "add_image"):
            tracker.add_image(f"eval/{name}", np.asarray(value), step, dataformats="HWC")
    bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in numbers.items()))
    return numbers


def fit(
    args: TrainingArguments,
    make_model: Callable[[], torch.nn.Module],
    train_data,
    compute_loss: LossFn,
    evaluate: EvalFn | None = None,
    collate_fn=None,
    name: str = "model",
) -> tuple[torch.nn.Module, dict]:
    """Train ``make_model()`` on ``train_data`` and save it to ``args.out/model``; return ``(model, metrics)``.

    The model is built after seeding, so its initialisation depends on ``args.seed`` only.
    ``compute_loss(model, batch, generator)`` returns the loss, or ``(loss, logs)`` with more
    scalars to log; ``generator`` is seeded by (seed, micro step, process) for random choices
    that must be the same when a run resumes. ``evaluate(model, step)`` runs on the main
    process, in eval mode without gradients, every ``eval_every`` steps and at the end; it
    returns numbers (logged, printed, kept in ``metrics.json``) and PIL images (tensorboard).
    ``metrics`` holds the last evaluation plus steps, seconds, samples/s and the precision.
    """
    out = Path(args.out)
    precision, why = choose_precision(args.mixed_precision)
    found = latest_checkpoint(out) if args.resume else None  # verified once: compile and resume use it
    compiled, why_compiled = choose_compile(args.compile, args.steps - (found[1].get("step", 0) if found else 0))
    optimizer_name, why_optimizer = choose_optimizer(args.optimizer)
    accelerator = make_accelerator(args, precision, compiled)
    if len(train_data) < args.batch_size * accelerator.num_processes:
        raise ValueError(
            f"{len(train_data)} training samples are fewer than one batch ({args.batch_size} x "
            f"{accelerator.num_processes} processes): lower --batch-size"
        )
    loader = torch.utils.data.DataLoader(
        train_data,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=collate_fn,
        num_workers=args.num_workers,
        generator=torch.Generator().manual_seed(args.seed),
    )
    model = make_model()
    attention = choose_attention(model, precision, accelerator.device.type)
    optimizer, schedule = make_optimizer(model, args, optimizer_name)
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)
    unwrapped = accelerator.unwrap_model(model, keep_torch_compile=False)
    start = resume_from_latest(accelerator, out, found) if args.resume else 0
    main = accelerator.is_main_process
    params = sum(p.numel() for p in unwrapped.parameters())
    accelerator.init_trackers(
        name,
        config={
            **args.to_dict(),
            "precision": precision,
            "compiled": compiled,
            "optimizer": optimizer_name,
            "parameters": params,
        },
    )
    accelerator.print(
        f"training {name} ({params / 1e6:.2f} M parameters) on {len(train_data)} samples, "
        f"{accelerator.num_processes} process(es), global batch "
        f"{args.batch_size * accelerator.num_processes * args.grad_accum} = {args.batch_size} x "
        f"{accelerator.num_processes} x {args.grad_accum}; precision {precision} ({why})"
        + (f"; attention {attention}" if attention else "")
        + f"; {'compiled' if compiled else 'not compiled'} ({why_compiled}); optimizer {optimizer_name} ({why_optimizer})"
    )
    bar = tqdm(
        total=args.steps,
        initial=start // args.grad_accum,
        desc=f"train {name}",
        unit="step",
        disable=not (args.progress and main),
        dynamic_ncols=True,
    )
    metrics: dict = {}
    running: dict[str, list] = {}
    t0, first_step, seen = time.perf_counter(), None, 0
    model.train()
    for micro, batch in micro_batches(accelerator, loader, start, args.steps * args.grad_accum):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + micro * 101 + accelerator.process_index)
        with accelerator.accumulate(model):
            result = compute_loss(model, batch, g)
            loss, logs = result if isinstance(result, tuple) else (result, {})
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for key, value in {"loss": loss, **logs}.items():
            running.setdefault(key, []).append(torch.as_tensor(value).detach().float())
        seen += args.batch_size
        if not accelerator.sync_gradients:
            continue
        schedule.step()
        step = (micro + 1) // args.grad_accum
        bar.update(1)
        if first_step is None:  # the first step pays one-time costs: time from the next
            first_step = (step, time.perf_counter())
        elif step - first_step[0] == ESTIMATE_AFTER:
            per_step = (time.perf_counter() - first_step[1]) / ESTIMATE_AFTER
            bar.write(
                f"estimate: {per_step:.3g} s/step x {args.steps - step} steps left = "
                f"{per_step * (args.steps - step) / 60:.1f} min for {name} on this machine"
            )
        if step % args.log_every == 0 or step == args.steps:
            means = {k: torch.stack(v).mean().item() for k, v in running.items()}
            running = {}
            accelerator.log(
                {f"train/{k}": v for k, v in means.items()} | {"train/lr": schedule.get_last_lr()[0]}, step=step
            )
            bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()})
        if evaluate is not None and (step % args.eval_every == 0 or step == args.steps):
            if main:
                metrics = _log_eval(accelerator, _evaluate(evaluate, unwrapped, step), step, bar)
            accelerator.wait_for_everyone()
        if step % args.save_every == 0 and step < args.steps:
            save_checkpoint(accelerator, out, micro + 1, extra={"step": step})
    bar.close()
    seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    if main:
        if evaluate is not None and not metrics:  # resumed at the very end: measure once more
            metrics = _log_eval(accelerator, _evaluate(evaluate, unwrapped, args.steps), args.steps, bar)
        path = save_atomic(unwrapped, out / "model")
        metrics.update(
            model_path=str(path),
            steps=args.steps,
            seconds=round(seconds, 1),
            precision=precision,
            optimizer=optimizer_name,
            samples_per_second=round(seen * accelerator.num_processes / max(seconds, 1e-9), 1),
        )
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        accelerator.print(
            "summary: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        )
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return unwrapped, metrics


def _evaluate(evaluate: EvalFn, model: torch.nn.Module, step: int) -> dict:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return evaluate(model, step)
    finally:
        model.train(was_training)
