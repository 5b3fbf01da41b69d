"""``qvae train-tokenizer``: train the VQ-VAE tokenizer (or an AE / VAE / CVAE baseline).

Through the one training loop (``shared.training.fit``): this file supplies the model, the
images decoded once into a ``uint8`` tensor, the batch -> loss step and the evaluation:
PSNR / codebook usage / perplexity / KL on the validation split, and a captioned
originals-over-reconstructions grid (``OUT/samples``, tensorboard).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch

from shared.data import load_images, train_split, with_validation
from shared.images import make_grid, psnr, to_pil, to_tensor
from shared.training import TrainingArguments, arg, fit

from . import MODELS, PerceptualLoss, load_tokenizer
from .baselines import ConditionalVAEModel, VAEModel
from .quantizer import usage_stats

CONFIG_FLAGS = ("codebook_size", "downsample", "quantizer", "beta")


@dataclass(kw_only=True)
class TokenizerTrainingArguments(TrainingArguments):
    data: str = arg(help="a saved dataset (qvae data) or a folder of images", required=True)
    model: Literal["vqvae", "ae", "vae", "cvae"] = arg("vqvae", "which model to train")
    steps: int = arg(1400, "optimizer steps")
    lr: float = arg(2e-3, "peak learning rate")
    save_every: int = arg(1000, "optimizer steps between checkpoints")
    max_train: int | None = arg(None, "use only the first N training images")
    skip_bad_images: bool = arg(False, "skip and count image files that cannot be used instead of stopping")
    image_mix: float = arg(
        0.0,
        "share of the training images drawn from shared.image_mix (icons, photos, pictures and text from "
        "this machine's packages; emoji and other clocks held out), for a tokenizer of more than --data",
    )
    codebook_size: int | None = arg(None, "K, the codebook size (vqvae)")
    downsample: Literal[2, 4, 8, 16] | None = arg(None, "the grid is the image size / this factor")
    quantizer: Literal["ema", "learned", "fsq"] | None = arg(None, "the vqvae's quantizer")
    beta: float | None = arg(None, "KL weight of the (c)vae (4 = beta-VAE)")
    config: str | None = arg(None, "JSON of further config overrides, e.g. '{\"code_dim\": 16}'")
    init_from: str | None = arg(
        None,
        "a tokenizer folder (e.g. a pipeline's tokenizer/) to fine-tune instead of a fresh vqvae: its config "
        "and codebook are kept, so the config flags cannot be given with it",
    )

    def model_config(self) -> dict:
        """The model's config overrides: ``--config`` JSON, then the named flags."""
        try:
            config = json.loads(self.config) if self.config else {}
        except json.JSONDecodeError as e:
            raise ValueError(f"--config is not valid JSON: {e}") from e
        if not isinstance(config, dict):
            raise ValueError("--config must be a JSON object")
        return config | {k: getattr(self, k) for k in CONFIG_FLAGS if getattr(self, k) is not None}

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.image_mix < 1.0:
            raise ValueError(f"--image-mix is a share of the training images in [0, 1), got {self.image_mix}")
        if self.image_mix and self.model == "cvae":
            raise ValueError("--image-mix has no time labels to give the cvae: use it with vqvae, ae or vae")
        if self.init_from and (self.model != "vqvae" or self.model_config()):
            raise ValueError(
                "--init-from fine-tunes a vqvae as it is: give it without --model, --config or "
                + ", ".join(f"--{k.replace('_', '-')}" for k in CONFIG_FLAGS)
            )


class ImageTensors(torch.utils.data.Dataset):
    """A split decoded once into ``uint8 [N, 3, H, W]`` (+ hour / minute when present)."""

    def __init__(self, split, size: int, chunk: int = 512):
        parts = []
        for i in range(0, len(split), chunk):
            x = to_tensor(split[i : i + chunk]["image"], size=size)
            parts.append(((x + 1) * 127.5).round().to(torch.uint8))
        self.images = torch.cat(parts) if parts else torch.zeros(0, 3, size, size, dtype=torch.uint8)
        cols, n = split.column_names, len(split)
        self.has_time = "hour" in cols and "minute" in cols
        self.hour = torch.tensor(split["hour"] if self.has_time else [0] * n, dtype=torch.long)
        self.minute = torch.tensor(split["minute"] if self.has_time else [0] * n, dtype=torch.long)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"images": self.images[i], "hour": self.hour[i], "minute": self.minute[i]}


def image_mix_splits(n_train: int, share: float, size: int, seed: int) -> tuple[ImageTensors, ImageTensors]:
    """(train, validation) of the general image mix, sized so that it is ``share`` of the training
    images once added to ``n_train`` of the user's."""
    from shared.image_mix import build_image_mix

    n = max(2, round(n_train * share / (1 - share)))
    mix = build_image_mix(n + max(1, n // 10), size=size, seed=seed)
    return ImageTensors(mix["train"], size), ImageTensors(mix["validation"], size)


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def load_splits(data: str | Path, size: int, max_train: int | None = None, skip_bad_images: bool = False):
    """(train, validation) ``ImageTensors``; a folder without a validation split gets 5% held out."""
    ds = load_images(data, skip_bad_images)
    val_name = next((n for n in ("validation", "test") if n in ds), None)
    if val_name is None:
        if (n := len(train_split(ds))) < 2:
            raise ValueError(f"{str(data)!r} holds {n} image(s); need at least 2 to train and validate")
        ds, val_name = with_validation(ds), "validation"
    train, val = train_split(ds), ds[val_name]
    if max_train:
        train = train.select(range(min(max_train, len(train))))
    return ImageTensors(train, size), ImageTensors(val, size)


def reconstruct(model, batch: dict, conditional: bool):
    """The model's output on a batch of ``ImageTensors`` rows, and the images as floats."""
    x = as_float(batch["images"])
    if conditional:
        return model(x, hour=batch["hour"], minute=batch["minute"]), x
    return model(x), x


@torch.no_grad()
def measure_reconstruction(model, val: ImageTensors, batch_size: int = 144) -> dict:
    """PSNR on ``val``, and the codebook usage / perplexity (VQ-VAE) or KL (VAEs)."""
    device = next(model.parameters()).device
    psnrs, kls, ids = [], [], []
    for i in range(0, len(val), batch_size):
        rows = {
            k: v[i : i + batch_size].to(device)
            for k, v in (("images", val.images), ("hour", val.hour), ("minute", val.minute))
        }
        out, x = reconstruct(model, rows, isinstance(model, ConditionalVAEModel))
        psnrs.append(psnr(out.reconstruction.float().clamp(-1, 1), x))
        if out.kl is not None:
            kls.append(float(out.kl) * len(x))
        if out.indices is not None:
            ids.append(out.indices.flatten())
    metrics = {"psnr": float(torch.cat(psnrs).mean())}
    if kls:
        metrics["kl"] = sum(kls) / len(val)
    if ids:
        stats = usage_stats(torch.cat(ids), model.config.codebook_size)
        metrics.update(usage=float(stats["usage"]), perplexity=float(stats["perplexity"]))
    return metrics


@torch.no_grad()
def reconstruction_grid(model, val: ImageTensors, title: str, n: int = 8):
    """Originals over reconstructions (and for VAEs, samples) with captions."""
    device = next(model.parameters()).device
    n = min(n, len(val))
    rows = {"images": val.images[:n].to(device), "hour": val.hour[:n].to(device), "minute": val.minute[:n].to(device)}
    conditional = isinstance(model, ConditionalVAEModel)
    out, x = reconstruct(model, rows, conditional)
    recon = out.reconstruction.float().clamp(-1, 1)
    times = (
        [f"{int(h)}:{int(m):02d}" for h, m in zip(rows["hour"], rows["minute"])]
        if val.has_time
        else [f"#{i}" for i in range(n)]
    )
    images, captions = to_pil(x) + to_pil(recon), times + [f"{float(v):.1f} dB" for v in psnr(recon, x)]
    if isinstance(model, VAEModel):
        g = torch.Generator().manual_seed(0)
        samples = (
            model.sample(rows["hour"].cpu(), rows["minute"].cpu(), n=1, generator=g)
            if conditional
            else model.sample_prior(n, generator=g)
        )
        images += to_pil(samples)
        captions += [f"sample {t}" if conditional else "N(0, I)" for t in times]
    return make_grid(images, captions, ncols=n, title=title)


def train_tokenizer(args: TokenizerTrainingArguments, perceptual: PerceptualLoss | None = None):
    """Train and save ``args.out/model``; return ``(model, metrics)``. ``perceptual`` adds its term
    to the loss (``qvae train`` gives the reader of the pipeline it fine-tunes)."""
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"no dataset folder at {args.data!r} (build one with: qvae data --out {args.data})")
    if args.init_from:
        start = load_tokenizer(args.init_from)  # opened once, and checked before any data is read
        config, make_model = start.config, lambda: start
    else:
        config = MODELS[args.model][0](**args.model_config())
        make_model = partial(MODELS[args.model][1], config)
    train, val = load_splits(args.data, config.image_size, args.max_train, args.skip_bad_images)
    if args.model == "cvae" and not train.has_time:
        raise ValueError(f"--model cvae needs hour and minute columns; {args.data!r} has none")
    mix_val = None
    if args.image_mix:
        mix_train, mix_val = image_mix_splits(len(train), args.image_mix, config.image_size, args.seed)
        train = torch.utils.data.ConcatDataset([train, mix_train])  # (no cvae here: the time labels go unused)

    def compute_loss(model, batch, _):
        out, x = reconstruct(model, batch, args.model == "cvae")
        logs = {
            k: getattr(out, k) for k in ("recon_loss", "usage", "perplexity", "kl") if getattr(out, k, None) is not None
        }
        if perceptual is None:
            return out.loss, logs
        term = perceptual(out.reconstruction, x)
        return out.loss + term, logs | {"perceptual": term.detach()}

    def evaluate(model, step):
        grid = reconstruction_grid(model, val, f"{args.model} step {step}: originals / reconstructions")
        path = Path(args.out) / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(path)
        metrics = measure_reconstruction(model, val) | {"reconstructions": grid}
        if mix_val is not None:  # the data's validation split stays the score; this one says how general it is
            metrics["psnr_image_mix"] = measure_reconstruction(model, mix_val)["psnr"]
        return metrics

    name = f"vqvae fine-tuned from {args.init_from}" if args.init_from else args.model
    return fit(args, make_model, train, compute_loss, evaluate, name=name)


ARGUMENTS = (TokenizerTrainingArguments,)


def run(args: TokenizerTrainingArguments) -> None:
    train_tokenizer(args)
