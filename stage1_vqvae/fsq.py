"""Finite scalar quantization (Mentzer et al. 2023): bounded per-dimension rounding.

The codebook is implicit (the product of the per-dimension levels), so it cannot
collapse; the interface matches :class:`VectorQuantizer`.

``groups > 1`` quantizes ``groups * len(levels)`` dimensions a position and writes them as
``groups`` ids of ``prod(levels)`` codes each, side by side along the last grid axis (a
``[B, h, w]`` latent gives ``[B, h, w * groups]`` ids): more bits a position at the same
vocabulary ([8, 8, 8, 8] in 2 groups: 24 bits as two ids of 4096), in the token format every
consumer of ids already reads.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .quantizer import to_tokens, usage_stats


class FSQ(nn.Module):
    def __init__(self, levels: tuple[int, ...] = (8, 8, 8), dim: int = 64, eps: float = 1e-3, groups: int = 1):
        super().__init__()
        if groups < 1:
            raise ValueError(f"groups must be at least 1, got {groups}")
        self.levels, self.groups = list(levels), groups
        self.dim, self.code_dim, self.eps = dim, len(self.levels) * groups, eps
        self.codebook_size = math.prod(self.levels)  # plain ints: the model is also built on the meta device
        self.proj_in = nn.Linear(dim, self.code_dim)
        self.proj_out = nn.Linear(self.code_dim, dim)

    def _levels_f(self, device):
        return torch.tensor(self.levels, dtype=torch.float32, device=device)

    def _dims_levels(self, device):
        """The levels of every quantized dimension: the group's levels, once a group."""
        return self._levels_f(device).repeat(self.groups)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        levels = self._dims_levels(z.device)
        half = (levels - 1) * (1 + self.eps) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Rounded, scaled to [-1, 1], with a straight-through gradient."""
        b = self.bound(z)
        q = b + (b.round() - b).detach()
        return q / (self._dims_levels(z.device) // 2)

    def _ids(self, q: torch.Tensor, unflatten) -> torch.Tensor:
        """Codes ``[M, code_dim]`` -> ids on ``unflatten``'s grid, its last axis ``groups`` times as long
        (a position's groups side by side)."""
        lead = unflatten(q[:, 0], ids=True).shape
        return self.codes_to_indices(q.unflatten(-1, (self.groups, -1))).reshape(*lead[:-1], -1)

    def codes_to_indices(self, q: torch.Tensor) -> torch.Tensor:
        levels = self._levels_f(q.device)
        half = levels // 2
        digits = (q * half + half).round().long()
        return (digits * torch.cumprod(torch.cat([levels.new_ones(1), levels[:-1]]), 0).long()).sum(-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        levels = self._levels_f(indices.device).long()
        basis = torch.cumprod(torch.cat([levels.new_ones(1), levels[:-1]]), 0)
        digits = (indices[..., None] // basis) % levels
        half = levels // 2
        return (digits - half).float() / half.float()

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        if indices.min() < 0 or indices.max() >= self.codebook_size:
            raise ValueError(
                f"code ids must lie in [0, {self.codebook_size}), got [{int(indices.min())}, {int(indices.max())}]"
            )
        if indices.shape[-1] % self.groups:
            raise ValueError(f"the last axis of the ids ({indices.shape[-1]}) holds {self.groups} ids a position")
        codes = self.indices_to_codes(indices.unflatten(-1, (-1, self.groups)))
        return self.proj_out(codes.flatten(-2))

    @torch.no_grad()
    def indices(self, z: torch.Tensor) -> torch.Tensor:
        flat, unflatten = to_tokens(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self._ids(self.quantize(self.proj_in(flat.float())), unflatten)

    def forward(self, z: torch.Tensor):
        flat_in, unflatten = to_tokens(z)
        if flat_in.shape[-1] != self.dim:
            raise ValueError(f"expected {self.dim} channels to quantize, got {flat_in.shape[-1]}")
        with torch.autocast(device_type=z.device.type, enabled=False):
            q = self.quantize(self.proj_in(flat_in.float()))
            indices = self._ids(q.detach(), unflatten)
            out = self.proj_out(q)
        stats = usage_stats(indices, self.codebook_size)
        stats["restarted"] = torch.tensor(0.0)
        return unflatten(out.to(z.dtype)), indices, out.new_zeros(()), stats
