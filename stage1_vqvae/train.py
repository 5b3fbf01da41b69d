"""``qvae train-tokenizer``: train the VQ-VAE tokenizer (or an AE / VAE / CVAE baseline) with accelerate.

The same code runs on one CPU process or under ``accelerate launch`` on many devices.
Images are decoded once into a ``uint8`` tensor; every ``--eval-every`` optimizer steps
the main process measures PSNR / codebook usage / perplexity / KL on the validation split
and writes a captioned originals-vs-reconstructions grid (PNG + tensorboard).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from shared.data import load_images
from shared.files import save_atomic
from shared.images import make_grid, psnr, to_pil, to_tensor
from shared.training import (TrainingArguments, args_dict, global_batch, make_accelerator, make_optimizer,
                             micro_batches, resume_from_latest, save_checkpoint)

from .baselines import AutoencoderConfig, AutoencoderModel, ConditionalVAEConfig, ConditionalVAEModel, VAEConfig, VAEModel
from .modeling import VQVAEConfig, VQVAEModel
from .quantizer import usage_stats

MODELS = {"vqvae": (VQVAEConfig, VQVAEModel), "ae": (AutoencoderConfig, AutoencoderModel),
          "vae": (VAEConfig, VAEModel), "cvae": (ConditionalVAEConfig, ConditionalVAEModel)}


class ImageTensors(torch.utils.data.Dataset):
    """A split decoded once into ``uint8 [N, 3, H, W]`` (+ hour / minute when present)."""

    def __init__(self, split, size: int, chunk: int = 512):
        parts = []
        for i in range(0, len(split), chunk):
            x = to_tensor(split[i:i + chunk]["image"], size=size)
            parts.append(((x + 1) * 127.5).round().to(torch.uint8))
        self.images = torch.cat(parts) if parts else torch.zeros(0, 3, size, size, dtype=torch.uint8)
        cols = split.column_names
        n = len(split)
        self.hour = torch.tensor(split["hour"], dtype=torch.long) if "hour" in cols else torch.zeros(n, dtype=torch.long)
        self.minute = torch.tensor(split["minute"], dtype=torch.long) if "minute" in cols else torch.zeros(n, dtype=torch.long)
        self.has_time = "hour" in cols and "minute" in cols

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"images": self.images[i], "hour": self.hour[i], "minute": self.minute[i]}


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def load_splits(data: str | Path, size: int, max_train: int | None = None):
    ds = load_images(data)
    train_name = "train" if "train" in ds else next(iter(ds))
    train = ds[train_name]
    val_name = next((n for n in ("validation", "test") if n in ds), None)
    if val_name is None:  # an image folder: hold out 5% (at least one image)
        n_val = max(1, len(train) // 20)
        if len(train) < 2:
            raise ValueError(f"{str(data)!r} holds {len(train)} image(s); need at least 2 to train and validate")
        parts = train.train_test_split(test_size=n_val, seed=0)
        train, val = parts["train"], parts["test"]
    else:
        val = ds[val_name]
    if max_train:
        train = train.select(range(min(max_train, len(train))))
    return ImageTensors(train, size), ImageTensors(val, size)


def build_model(kind: str, config: dict | None = None):
    if kind not in MODELS:
        raise ValueError(f"--model must be one of {sorted(MODELS)}, got {kind!r}")
    config_cls, model_cls = MODELS[kind]
    return model_cls(config_cls(**(config or {})))


def _forward(model, kind, batch):
    x = as_float(batch["images"])
    if kind == "cvae":
        return model(x, hour=batch["hour"], minute=batch["minute"]), x
    return model(x), x


@torch.no_grad()
def evaluate(model, kind: str, val: ImageTensors, batch_size: int = 144, grid_path: Path | None = None,
             title: str = "", n_grid: int = 8) -> tuple[dict, object]:
    """PSNR (and for the VQ-VAE codebook usage / perplexity, for VAEs the KL) on ``val``; the grid image."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    psnrs, kls, ids = [], [], []
    for i in range(0, len(val), batch_size):
        batch = {k: v[i:i + batch_size].to(device) for k, v in
                 (("images", val.images), ("hour", val.hour), ("minute", val.minute))}
        out, x = _forward(model, kind, batch)
        psnrs.append(psnr(out.reconstruction.float().clamp(-1, 1), x))
        if out.kl is not None:
            kls.append(float(out.kl) * len(x))
        if out.indices is not None:
            ids.append(out.indices.flatten())
    metrics = {"psnr": float(torch.cat(psnrs).mean())}
    if kls:
        metrics["kl"] = sum(kls) / len(val)
    if ids:
        k = model.config.codebook_size
        stats = usage_stats(torch.cat(ids), k)
        metrics.update(usage=float(stats["usage"]), perplexity=float(stats["perplexity"]), codebook_size=k)
    grid = None
    if grid_path is not None:
        n = min(n_grid, len(val))
        batch = {"images": val.images[:n].to(device), "hour": val.hour[:n].to(device),
                 "minute": val.minute[:n].to(device)}
        out, x = _forward(model, kind, batch)
        recon = out.reconstruction.float().clamp(-1, 1)
        p = psnr(recon, x)
        times = [f"{int(h)}:{int(m):02d}" for h, m in zip(batch["hour"], batch["minute"])] if val.has_time \
            else [f"#{i}" for i in range(n)]
        images, captions = to_pil(x) + to_pil(recon), times + [f"{float(v):.1f} dB" for v in p]
        if kind in ("vae", "cvae"):
            g = torch.Generator().manual_seed(0)
            samples = (model.sample(batch["hour"].cpu(), batch["minute"].cpu(), n=1, generator=g) if kind == "cvae"
                       else model.sample_prior(n, generator=g))
            images += to_pil(samples)
            captions += [f"sample {t}" if kind == "cvae" else "N(0, I)" for t in times]
        grid = make_grid(images, captions, ncols=n, title=title)
        grid_path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(grid_path)
    model.train(was_training)
    return metrics, grid


def train_tokenizer(data: str | Path, out: str | Path, model: str = "vqvae", config: dict | None = None,
                    steps: int = 3000, batch_size: int = 64, lr: float = 2e-3, warmup_steps: int = 100,
                    weight_decay: float = 0.0, grad_accum: int = 1, mixed_precision: str = "no",
                    eval_every: int = 500, save_every: int = 1000, log_every: int = 50, seed: int = 0,
                    resume: bool = False, max_train: int | None = None, progress: bool = True):
    """Train and save ``out/model`` (atomic ``save_pretrained``); return ``(model, metrics)``.

    ``config`` overrides fields of the model's config (e.g. ``{"codebook_size": 1024}``).
    ``metrics`` holds the final validation metrics plus ``model_path``, ``steps``, ``seconds``.
    """
    if steps < 1 or batch_size < 1 or grad_accum < 1:
        raise ValueError("--steps, --batch-size and --grad-accum must be positive")
    out = Path(out)
    targs = TrainingArguments(out=str(out), steps=steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps,
                              weight_decay=weight_decay, grad_accum=grad_accum, mixed_precision=mixed_precision,
                              eval_every=eval_every, save_every=save_every, log_every=log_every, seed=seed,
                              resume=resume)
    accelerator = make_accelerator(targs)
    net = build_model(model, config)
    train, val = load_splits(data, net.config.image_size, max_train)
    if model == "cvae" and not train.has_time:
        raise ValueError(f"--model cvae needs hour and minute columns; {str(data)!r} has none")
    if len(train) < batch_size * accelerator.num_processes:
        raise ValueError(f"{len(train)} training images are fewer than one batch "
                         f"({batch_size} x {accelerator.num_processes} processes); lower --batch-size")
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))
    optimizer, schedule = make_optimizer(net, targs)
    net, optimizer, loader, schedule = accelerator.prepare(net, optimizer, loader, schedule)
    start = resume_from_latest(accelerator, out) if resume else 0
    main = accelerator.is_main_process
    accelerator.init_trackers("tokenizer", config={**args_dict(targs), "model": model})
    accelerator.print(f"training {model} ({sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters) on "
                      f"{len(train)} images, {accelerator.num_processes} process(es), global batch "
                      f"{global_batch(accelerator, targs)} = {batch_size} x {accelerator.num_processes} x {grad_accum}")
    unwrapped = accelerator.unwrap_model(net)
    total = steps * grad_accum
    bar = tqdm(total=steps, initial=start // grad_accum, desc=f"train {model}", disable=not (progress and main))
    t0, seen, metrics, running = time.time(), 0, {}, {}
    for micro, batch in micro_batches(accelerator, loader, start, total, seed):
        with accelerator.accumulate(net):
            output, _ = _forward(net, model, batch)
            accelerator.backward(output.loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            if accelerator.sync_gradients:
                schedule.step()
            optimizer.zero_grad()
        seen += len(batch["images"])
        for key in ("loss", "recon_loss", "usage", "perplexity", "kl"):
            value = getattr(output, key, None)
            if value is not None:
                running[key] = float(value.detach())
        if not accelerator.sync_gradients:
            continue
        step = (micro + 1) // grad_accum
        bar.update(1)
        if step % log_every == 0 or step == steps:
            accelerator.log({f"train/{k}": v for k, v in running.items()} | {"lr": schedule.get_last_lr()[0]}, step=step)
            bar.set_postfix({k: f"{v:.3g}" for k, v in running.items() if k in ("recon_loss", "usage")})
        if step % eval_every == 0 or step == steps:
            if main:
                metrics, grid = evaluate(unwrapped, model, val, grid_path=out / "samples" / f"step_{step:07d}.png",
                                         title=f"{model} step {step}: originals / reconstructions")
                accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=step)
                tracker = accelerator.get_tracker("tensorboard", unwrap=True)
                if hasattr(tracker, "add_image"):
                    tracker.add_image("val/reconstructions", np.asarray(grid), step, dataformats="HWC")
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            accelerator.wait_for_everyone()
        if step % save_every == 0 and step < steps:
            save_checkpoint(accelerator, out, micro + 1, extra={"step": step})
    bar.close()
    seconds = time.time() - t0
    accelerator.wait_for_everyone()
    if main:
        if not metrics:  # resumed at the very end: measure once more
            metrics, _ = evaluate(unwrapped, model, val)
        path = save_atomic(unwrapped, out / "model")
        metrics.update(model_path=str(path), steps=steps, seconds=round(seconds, 1),
                       images_per_second=round(seen * accelerator.num_processes / max(seconds, 1e-9), 1))
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    accelerator.end_training()
    return unwrapped, metrics


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="vqvae", choices=sorted(MODELS), help="which model to train")
    parser.add_argument("--data", required=True, help="a saved dataset (qvae data) or a folder of images")
    parser.add_argument("--out", required=True, help="output folder: model/, checkpoints/, samples/, logs/")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=64, help="per-process batch size")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--save-every", type=int, default=1000)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint in --out")
    parser.add_argument("--max-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--codebook-size", type=int, default=None, help="K (vqvae)")
    parser.add_argument("--downsample", type=int, default=None, choices=[4, 8], help="grid = image size / factor")
    parser.add_argument("--quantizer", default=None, choices=["ema", "learned", "fsq"], help="vqvae quantizer")
    parser.add_argument("--beta", type=float, default=None, help="KL weight of the (c)vae (4 = beta-VAE)")
    parser.add_argument("--config", default=None, help="JSON of further config overrides, e.g. '{\"code_dim\": 16}'")
    parser.add_argument("--no-progress", action="store_true")


def run(args) -> None:
    config = {}
    if args.config:
        try:
            config = json.loads(args.config)
        except json.JSONDecodeError as e:
            raise ValueError(f"--config is not valid JSON: {e}") from e
        if not isinstance(config, dict):
            raise ValueError("--config must be a JSON object")
    for key in ("codebook_size", "downsample", "quantizer", "beta"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"no dataset folder at {args.data!r} (build one with: qvae data --out {args.data})")
    _, metrics = train_tokenizer(args.data, args.out, args.model, config, steps=args.steps, batch_size=args.batch_size,
                                 lr=args.lr, warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
                                 grad_accum=args.grad_accum, mixed_precision=args.mixed_precision,
                                 eval_every=args.eval_every, save_every=args.save_every, log_every=args.log_every,
                                 seed=args.seed, resume=args.resume, max_train=args.max_train,
                                 progress=not args.no_progress)
    if metrics:
        print("summary: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in metrics.items()))
