"""The prior's vocabulary: code ids first (token id == code id), then condition tokens.

| ids            | meaning                              |
|----------------|--------------------------------------|
| 0 .. K-1       | image codes                          |
| K .. K+11      | hour tokens (0..11)                  |
| K+12 .. K+71   | minute tokens (0..59)                |
| K+72, K+73     | null hour, null minute (guidance)    |
| K+74           | PAD (generate() wants one; never trained) |

A sequence is ``[hour, minute, c_0 .. c_{hw-1}]`` in raster order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

HOURS, MINUTES = 12, 60
CONFIG_KEY = "qvae_vocab"


@dataclass(frozen=True)
class Vocab:
    codebook_size: int
    grid_shape: tuple[int, int] = (8, 8)

    def __post_init__(self):
        if int(self.codebook_size) < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        h, w = (int(x) for x in self.grid_shape)
        if h < 1 or w < 1:
            raise ValueError(f"grid_shape must be positive, got {self.grid_shape}")
        object.__setattr__(self, "codebook_size", int(self.codebook_size))
        object.__setattr__(self, "grid_shape", (h, w))

    @property
    def hour_offset(self) -> int:
        return self.codebook_size

    @property
    def minute_offset(self) -> int:
        return self.codebook_size + HOURS

    @property
    def null_hour(self) -> int:
        return self.codebook_size + HOURS + MINUTES

    @property
    def null_minute(self) -> int:
        return self.null_hour + 1

    @property
    def pad(self) -> int:
        return self.null_hour + 2

    @property
    def size(self) -> int:
        return self.pad + 1

    @property
    def num_codes(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def num_cond(self) -> int:
        return 2

    @property
    def seq_len(self) -> int:
        return self.num_cond + self.num_codes

    def condition_ids(self, hours, minutes) -> torch.Tensor:
        """LongTensor [B, 2] of (hour token, minute token); ValueError for a time off the dial."""
        hours = torch.as_tensor(hours, dtype=torch.long).reshape(-1)
        minutes = torch.as_tensor(minutes, dtype=torch.long).reshape(-1)
        if hours.shape != minutes.shape:
            raise ValueError(f"got {hours.numel()} hours but {minutes.numel()} minutes")
        if ((hours < 0) | (hours >= HOURS)).any():
            raise ValueError(f"hour must be in 0..11, got {hours[(hours < 0) | (hours >= HOURS)][0].item()}")
        if ((minutes < 0) | (minutes >= MINUTES)).any():
            raise ValueError(f"minute must be in 0..59, got {minutes[(minutes < 0) | (minutes >= MINUTES)][0].item()}")
        return torch.stack([hours + self.hour_offset, minutes + self.minute_offset], dim=1)

    def null_ids(self, batch: int) -> torch.Tensor:
        return torch.tensor([[self.null_hour, self.null_minute]], dtype=torch.long).expand(batch, 2).clone()

    def decode_condition(self, ids) -> tuple[list[int | None], list[int | None]]:
        """Condition token ids [B, 2] -> (hours, minutes); None where the null token stands."""
        ids = torch.as_tensor(ids).reshape(-1, 2).tolist()
        hours = [None if h == self.null_hour else h - self.hour_offset for h, _ in ids]
        minutes = [None if m == self.null_minute else m - self.minute_offset for _, m in ids]
        for h in hours:
            if h is not None and not 0 <= h < HOURS:
                raise ValueError(f"not an hour token: {h + self.hour_offset}")
        for m in minutes:
            if m is not None and not 0 <= m < MINUTES:
                raise ValueError(f"not a minute token: {m + self.minute_offset}")
        return hours, minutes

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid_shape"] = list(self.grid_shape)
        d.update(hour_offset=self.hour_offset, minute_offset=self.minute_offset, null_hour=self.null_hour,
                 null_minute=self.null_minute, pad=self.pad, vocab_size=self.size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        v = cls(int(d["codebook_size"]), tuple(d["grid_shape"]))
        if "vocab_size" in d and int(d["vocab_size"]) != v.size:
            raise ValueError(f"vocabulary layout mismatch: stored size {d['vocab_size']}, expected {v.size}")
        return v


def prior_vocab(model_or_config) -> Vocab:
    """The vocabulary a prior (or its config) was built with."""
    config = getattr(model_or_config, "config", model_or_config)
    d = getattr(config, CONFIG_KEY, None)
    if d is None:
        raise ValueError("this model has no qvae vocabulary in its config: not a stage-2 prior")
    return Vocab.from_dict(d)
