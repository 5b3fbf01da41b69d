"""What both training loops share: the accelerator, optimizer + schedule, the step loop
with exact mid-epoch resume, and atomic, verified checkpoints.

The same code runs on one CPU process or under ``accelerate launch`` on many GPUs: the
data order depends only on (seed, epoch), so a resumed run sees exactly the batches the
uninterrupted run would have, and checkpoints are written to a temporary folder and
renamed, with a manifest of checksums that ``latest_checkpoint`` verifies.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, get_int_from_env, set_seed
from transformers import get_cosine_schedule_with_warmup

MANIFEST = "checkpoint.json"


def launched_processes() -> int:
    """How many processes the launcher started (``accelerate launch``, torchrun, MPI), read from
    the environment without touching accelerate's state: a bare ``PartialState()`` made before
    the Accelerator ignores ``ACCELERATE_USE_CPU`` and so would pin a 2-process CPU launch
    (gloo) to two independent single-process runs."""
    return get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)


@dataclass
class TrainingArguments:
    out: str
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_accum: int = 1
    mixed_precision: str = "no"
    eval_every: int = 500
    save_every: int = 500
    log_every: int = 50
    seed: int = 0
    resume: bool = False
    num_workers: int = 0


def make_accelerator(args: TrainingArguments) -> Accelerator:
    """An Accelerator that logs to tensorboard under ``out/logs`` and seeds everything.

    accelerate keeps process-wide singletons that refuse a second Accelerator with other
    settings (``qvae train`` runs both stages, fp32 then bf16, in one process), so a
    single-process run starts from a fresh state; a launched multi-process run keeps its own.
    """
    if launched_processes() == 1:
        AcceleratorState._reset_state()
        GradientState._reset_state()
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.grad_accum,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=args.out, logging_dir=str(Path(args.out) / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        # a prepared scheduler is stepped once per call: callers step it once per optimizer
        # step (accelerate's default steps it num_processes times, for schedules written in
        # single-process steps; ours are written in optimizer steps, whatever the scale)
        step_scheduler_with_optimizer=False,
    )
    set_seed(args.seed)
    return accelerator


def global_batch(accelerator: Accelerator, args: TrainingArguments) -> int:
    return args.batch_size * accelerator.num_processes * args.grad_accum


def make_optimizer(model: torch.nn.Module, args: TrainingArguments):
    """AdamW with weight decay on matrices only, and linear warmup into a cosine decay."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    schedule = get_cosine_schedule_with_warmup(optimizer, min(args.warmup_steps, args.steps // 2), args.steps)
    return optimizer, schedule


def micro_batches(accelerator: Accelerator, dataloader, start: int, total: int, seed: int) -> Iterator[tuple[int, object]]:
    """Yield ``(micro_step, batch)`` for micro steps ``start .. total-1``, epoch after epoch.

    The sampler is reseeded per epoch, and a resumed run skips exactly the batches of the
    current epoch already seen (``skip_first_batches``), so none is repeated or missed.
    """
    per_epoch = len(dataloader)
    if per_epoch == 0:
        raise ValueError("the training data gives no batch: fewer samples than one batch per process")
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(accelerator: Accelerator, out: str | Path, micro_step: int, extra: dict | None = None,
                    keep: int = 2) -> Path:
    """``accelerator.save_state`` into ``out/checkpoints/step_N`` atomically, with a manifest.

    Every process calls this (each saves its own RNG state). The folder appears under its
    final name only once complete, with the checksums of its files in ``checkpoint.json``.
    """
    root = Path(out) / "checkpoints"
    final = root / f"step_{micro_step:08d}"
    tmp = root / f".tmp_step_{micro_step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"micro_step": micro_step, "files": files, **(extra or {})}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(root.glob("step_*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def verify_checkpoint(path: Path) -> dict | None:
    """The manifest if every listed file is present and matches its checksum, else None."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        ok = all(_sha256(path / name) == digest for name, digest in manifest["files"].items())
    except (OSError, ValueError, KeyError):
        return None
    return manifest if ok else None


def latest_checkpoint(out: str | Path) -> tuple[Path, dict] | None:
    """The newest complete, verified checkpoint under ``out/checkpoints`` (half-written ones are skipped)."""
    for path in sorted((Path(out) / "checkpoints").glob("step_*"), reverse=True):
        manifest = verify_checkpoint(path)
        if manifest is not None:
            return path, manifest
    return None


def resume_from_latest(accelerator: Accelerator, out: str | Path) -> int:
    """Load the latest verified checkpoint into the prepared objects; return its micro step (0 if none)."""
    found = latest_checkpoint(out)
    if found is None:
        accelerator.print(f"no complete checkpoint under {out}/checkpoints: starting from scratch")
        return 0
    path, manifest = found
    accelerator.load_state(str(path))
    accelerator.print(f"resumed from {path} (micro step {manifest['micro_step']})")
    return int(manifest["micro_step"])


def args_dict(args) -> dict:
    return {k: v for k, v in asdict(args).items() if isinstance(v, (int, float, str, bool))}
