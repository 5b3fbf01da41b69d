"""The clock reader: a small CNN that reads the time, and every style field, off a clock picture.

It is the project's measuring instrument for generated clocks, so it is trained apart from
the generator, on freshly rendered clocks (a style of its own per clock, drawn from every
field of ``shared.clocks.STYLE_FIELDS``, outside the held-out region) with blur, noise and
contrast jitter, so that it reads a decoded, slightly soft clock as well as a crisp one.
Correct means a circular error of at most 3 minutes on the 12-hour dial.

Beside the hour and minute heads it has one classification head per style field; the
config stores the fields and their ordered values, so a saved reader knows the words it
reads (``read_fields``), and ``field_accuracy`` scores how often asked fields are honoured
(``fields_as_asked``: image by image).
It trains through the one loop (``shared.training.fit``)::

    python -m pipelines.reader --out runs/reader --steps 9000 --mixed_precision auto --num_workers 7

(the shipped reader's command; its numbers are in ``benchmarks/RESULTS.md``).

With ``--data DIR --columns a,b`` it learns a labelled image folder's columns instead (the time
heads where they include hour and minute): the measuring instrument for a pipeline trained with
``qvae train --data DIR``, e.g. the glyphs of ``shared.glyphs`` (``benchmarks/glyphs.py``).
``--members 2`` trains two readers side by side as one ensemble (what ``qvae train --data`` saves
as a pipeline's verifier): a drawing passes only where both read it as asked.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from shared.clocks import HELD_OUT_STYLE, STYLE_FIELDS, is_held_out, random_style, render_clock
from shared.loading import load_pretrained
from shared.time_prompts import TIME_FIELDS
from shared.training import TrainingArguments, arg, check_at_least, fit

DIAL = 720  # minutes around the 12-hour dial
TOLERANCE = 3
# the shipped reader is a part of the shipped clock pipeline: its verifier (ClockPipeline.draw)
DEFAULT_READER = Path(__file__).parent / "weights" / "clock_pipeline" / "reader"


class ClockReaderConfig(PretrainedConfig):
    """``fields``: ``[[name, [value, ...]], ...]``, one classification head each (a list of pairs,
    because a config's JSON is written with sorted keys; no fields reads the time only).
    ``members``: readers trained side by side from their own random starts (an ensemble)."""

    model_type = "qvae_clock_reader"

    def __init__(
        self,
        image_size: int = 64,
        width: int = 32,
        fields: Sequence | Mapping | None = None,
        members: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.width = width
        self.members = members
        items = fields.items() if isinstance(fields, Mapping) else (fields or [])
        self.fields = [[str(name), [str(v) for v in values]] for name, values in items]

    @property
    def field_values(self) -> dict[str, list[str]]:
        return {name: values for name, values in self.fields}


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _member(config: ClockReaderConfig) -> nn.ModuleDict:
    """One reader: convolutions, a trunk, and a head per thing read."""
    w = config.width
    side = config.image_size // 16
    return nn.ModuleDict(
        {
            # a strided stem first: full-resolution convolutions would cost most of the compute
            "features": nn.Sequential(
                nn.Conv2d(3, w, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                _block(w, 2 * w),
                _block(2 * w, 4 * w),
                _block(4 * w, 4 * w),
            ),
            "trunk": nn.Sequential(nn.Flatten(), nn.Linear(4 * w * side * side, 256), nn.ReLU(inplace=True)),
            "hour_head": nn.Linear(256, 12),
            "minute_head": nn.Linear(256, 60),
            "field_heads": nn.ModuleDict({name: nn.Linear(256, len(values)) for name, values in config.fields}),
        }
    )


def _gather(probs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``probs [M, B, C]`` at the same ``ids [B, k]`` for every member -> ``[M, B, k]``."""
    return probs.gather(-1, ids.expand(len(probs), *ids.shape))


def _mean_probability(logits: list[torch.Tensor]) -> torch.Tensor:
    """Members' logits -> the ensemble's: the log of their mean probability."""
    return torch.stack([x.float().log_softmax(-1) for x in logits]).logsumexp(0) - math.log(len(logits))


class ClockReader(PreTrainedModel):
    """Images ``[B, 3, S, S]`` in ``[-1, 1]`` -> hour logits ``[B, 12]`` and minute logits ``[B, 60]``
    (and with ``fields=True`` a third item, ``{field: logits [B, len(values)]}``).

    With ``config.members > 1`` it is an ensemble: readers trained side by side from their own
    random starts, which agree on a clear clock and part on an ambiguous one (an hour hand on a
    mark). Its logits are the log of the members' mean probabilities; ``request_confidence``
    takes the least sure member, so a drawing is accepted only where every member reads it as
    asked (benchmarks/RESULTS.md, stop 46). The first member's parameters keep the names of a
    one-member reader, so readers saved before ensembles load as they were."""

    config_class = ClockReaderConfig
    main_input_name = "images"

    def __init__(self, config: ClockReaderConfig):
        super().__init__(config)
        if config.members < 1:
            raise ValueError(f"a clock reader has at least one member, got members={config.members}")
        for name, module in _member(config).items():
            self.add_module(name, module)
        self.others = nn.ModuleList(_member(config) for _ in range(config.members - 1))
        self.post_init()

    def _init_weights(self, module):  # keep torch's default init (post_init would overwrite it)
        pass

    @property
    def fields(self) -> dict[str, list[str]]:
        """The style fields this reader reads, each with its ordered values."""
        return self.config.field_values

    def _sized(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if images.shape[-2:] == (size, size):
            return images
        return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)

    def forward(self, images: torch.Tensor, fields: bool = False, members: bool = False):
        """``members=True``: each output stacked over the members (``[M, B, ...]``), as they train."""
        images = self._sized(images)
        outs = []  # (hour, minute, {field: logits}) per member
        for m in (self, *self.others):
            h = m.trunk(m.features(images))
            outs.append((m.hour_head(h), m.minute_head(h), {name: head(h) for name, head in m.field_heads.items()}))
        combine = torch.stack if members else (lambda xs: xs[0] if len(xs) == 1 else _mean_probability(xs))
        hour, minute = combine([o[0] for o in outs]), combine([o[1] for o in outs])
        heads = {name: combine([o[2][name] for o in outs]) for name in outs[0][2]}
        return (hour, minute, heads) if fields else (hour, minute)

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """What each member's convolutions see (after the stem and after each block), for a
        tokenizer's perceptual term (``stage1_vqvae.PerceptualLoss``)."""
        maps, images = [], self._sized(images)
        for m in (self, *self.others):
            h = images
            for i, layer in enumerate(m.features):
                h = layer(h)
                if i:  # layer 0 is the stem's convolution, 1 its ReLU
                    maps.append(h)
        return maps

    @torch.inference_mode()
    def read(self, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted ``(hours, minutes)`` as LongTensors for a batch of images in ``[-1, 1]``."""
        self.eval()
        hours, minutes = [], []
        for chunk in images.split(batch_size):
            hl, ml = self(chunk.to(self.device, self.dtype))
            hours.append(hl.argmax(-1).cpu())
            minutes.append(ml.argmax(-1).cpu())
        return torch.cat(hours), torch.cat(minutes)

    @torch.inference_mode()
    def read_field_ids(self, images: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
        """``{field: LongTensor [B]}``: the index of the value read, per field (see ``fields``)."""
        self.eval()
        out: dict[str, list[torch.Tensor]] = {name: [] for name in self.field_heads}
        for chunk in images.split(batch_size):
            _, _, logits = self(chunk.to(self.device, self.dtype), fields=True)
            for name, value in logits.items():
                out[name].append(value.argmax(-1).cpu())
        return {name: torch.cat(ids) if ids else torch.zeros(0, dtype=torch.long) for name, ids in out.items()}

    def read_fields(self, images: torch.Tensor, batch_size: int = 256) -> list[dict[str, str]]:
        """One ``{field: word}`` per image: the value of every style field this reader reads."""
        ids = self.read_field_ids(images, batch_size)
        words = self.fields
        return [{name: words[name][int(ids[name][i])] for name in ids} for i in range(len(images))]

    def confidence(self, images: torch.Tensor, hours, minutes, batch_size: int = 256) -> torch.Tensor:
        """The reader's probability that each image shows its asked time within ``TOLERANCE``
        (``request_confidence`` with the time alone)."""
        asked = [{"hour": int(h), "minute": int(m)} for h, m in zip(hours, minutes)]
        return self.request_confidence(images, asked, batch_size)

    @torch.inference_mode()
    def request_confidence(
        self, images: torch.Tensor, requests: Sequence[Mapping], batch_size: int = 256
    ) -> torch.Tensor:
        """The reader's probability that each image shows what its request (``{field: value}``) asked.

        The product of: for an asked time, the sum over the readings within ``TOLERANCE`` (they
        may cross the hour: 5:58 is 3 minutes from 6:01) of p(hour) p(minute), the heads taken
        as independent; for each asked style field this reader reads, p(asked value). What it
        cannot read (an unknown field or value, a time without both hour and minute) counts 1.
        An ensemble (``config.members > 1``) gives its least sure member's probability.
        """
        self.eval()
        timed = torch.tensor([all(k in r and r[k] is not None for k in TIME_FIELDS) for r in requests])
        asked = torch.tensor([int(r["hour"]) % 12 * 60 + int(r["minute"]) if t else 0 for r, t in zip(requests, timed)])
        words = {name: {str(v).lower(): i for i, v in enumerate(values)} for name, values in self.fields.items()}
        wanted = {  # field -> value index per request, -1 where not asked or not readable
            name: torch.tensor(
                [ids.get(str(r.get(name)).lower(), -1) if r.get(name) is not None else -1 for r in requests]
            )
            for name, ids in words.items()
        }
        if not timed.any() and all((w < 0).all() for w in wanted.values()):
            return torch.ones(len(images))  # nothing it can check (e.g. another dataset's fields): no pass
        out = []
        for start in range(0, len(images), batch_size):
            rows = slice(start, start + batch_size)
            hl, ml, fl = self(images[rows].to(self.device, self.dtype), fields=True, members=True)
            ph, pm = hl.float().softmax(-1).cpu(), ml.float().softmax(-1).cpu()  # [M, B, 12], [M, B, 60]
            near = (asked[rows, None] + torch.arange(-TOLERANCE, TOLERANCE + 1)) % DIAL  # [B, 2 * TOLERANCE + 1]
            p = torch.where(timed[rows], (_gather(ph, near // 60) * _gather(pm, near % 60)).sum(-1), 1.0)
            for name, logits in fl.items():
                want = wanted[name][rows]
                pf = _gather(logits.float().softmax(-1).cpu(), want.clamp(min=0)[:, None]).squeeze(-1)
                p = p * torch.where(want >= 0, pf, 1.0)
            out.append(p.amin(0))  # an ensemble is as sure as its least sure member
        return torch.cat(out) if out else torch.zeros(0)


def load_reader(
    path: str | Path | None = None, dtype: torch.dtype | None = torch.float32, device: str | torch.device | None = None
) -> ClockReader:
    """A saved clock reader folder (default: the one shipped with qvae) in eval mode, computing in ``dtype``
    (float32 unless asked). Strict: see ``shared.loading``."""
    path = Path(path) if path else DEFAULT_READER
    if not path.is_dir():
        raise FileNotFoundError(
            f"no clock reader at {str(path)!r} (`qvae train` writes one to OUT/reader, "
            f"or `python -m pipelines.reader --out DIR` trains one)"
        )
    return load_pretrained(ClockReader, path, dtype=dtype, device=device, what="clock reader")


def circular_error(hours, minutes, true_hours, true_minutes) -> torch.Tensor:
    """Minutes between two readings around the 12-hour dial (0..360)."""
    a = torch.as_tensor(hours) % 12 * 60 + torch.as_tensor(minutes)
    b = torch.as_tensor(true_hours) % 12 * 60 + torch.as_tensor(true_minutes)
    d = (a - b).abs() % DIAL
    return torch.minimum(d, DIAL - d)


def reader_accuracy(reader: ClockReader, images: torch.Tensor, hours, minutes) -> dict:
    """Share of images read within the tolerance, and the mean circular error in minutes."""
    ph, pm = reader.read(images)
    err = circular_error(ph, pm, hours, minutes).float()
    return {
        "accuracy": (err <= TOLERANCE).float().mean().item(),
        "mean_error_minutes": err.mean().item(),
        "n": len(err),
    }


def fields_as_asked(
    reader: ClockReader, images: torch.Tensor, conditions: Sequence[Mapping[str, object]]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per asked style field: ``(rows, honoured)``, the images that asked for it and whether the
    reader reads it there as asked (bool), in the reader's field order.

    ``conditions`` holds one ``{field: value}`` per image; a field absent from an image's dict
    (or ``None``) was not asked there. ``hour`` / ``minute`` are the time (scored by
    ``reader_accuracy``) and are skipped. A field or value the reader does not know is a
    ``ValueError`` that lists what it reads.
    """
    if len(conditions) != len(images):
        raise ValueError(f"{len(images)} images but {len(conditions)} conditions: give one dict per image")
    known = reader.fields
    asked: dict[str, list[tuple[int, int]]] = {}
    for i, cond in enumerate(conditions):
        for name, value in cond.items():
            if name in TIME_FIELDS or value is None:
                continue
            if name not in known:
                raise ValueError(
                    f"this reader does not read {name!r}; it reads "
                    f"{', '.join(known) or 'no style field'} (and the time)"
                )
            if str(value) not in known[name]:
                raise ValueError(f"unknown {name} {value!r}; the reader knows {', '.join(known[name])}")
            asked.setdefault(name, []).append((i, known[name].index(str(value))))
    if not asked:
        return {}
    ids = reader.read_field_ids(images)
    return {
        name: (torch.tensor([i for i, _ in pairs]), torch.tensor([int(ids[name][i]) == want for i, want in pairs]))
        for name, pairs in sorted(asked.items(), key=lambda kv: list(known).index(kv[0]))
    }


def field_accuracy(
    reader: ClockReader, images: torch.Tensor, conditions: Sequence[Mapping[str, object]]
) -> dict[str, float]:
    """How often each asked style field is honoured: ``{field: share of the images asked for it
    whose value the reader reads as asked}`` (see ``fields_as_asked``); a field asked of no
    image is absent from the result."""
    return {name: int(ok.sum()) / len(ok) for name, (_, ok) in fields_as_asked(reader, images, conditions).items()}


# ---- training data: clock i of a stream is rendered from (stream, i) alone


def clock_sample(stream: str, i: int, size: int = 64, **fixed: str) -> tuple:
    """``(image, hour, minute, labels)`` of clock ``i`` of ``stream``: a random time and style
    (``fixed`` fields pinned), outside the held-out region unless ``fixed`` asks for it."""
    rng = random.Random(f"{stream}/{i}")
    hour, minute = rng.randrange(12), rng.randrange(60)
    while True:
        style = random_style(rng.randrange(2**31), **fixed)
        if not is_held_out(style) or all(fixed.get(k) == v for k, v in HELD_OUT_STYLE.items()):
            break
    return render_clock(hour, minute, style=style, size=size, seed=rng.randrange(2**31)), hour, minute, style.labels


class RenderedClocks(torch.utils.data.Dataset):
    """``n`` clocks of random times and styles, clock ``i`` rendered from ``(stream, i)`` alone.

    Rows: ``images`` (uint8 ``[3, S, S]``), ``hour``, ``minute`` and ``fields`` (the index of each
    style value, in ``STYLE_FIELDS`` order). Nothing is stored: a row is drawn when asked.
    """

    def __init__(self, n: int, stream: str, size: int = 64, **fixed: str):
        self.n, self.stream, self.size, self.fixed = n, stream, size, fixed

    def __len__(self):
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        image, hour, minute, labels = clock_sample(self.stream, i, self.size, **self.fixed)
        return {
            "images": torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous(),
            "hour": hour,
            "minute": minute,
            "fields": torch.tensor([values.index(labels[f]) for f, values in STYLE_FIELDS.items()]),
        }

    def batch(self) -> dict:
        """Every row, stacked: images as floats in ``[-1, 1]``."""
        return _stack([self[i] for i in range(self.n)])


class LabelledImages(torch.utils.data.Dataset):
    """A split of a labelled image dataset as rows like ``RenderedClocks``'s: ``images`` (uint8, resized
    to ``size`` where they differ), ``hour`` and ``minute`` where ``fields`` names them, and ``fields``
    (the id of each other field's value, in ``fields`` order). Rows of a value that ``fields`` lacks
    (a value seen in validation or test only) are left out: they cannot be scored."""

    def __init__(self, split, fields: Mapping[str, Sequence], size: int):
        from stage2_prior.data import column_values

        self.size = size
        self.time = set(TIME_FIELDS) <= set(fields)
        # value -> id, looked up once a row
        self.ids = {
            name: {str(v): i for i, v in enumerate(vs)}
            for name, vs in fields.items()
            if not (self.time and name in TIME_FIELDS)
        }
        # the label columns alone (no image decoded), read as the prior reads them (class names, dial hours)
        columns = {name: [str(v) for v in column_values(split, name)] for name in self.ids}
        keep = [i for i in range(len(split)) if all(columns[n][i] in ids for n, ids in self.ids.items())]
        rows = [[ids[columns[n][i]] for n, ids in self.ids.items()] for i in keep]
        self.field_ids = torch.tensor(rows, dtype=torch.long).reshape(len(keep), len(self.ids))
        self.split = split if len(keep) == len(split) else split.select(keep, keep_in_memory=True)

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i: int) -> dict:
        row = self.split[i]
        image = row["image"].convert("RGB")
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.BICUBIC)
        out = {"images": torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous(), "fields": self.field_ids[i]}
        if self.time:
            out |= {"hour": int(row["hour"]) % 12, "minute": int(row["minute"])}
        return out

    def batch(self) -> dict:
        return _stack([self[i] for i in range(len(self))])


def _stack(rows: list[dict]) -> dict:
    """Rows stacked into one batch, images as floats in ``[-1, 1]``."""
    out = {k: torch.stack([torch.as_tensor(r[k]) for r in rows]) for k in rows[0]}
    out["images"] = out["images"].float() / 127.5 - 1
    return out


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Soften like a decoder may: random blur on half the batch, noise, contrast and brightness.
    ``gen`` is a CPU generator: the same random choices on any device."""
    b = x.shape[0]

    def rand(*shape):
        return torch.rand(*shape, generator=gen).to(x.device, x.dtype)

    blur = x.new_tensor([1, 2, 1]).outer(x.new_tensor([1, 2, 1])) / 16
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), blur.expand(3, 1, 3, 3), groups=3)
    pick = (rand(b, 1, 1, 1) < 0.5).to(x.dtype)
    x = pick * blurred + (1 - pick) * x
    contrast = 1 + 0.2 * (rand(b, 1, 1, 1) - 0.5)
    shift = 0.1 * (rand(b, 1, 1, 1) - 0.5)
    noise = torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
    return (x * contrast + shift + 0.04 * rand(b, 1, 1, 1) * noise).clamp(-1, 1)


# ---- training and measuring


@dataclass(kw_only=True)
class ReaderTrainingArguments(TrainingArguments):
    steps: int = arg(1500, "optimizer steps (each on a batch of freshly rendered clocks)")
    batch_size: int = arg(128, "clocks per batch")
    lr: float = arg(2e-3, "peak learning rate")
    warmup_steps: int = arg(150, "warmup steps of the learning rate")
    weight_decay: float = arg(1e-4, "AdamW weight decay, on matrices only")
    eval_every: int = arg(500, "optimizer steps between evaluations on the validation clocks")

    # the reader
    width: int = arg(48, "channels of the first convolution (the others are 2x and 4x)")
    members: int = arg(
        1,
        "readers trained side by side from their own random starts (an ensemble: its verifier is as sure as "
        "its least sure member); each costs one reader's time",
    )
    image_size: int = arg(64, "the side the reader reads at (other sizes are resized to it)")
    fields: bool = arg(True, "read every style field of shared.clocks.STYLE_FIELDS too (one head each)")
    data: str | None = arg(
        None,
        "learn from a labelled image folder (as `qvae train --data` takes) instead of rendered clocks: "
        "its --columns, the time where they include hour and minute",
    )
    columns: str = arg("hour,minute", "with --data: comma-separated label columns to read (one head each)")
    field_weight: float = arg(2.0, "weight of the mean style-field loss beside the time loss")
    init_from: str | None = arg(
        None,
        "a saved reader folder to start from instead of random weights (fine-tuning, e.g. after the renderer "
        "changed): it must read the same fields at the same size; its width and members are kept",
    )
    val_size: int = arg(1000, "clocks in the fixed validation set (the same for every seed)")

    def __post_init__(self):
        super().__post_init__()
        if self.image_size < 16 or self.image_size % 16:
            raise ValueError(f"--image-size must be a multiple of 16, got {self.image_size}")
        check_at_least(self, {"width": 1, "val_size": 1, "members": 1})
        if self.field_weight < 0:
            raise ValueError(f"--field-weight must be at least 0, got {self.field_weight}")


def train_stream(seed: int) -> str:
    return f"qvae-reader-train/{seed}"


VALIDATION_STREAM = "qvae-reader-validation"  # never a training stream, whatever the seed
HELD_OUT_STREAM = "qvae-reader-held-out"


def measure_reader(reader: ClockReader, val: dict, held_out: dict | None = None) -> dict:
    """Time accuracy and mean error (where ``val`` has the time), and each field's accuracy, on stacked
    rows (``RenderedClocks`` or ``LabelledImages``: ``fields`` holds the value ids in ``reader.fields`` order)."""
    out = {}
    if "hour" in val:
        time = reader_accuracy(reader, val["images"], val["hour"], val["minute"])
        out = {"time_accuracy": time["accuracy"], "mean_error_minutes": time["mean_error_minutes"]}
    if reader.fields:
        ids = reader.read_field_ids(val["images"])
        accs = {name: (ids[name] == val["fields"][:, j]).float().mean().item() for j, name in enumerate(reader.fields)}
        out |= {f"field/{k}": v for k, v in accs.items()}
        out["field_mean"] = sum(accs.values()) / len(accs)
    if held_out is not None:
        out["time_accuracy_held_out_style"] = reader_accuracy(
            reader, held_out["images"], held_out["hour"], held_out["minute"]
        )["accuracy"]
    return out


def validation_clocks(n: int = 1000, size: int = 64) -> tuple[dict, dict]:
    """The fixed validation clocks (every style outside the held-out region) and ``n // 5`` of the
    held-out style region, as stacked rows."""
    return (
        RenderedClocks(n, VALIDATION_STREAM, size).batch(),
        RenderedClocks(max(1, n // 5), HELD_OUT_STREAM, size, **HELD_OUT_STYLE).batch(),
    )


def reader_data(args: ReaderTrainingArguments) -> tuple[ClockReaderConfig, torch.utils.data.Dataset, dict, dict | None]:
    """``(config, train rows, validation batch, held-out batch or None)``: freshly rendered clocks,
    or with ``--data`` the folder's train and validation splits (5% of train carved out, seeded,
    where it has none) and the fields of its ``--columns``, their values as in its train split."""
    size = args.image_size
    make_config = partial(ClockReaderConfig, image_size=size, width=args.width, members=args.members)
    if args.data is None:
        config = make_config(fields=STYLE_FIELDS if args.fields else None)
        train = RenderedClocks(args.steps * args.batch_size * args.grad_accum, train_stream(args.seed), size)
        return config, train, *validation_clocks(args.val_size, size)
    from shared.data import load_images, with_validation
    from stage2_prior.data import infer_fields

    ds = with_validation(load_images(args.data), args.seed)
    names = [c.strip() for c in args.columns.split(",") if c.strip()]
    fields = {f.name: f.values for f in infer_fields(ds["train"], names)}
    time = set(TIME_FIELDS) <= set(fields)  # else a lone hour or minute is a field like any other
    config = make_config(fields={k: v for k, v in fields.items() if not (time and k in TIME_FIELDS)})
    val = LabelledImages(ds["validation"], fields, size)
    if not len(val):
        raise ValueError(
            f"none of the {ds['validation'].num_rows} validation images of {args.data!r} has values of "
            f"{', '.join(fields)} seen in its training images, so the reader cannot be scored"
        )
    return config, LabelledImages(ds["train"], fields, size), val.batch(), None


def reader_to_train(args: ReaderTrainingArguments, config: ClockReaderConfig) -> Callable[[], ClockReader]:
    """A new reader of ``config``, or with ``--init-from`` the saved one, checked to read what ``config`` reads."""
    if args.init_from is None:
        return lambda: ClockReader(config)
    start = load_reader(args.init_from)
    if (start.config.image_size, start.config.fields) != (config.image_size, config.fields):
        raise ValueError(
            f"--init-from {args.init_from!r} reads {_reads(start.config)} (with their values), but this run's "
            f"data asks for {_reads(config)}: start from a reader of the same fields and size, or from random weights"
        )
    return lambda: start.train()


def _reads(config: ClockReaderConfig) -> str:
    return f"{', '.join(name for name, _ in config.fields) or 'the time only'} at {config.image_size} px"


def train_reader(args: ReaderTrainingArguments) -> tuple[ClockReader, dict]:
    """Train a reader from scratch through ``fit`` (on freshly rendered clocks, or a labelled folder with
    ``--data``); saved to ``args.out/model``. Returns ``(model, metrics)``: the last evaluation on the
    validation rows (``time_accuracy``, ``field/<name>``, ``time_accuracy_held_out_style``)."""
    config, train, val, held_out = reader_data(args)

    def compute_loss(model, batch, generator):
        x = augment(batch["images"].float() / 127.5 - 1, generator)
        hl, ml, fl = model(x, fields=True, members=True)

        def ce(logits, target, **kw):  # each member learns alone: the mean of their losses
            return F.cross_entropy(logits.float().flatten(0, 1), target.repeat(len(logits)), **kw)

        losses = {}
        if "hour" in batch:
            # the minute target is smoothed onto its neighbours: an error of one minute is nearly right
            losses["time_loss"] = ce(hl, batch["hour"]) + ce(ml, batch["minute"], label_smoothing=0.1)
        if fl:
            field_losses = [ce(v, batch["fields"][:, j]) for j, v in enumerate(fl.values())]
            losses["field_loss"] = torch.stack(field_losses).mean()
        loss = losses.get("time_loss", 0) + args.field_weight * losses.get("field_loss", 0)
        return loss, {k: v.detach() for k, v in losses.items()}

    def evaluate(model, step):
        return measure_reader(model, val, held_out)

    name = "clock_reader" if args.init_from is None else f"clock_reader (fine-tuned from {args.init_from})"
    model, metrics = fit(args, reader_to_train(args, config), train, compute_loss, evaluate, name=name)
    return model.eval(), metrics


ARGUMENTS = (ReaderTrainingArguments,)


def run(args: ReaderTrainingArguments) -> None:
    train_reader(args)


if __name__ == "__main__":
    from transformers import HfArgumentParser

    run(
        *HfArgumentParser(ARGUMENTS, prog="python -m pipelines.reader").parse_args_into_dataclasses(
            look_for_args_file=False
        )
    )
