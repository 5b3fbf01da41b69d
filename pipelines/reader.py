"""The clock reader: a small CNN that reads the time off a clock picture.

It is the project's measuring instrument for generated clocks, so it is trained apart
from the generator, on freshly rendered clocks of *unlimited* styles (a new style per
image, not the dataset's style set) with blur, noise and contrast jitter, so that it
reads a decoded, slightly soft clock as well as a crisp one. Correct means a circular
error of at most 3 minutes on the 12-hour dial.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers import PretrainedConfig, PreTrainedModel

from shared.clocks import render_clock
from shared.images import to_tensor
from shared.loading import load_pretrained

DIAL = 720  # minutes around the 12-hour dial
TOLERANCE = 3
DEFAULT_READER = Path(__file__).parent / "weights" / "reader"


class ClockReaderConfig(PretrainedConfig):
    model_type = "qvae_clock_reader"

    def __init__(self, image_size: int = 64, width: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.width = width


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ClockReader(PreTrainedModel):
    """Images ``[B, 3, S, S]`` in ``[-1, 1]`` -> hour logits ``[B, 12]`` and minute logits ``[B, 60]``."""

    config_class = ClockReaderConfig
    main_input_name = "images"

    def __init__(self, config: ClockReaderConfig):
        super().__init__(config)
        w = config.width
        # a strided stem first: full-resolution convolutions would cost most of the compute
        self.features = nn.Sequential(nn.Conv2d(3, w, 4, stride=2, padding=1), nn.ReLU(inplace=True),
                                      _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 4 * w))
        side = config.image_size // 16
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * side * side, 256), nn.ReLU(inplace=True))
        self.hour_head = nn.Linear(256, 12)
        self.minute_head = nn.Linear(256, 60)
        self.post_init()

    def _init_weights(self, module):  # keep torch's default init (post_init would overwrite it)
        pass

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        h = self.trunk(self.features(images))
        return self.hour_head(h), self.minute_head(h)

    @torch.inference_mode()
    def read(self, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted ``(hours, minutes)`` as LongTensors for a batch of images in ``[-1, 1]``."""
        self.eval()
        hours, minutes = [], []
        for chunk in images.split(batch_size):
            hl, ml = self(chunk.to(self.device))
            hours.append(hl.argmax(-1).cpu())
            minutes.append(ml.argmax(-1).cpu())
        return torch.cat(hours), torch.cat(minutes)

    @torch.inference_mode()
    def confidence(self, images: torch.Tensor, hours, minutes, batch_size: int = 256) -> torch.Tensor:
        """The reader's probability that each image shows its asked time within ``TOLERANCE``.

        Hour and minute heads are taken as independent: the sum over the readings within the
        tolerance (they may cross the hour: 5:58 is 3 minutes from 6:01) of p(hour) p(minute).
        """
        self.eval()
        asked = torch.as_tensor(hours) % 12 * 60 + torch.as_tensor(minutes)
        out = []
        for chunk, t in zip(images.split(batch_size), asked.split(batch_size)):
            hl, ml = self(chunk.to(self.device))
            ph, pm = hl.softmax(-1).cpu(), ml.softmax(-1).cpu()
            near = (t[:, None] + torch.arange(-TOLERANCE, TOLERANCE + 1)) % DIAL  # [B, 2 * TOLERANCE + 1]
            out.append((ph.gather(1, near // 60) * pm.gather(1, near % 60)).sum(-1))
        return torch.cat(out)


def load_reader(path: str | Path | None = None, dtype: torch.dtype | None = torch.float32,
                device: str | torch.device | None = None) -> ClockReader:
    """A saved clock reader folder (default: the one shipped with qvae) in eval mode, computing in ``dtype``
    (float32 unless asked; the shipped weights are stored in float16). Strict: see ``shared.loading``."""
    path = Path(path) if path else DEFAULT_READER
    if not path.is_dir():
        raise FileNotFoundError(f"no clock reader at {str(path)!r} (`qvae train` writes one to OUT/reader, "
                                f"or pipelines.reader.train_reader() trains one)")
    return load_pretrained(ClockReader, path, dtype=dtype, device=device, what="clock reader")


def circular_error(hours, minutes, true_hours, true_minutes) -> torch.Tensor:
    """Minutes between two readings around the 12-hour dial (0..360)."""
    a = torch.as_tensor(hours) % 12 * 60 + torch.as_tensor(minutes)
    b = torch.as_tensor(true_hours) % 12 * 60 + torch.as_tensor(true_minutes)
    d = (a - b).abs() % DIAL
    return torch.minimum(d, DIAL - d)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Soften like a decoder may: random blur on half the batch, noise, contrast and brightness."""
    b = x.shape[0]
    blur = x.new_tensor([1, 2, 1]).outer(x.new_tensor([1, 2, 1])) / 16
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), blur.expand(3, 1, 3, 3), groups=3)
    pick = (torch.rand(b, 1, 1, 1, generator=gen) < 0.5).float()
    x = pick * blurred + (1 - pick) * x
    contrast = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    shift = 0.1 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    return (x * contrast + shift + 0.04 * torch.rand(b, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


def render_batch(n: int, rng: random.Random, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` clocks of random times, each in a style of its own."""
    hours = [rng.randrange(12) for _ in range(n)]
    minutes = [rng.randrange(60) for _ in range(n)]
    images = [render_clock(h, m, style=rng.randrange(2**31), size=size, seed=rng.randrange(2**31))
              for h, m in zip(hours, minutes)]
    return to_tensor(images), torch.tensor(hours), torch.tensor(minutes)


def train_reader(steps: int = 3000, batch_size: int = 128, lr: float = 2e-3, seed: int = 0, image_size: int = 64,
                 width: int = 32, progress: bool = True) -> ClockReader:
    """Train a reader from scratch on freshly rendered clocks (no dataset needed)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ClockReader(ClockReaderConfig(image_size=image_size, width=width))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    bar = tqdm(range(steps), desc="training clock reader", disable=not progress)
    for _ in bar:
        images, hours, minutes = render_batch(batch_size, rng, image_size)
        hl, ml = model(_augment(images, gen))
        # the minute target is smoothed onto its neighbours: an error of one minute is nearly right
        loss = F.cross_entropy(hl, hours) + F.cross_entropy(ml, minutes, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def reader_accuracy(reader: ClockReader, images: torch.Tensor, hours, minutes) -> dict:
    """Share of images read within the tolerance, and the mean circular error in minutes."""
    ph, pm = reader.read(images)
    err = circular_error(ph, pm, hours, minutes).float()
    return {"accuracy": (err <= TOLERANCE).float().mean().item(), "mean_error_minutes": err.mean().item(),
            "n": len(err)}
