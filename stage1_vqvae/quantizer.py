"""Vector quantizer: nearest code, EMA or learned codebook, k-means init, dead-code restart.

Correct under ``torch.distributed``: EMA counts / sums are all-reduced before each update,
and k-means init and dead-code restarts are decided on rank 0 and broadcast, so every rank
keeps an identical codebook. Distances and EMA statistics are float32 even under autocast.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _dist() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if _dist():
        dist.all_reduce(t)
    return t


def _broadcast(t: torch.Tensor) -> torch.Tensor:
    if _dist():
        dist.broadcast(t, src=0)
    return t


def to_tokens(z: torch.Tensor) -> tuple[torch.Tensor, callable]:
    """``[B, D, h, w]`` or ``[B, N, D]`` -> ``[M, D]`` and a function that undoes it."""
    if z.ndim == 4:
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        return (
            flat,
            lambda x, ids=False: x.reshape(b, h, w) if ids else x.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous(),
        )
    if z.ndim == 3:
        b, n, d = z.shape
        return z.reshape(-1, d), lambda x, ids=False: x.reshape(b, n) if ids else x.reshape(b, n, -1)
    raise ValueError(f"expected [B, D, h, w] or [B, N, D], got {tuple(z.shape)}")


def usage_stats(indices: torch.Tensor, k: int, counts: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Fraction of the ``k`` codes used and the perplexity of their empirical distribution."""
    if counts is None:
        counts = torch.bincount(indices.reshape(-1), minlength=k).float()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return {"usage": (counts > 0).float().mean(), "perplexity": entropy.exp()}


def kmeans(x: torch.Tensor, k: int, iters: int = 10, cosine: bool = False, generator=None) -> torch.Tensor:
    """Lloyd's k-means on ``x [M, c]`` with k-means++ seeding."""
    m = x.shape[0]
    # k-means++ seeding: each new center drawn with probability proportional to D^2
    centers = x.new_empty(k, x.shape[1])
    centers[0] = x[int(torch.randint(0, m, (1,), generator=generator))]
    d2 = (x - centers[0]).pow(2).sum(1)
    for j in range(1, k):
        p = d2.cpu() + 1e-12
        centers[j] = x[int(torch.multinomial(p / p.sum(), 1, generator=generator))]
        d2 = torch.minimum(d2, (x - centers[j]).pow(2).sum(1))
    for _ in range(iters):
        assign = torch.cdist(x, centers).argmin(1)
        sums = torch.zeros_like(centers).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).float()
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
        if cosine:
            centers = F.normalize(centers, dim=-1)
    return centers


class VectorQuantizer(nn.Module):
    """Nearest-code quantizer returning ``(quantized, indices, loss, stats)``.

    ``dim``: the input channel count; ``code_dim``: the lookup space (a linear projection
    down and back up when it differs). ``ema=True`` updates the codebook by exponential
    moving averages with Laplace smoothing; otherwise the codebook is a parameter trained by
    a codebook loss. ``estimator`` is ``"ste"`` (straight-through) or ``"rotation"``
    (the rotation trick, Fifty et al. 2024). Codes unused for ``restart_after`` training
    steps are re-seeded from current encoder outputs (0 turns that off).
    """

    def __init__(
        self,
        codebook_size: int = 512,
        dim: int = 64,
        code_dim: int | None = None,
        beta: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        cosine: bool = False,
        kmeans_init: bool = True,
        kmeans_iters: int = 10,
        restart_after: int = 50,
        estimator: str = "ste",
    ):
        super().__init__()
        if estimator not in ("ste", "rotation"):
            raise ValueError(f"estimator must be 'ste' or 'rotation', got {estimator!r}")
        self.codebook_size, self.dim = codebook_size, dim
        self.code_dim = code_dim or dim
        self.beta, self.ema, self.decay, self.eps = beta, ema, decay, eps
        self.cosine, self.kmeans_init, self.kmeans_iters = cosine, kmeans_init, kmeans_iters
        self.restart_after, self.estimator = restart_after, estimator
        self.proj_in = nn.Linear(dim, self.code_dim) if self.code_dim != dim else nn.Identity()
        self.proj_out = nn.Linear(self.code_dim, dim) if self.code_dim != dim else nn.Identity()
        embed = torch.randn(codebook_size, self.code_dim)
        if cosine:
            embed = F.normalize(embed, dim=-1)
        if ema:
            self.register_buffer("embed", embed)
            self.register_buffer("ema_count", torch.ones(codebook_size))
            self.register_buffer("ema_sum", embed.clone())
        else:
            self.embed = nn.Parameter(embed)
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("unused_steps", torch.zeros(codebook_size, dtype=torch.long))

    # -- lookups -------------------------------------------------------------------------
    def codebook(self) -> torch.Tensor:
        e = self.embed.float()
        return F.normalize(e, dim=-1) if self.cosine else e

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Ids of the nearest codes for ``flat [M, code_dim]`` (float32 squared L2 / cosine)."""
        e = self.codebook()
        if self.cosine:
            return (F.normalize(flat, dim=-1) @ e.t()).argmax(1)
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)[None]
        return d.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Ids ``[...]`` -> vectors ``[..., dim]`` in the input space."""
        if indices.min() < 0 or indices.max() >= self.codebook_size:
            raise ValueError(
                f"code ids must lie in [0, {self.codebook_size}), got [{int(indices.min())}, {int(indices.max())}]"
            )
        return self.proj_out(self.codebook()[indices])

    @torch.no_grad()
    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Code ids for ``z`` without touching the codebook (``[B, h, w]`` or ``[B, N]``)."""
        flat, unflatten = to_tokens(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            return unflatten(self.nearest(self.proj_in(flat.float())), ids=True)

    # -- codebook maintenance --------------------------------------------------------------
    @torch.no_grad()
    def _init_kmeans(self, flat: torch.Tensor) -> None:
        centers = torch.empty_like(self.embed, dtype=torch.float32)
        if not _dist() or dist.get_rank() == 0:
            centers = kmeans(flat, self.codebook_size, self.kmeans_iters, self.cosine)
        _broadcast(centers)
        self.embed.data.copy_(centers)
        if self.ema:
            self.ema_sum.copy_(centers)
            self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, counts: torch.Tensor, sums: torch.Tensor) -> None:
        d = self.decay
        self.ema_count.mul_(d).add_(counts, alpha=1 - d)
        self.ema_sum.mul_(d).add_(sums, alpha=1 - d)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.codebook_size * self.eps) * n
        new = self.ema_sum / smoothed[:, None]
        self.embed.copy_(F.normalize(new, dim=-1) if self.cosine else new)

    @torch.no_grad()
    def _restart_dead(self, flat: torch.Tensor, counts: torch.Tensor) -> int:
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        if self.restart_after <= 0:
            return 0
        dead = (self.unused_steps >= self.restart_after).nonzero().squeeze(1)
        if dead.numel() == 0:
            return 0
        new = torch.empty(dead.numel(), self.code_dim, device=flat.device)
        if not _dist() or dist.get_rank() == 0:
            pick = torch.randint(0, flat.shape[0], (dead.numel(),), device=flat.device)
            new = flat[pick].clone()
            if self.cosine:
                new = F.normalize(new, dim=-1)
        _broadcast(new)
        self.embed.data[dead] = new.to(self.embed.dtype)
        if self.ema:  # reset the statistics too, or the stale average overwrites the new code
            self.ema_count[dead] = 1.0
            self.ema_sum[dead] = new
        self.unused_steps[dead] = 0
        return dead.numel()

    # -- forward -----------------------------------------------------------------------------
    def forward(self, z: torch.Tensor):
        flat_in, unflatten = to_tokens(z)
        if flat_in.shape[-1] != self.dim:
            raise ValueError(f"expected {self.dim} channels to quantize, got {flat_in.shape[-1]}")
        device_type = z.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            flat = self.proj_in(flat_in.float())
            if self.cosine:
                flat = F.normalize(flat, dim=-1)
            if self.training and not bool(self.initialized):
                self._init_kmeans(flat.detach())
            indices = self.nearest(flat.detach())
            quant = self.codebook()[indices]
            counts = torch.bincount(indices, minlength=self.codebook_size).float()
            restarted = 0
            if self.training:
                global_counts = _all_reduce(counts.clone())
                if self.ema:
                    sums = torch.zeros(self.codebook_size, self.code_dim, device=flat.device)
                    sums.index_add_(0, indices, flat.detach())
                    self._ema_update(flat.detach(), global_counts, _all_reduce(sums))
                restarted = self._restart_dead(flat.detach(), global_counts)
                counts = global_counts
            loss = self.beta * F.mse_loss(flat, quant.detach())
            if not self.ema:
                loss = loss + F.mse_loss(quant, flat.detach())
            if self.estimator == "rotation":
                out = rotate_to(flat, quant.detach())
            else:
                out = flat + (quant.detach() - flat).detach()
            out = self.proj_out(out)
        stats = usage_stats(indices, self.codebook_size, counts)
        stats["restarted"] = torch.tensor(float(restarted))
        return unflatten(out.to(z.dtype)), unflatten(indices, ids=True), loss, stats


def rotate_to(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """The rotation trick: ``e`` in the forward pass, gradients through a rotation of ``x``."""
    xn = x.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    en = e.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    u = (x / xn).detach()
    q = (e / en).detach()
    r = F.normalize(u + q, dim=-1).detach()
    rx = x - 2 * r * (r * x).sum(-1, keepdim=True) + 2 * q * (u * x).sum(-1, keepdim=True)
    return (en / xn).detach() * rx
