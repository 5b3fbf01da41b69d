"""Finite scalar quantization (Mentzer et al. 2023): bounded per-dimension rounding.

The codebook is implicit (the product of the per-dimension levels), so it cannot
collapse; the interface matches :class:`VectorQuantizer`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .quantizer import to_tokens, usage_stats


class FSQ(nn.Module):
    def __init__(self, levels: tuple[int, ...] = (8, 8, 8), dim: int = 64, eps: float = 1e-3):
        super().__init__()
        self.levels = list(levels)
        self.dim, self.code_dim, self.eps = dim, len(self.levels), eps
        self.codebook_size = math.prod(self.levels)  # plain ints: the model is also built on the meta device
        self.proj_in = nn.Linear(dim, self.code_dim)
        self.proj_out = nn.Linear(self.code_dim, dim)

    def _levels_f(self, device):
        return torch.tensor(self.levels, dtype=torch.float32, device=device)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        levels = self._levels_f(z.device)
        half = (levels - 1) * (1 + self.eps) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Rounded, scaled to [-1, 1], with a straight-through gradient."""
        b = self.bound(z)
        q = b + (b.round() - b).detach()
        return q / (self._levels_f(z.device) // 2)

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
        return self.proj_out(self.indices_to_codes(indices))

    @torch.no_grad()
    def indices(self, z: torch.Tensor) -> torch.Tensor:
        flat, unflatten = to_tokens(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            return unflatten(self.codes_to_indices(self.quantize(self.proj_in(flat.float()))), ids=True)

    def forward(self, z: torch.Tensor):
        flat_in, unflatten = to_tokens(z)
        if flat_in.shape[-1] != self.dim:
            raise ValueError(f"expected {self.dim} channels to quantize, got {flat_in.shape[-1]}")
        with torch.autocast(device_type=z.device.type, enabled=False):
            q = self.quantize(self.proj_in(flat_in.float()))
            indices = self.codes_to_indices(q.detach())
            out = self.proj_out(q)
        stats = usage_stats(indices, self.codebook_size)
        stats["restarted"] = torch.tensor(0.0)
        return unflatten(out.to(z.dtype)), unflatten(indices, ids=True), out.new_zeros(()), stats
