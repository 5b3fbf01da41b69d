"""The prior's vocabulary, derived from its condition fields: codes first, then conditions.

A prior is conditioned on named categorical **fields**, each with an ordered list of
values (the clock prior: ``hour`` 0..11, ``minute`` 0..59 and the renderer's style fields;
a user's data: its own label columns). With K codes and fields f_1 .. f_n of sizes
|f_1| .. |f_n|:

| ids                                   | meaning                                        |
|---------------------------------------|------------------------------------------------|
| 0 .. K-1                              | image codes (token id == code id)              |
| K .. K+|f_1|-1, then f_2's, ...        | each field's value tokens, field after field   |
| K+sum|f| .. K+sum|f|+n-1              | each field's null token (the field left open)  |
| K+sum|f|+n                            | PAD (generate() wants one; never trained)      |

A sequence is ``[field_1 .. field_n, c_0 .. c_{hw-1}]``, codes in raster order; the loss
counts code positions only. Conditions travel as an index tensor ``[B, n]`` of value
positions, -1 for an open field. With the two time fields this is exactly the layout of
the first priors (hour, minute, null hour, null minute, PAD), so their weights still load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

CONFIG_KEY = "qvae_vocab"
OPEN = -1  # the index of a field left open (its null token)


@dataclass(frozen=True)
class Field:
    """A named categorical condition and its ordered values (strings or integers)."""

    name: str
    values: tuple

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if not self.name or not self.values:
            raise ValueError(f"a condition field needs a name and at least one value, got {self.name!r}")
        if len(set(map(str, self.values))) != len(self.values):
            raise ValueError(f"field {self.name!r} lists a value twice")

    def index(self, value) -> int:
        """The position of ``value`` (compared as written: ``3`` and ``"3"`` are the same value)."""
        if value in self.values:
            return self.values.index(value)
        text = str(value).strip().lower()
        for i, v in enumerate(self.values):
            if str(v).lower() == text:
                return i
        shown = ", ".join(map(str, self.values[:80])) + (", ..." if len(self.values) > 80 else "")
        raise ValueError(f"{value!r} is not a value of {self.name!r}; accepted: {shown}")


TIME_FIELDS = (Field("hour", tuple(range(12))), Field("minute", tuple(range(60))))


@dataclass(frozen=True)
class Vocab:
    codebook_size: int
    grid_shape: tuple[int, int] = (8, 8)
    fields: tuple[Field, ...] = TIME_FIELDS

    def __post_init__(self):
        if int(self.codebook_size) < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        h, w = (int(x) for x in self.grid_shape)
        if h < 1 or w < 1:
            raise ValueError(f"grid_shape must be positive, got {self.grid_shape}")
        fields = tuple(f if isinstance(f, Field) else Field(f["name"], f["values"]) for f in self.fields)
        if not fields:
            raise ValueError("a prior needs at least one condition field")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"condition field names repeat: {names}")
        object.__setattr__(self, "codebook_size", int(self.codebook_size))
        object.__setattr__(self, "grid_shape", (h, w))
        object.__setattr__(self, "fields", fields)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def offsets(self) -> torch.Tensor:
        """The token id of each field's first value, ``LongTensor [n]``."""
        sizes = torch.tensor([0] + [len(f.values) for f in self.fields[:-1]])
        return self.codebook_size + sizes.cumsum(0)

    @property
    def null_tokens(self) -> torch.Tensor:
        return torch.arange(self.pad - len(self.fields), self.pad)

    @property
    def pad(self) -> int:
        # plain integers, no tensor: a compiled forward that reads the vocabulary must not
        # break its graph on a tensor-to-int
        return self.codebook_size + sum(len(f.values) for f in self.fields) + len(self.fields)

    @property
    def size(self) -> int:
        return self.pad + 1

    @property
    def num_codes(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def num_cond(self) -> int:
        return len(self.fields)

    @property
    def seq_len(self) -> int:
        return self.num_cond + self.num_codes

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise ValueError(f"unknown condition field {name!r}; this prior's fields: {', '.join(self.names)}")

    def encode(self, conditions: Mapping | Sequence[Mapping]) -> torch.Tensor:
        """``{field: value}`` (or a list of them) -> index ``LongTensor [B, n]``, -1 where a field is open;
        an index tensor passes through. An unknown field or value is a ValueError that lists what is accepted."""
        if torch.is_tensor(conditions):
            return conditions.long().reshape(-1, self.num_cond)
        rows = [conditions] if isinstance(conditions, Mapping) else list(conditions)
        out = torch.full((len(rows), self.num_cond), OPEN, dtype=torch.long)
        for r, row in enumerate(rows):
            for name, value in row.items():
                if value is None:
                    continue
                j = self.names.index(self.field(name).name)
                out[r, j] = self.fields[j].index(value)
        return out

    def decode(self, index) -> list[dict]:
        """Index ``[B, n]`` -> ``[{field: value}]``, open fields left out."""
        return [
            {f.name: f.values[int(i)] for f, i in zip(self.fields, row) if int(i) != OPEN}
            for row in torch.as_tensor(index).reshape(-1, self.num_cond)
        ]

    def condition_ids(self, index) -> torch.Tensor:
        """Index ``[B, n]`` (-1 = open) -> condition token ids ``[B, n]``; ValueError off the value lists."""
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1, self.num_cond)
        sizes = torch.tensor([len(f.values) for f in self.fields])
        bad = (index < OPEN) | (index >= sizes)
        if bad.any():
            j = int(bad.nonzero()[0, 1])
            raise ValueError(
                f"field {self.names[j]!r} has {int(sizes[j])} values (index 0..{int(sizes[j]) - 1}, "
                f"or -1 for open), got {int(index[bad][0])}"
            )
        return torch.where(index == OPEN, self.null_tokens, index + self.offsets)

    def null_ids(self, batch: int) -> torch.Tensor:
        return self.null_tokens.expand(batch, -1).clone()

    def to_dict(self) -> dict:
        return {
            "codebook_size": self.codebook_size,
            "grid_shape": list(self.grid_shape),
            "fields": [{"name": f.name, "values": list(f.values)} for f in self.fields],
            "null_tokens": self.null_tokens.tolist(),
            "pad": self.pad,
            "vocab_size": self.size,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        fields = tuple(Field(f["name"], f["values"]) for f in d["fields"]) if "fields" in d else TIME_FIELDS
        v = cls(int(d["codebook_size"]), tuple(d["grid_shape"]), fields)
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
