"""Muon for the hidden matrices beside AdamW for the rest, as one optimizer of the training loop.

``torch.optim.Muon`` orthogonalises each matrix's update by its own Newton-Schulz steps: five
iterations of three small matrix products, one matrix at a time. A small transformer has many
matrices of few shapes (the LLM example: 28 matrices, 3 shapes), and on a CPU those 420
products cost more in dispatch than in arithmetic. ``BatchedMuon`` is the same optimizer (the
same arguments, state and update; a test holds it to torch's) that stacks the matrices of one
shape and runs their Newton-Schulz steps as batched products (``benchmarks/bench_muon.py`` times
both; the figures are in benchmarks/RESULTS.md). Its Newton-Schulz steps run in bf16 as torch's
do, or in fp32 (``ns_dtype``) where the device has no native bf16: there bf16 products take a
fallback path 30 times slower than fp32 ones.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from itertools import chain

import torch


def newton_schulz(
    updates: torch.Tensor,
    coefficients: tuple[float, float, float],
    steps: int,
    eps: float,
    dtype: torch.dtype = torch.bfloat16,
):
    """The orthogonalised ``updates [n, A, B]`` (in ``dtype``), each matrix as torch's Muon computes it
    alone: scaled to unit Frobenius norm, then ``steps`` quintic Newton-Schulz iterations, on the wide side."""
    a, b, c = coefficients
    tall = updates.size(-2) > updates.size(-1)
    x = updates.to(dtype)
    if tall:
        x = x.mT
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.mT if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """torch's Muon learning-rate scaling: ``match_rms_adamw`` (Moonshot: 0.2 * sqrt(max(A, B)), an
    update of AdamW's size) or the original ``sqrt(max(1, A / B))``."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1, rows / cols)) if adjust_lr_fn in (None, "original") else lr


class BatchedMuon(torch.optim.Muon):
    """``torch.optim.Muon`` with the Newton-Schulz steps of all matrices of one shape batched, in
    ``ns_dtype`` (torch's: bf16)."""

    def __init__(self, params, ns_dtype: torch.dtype = torch.bfloat16, **kwargs):
        super().__init__(params, **kwargs)
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), group["momentum"]
            by_shape = defaultdict(list)
            for p in group["params"]:
                if p.grad is not None:
                    by_shape[p.shape].append(p)
            for shape, params in by_shape.items():
                grads = [p.grad for p in params]
                bufs = [self.state[p].setdefault("momentum_buffer", torch.zeros_like(p)) for p in params]
                torch._foreach_lerp_(bufs, grads, 1 - momentum)
                updates = torch._foreach_lerp(grads, bufs, momentum) if group["nesterov"] else bufs
                ortho = newton_schulz(
                    torch.stack(updates), group["ns_coefficients"], group["ns_steps"], group["eps"], self.ns_dtype
                )
                torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
                torch._foreach_add_(
                    params,
                    list(ortho.to(params[0].dtype).unbind(0)),
                    alpha=-adjusted_lr(lr, group["adjust_lr_fn"], shape),
                )
        return loss


class JointState(Mapping):
    """Read-only view of several optimizers' per-parameter state. Not a ``ChainMap``: looking a
    parameter up there would add an empty entry to the first child's ``defaultdict``."""

    def __init__(self, *states: dict):
        self.states = states

    def __getitem__(self, param):
        for state in self.states:
            if param in state:
                return state[param]
        raise KeyError(param)

    def __iter__(self):
        return chain(*self.states)

    def __len__(self) -> int:
        return sum(map(len, self.states))


class MuonAdamW(torch.optim.Optimizer):
    """Muon on ``hidden`` (2-D matrices), AdamW on ``groups``: one optimizer to the schedule,
    accelerate and checkpoints. Muon's step is scaled to AdamW's size (``match_rms_adamw``, as
    Moonshot's Muon), so one learning rate and weight decay serve both."""

    def __init__(
        self,
        hidden: list,
        groups: list[dict],
        lr: float,
        weight_decay: float,
        betas: tuple,
        ns_dtype: torch.dtype = torch.bfloat16,
    ):
        self.muon = BatchedMuon(
            hidden, ns_dtype=ns_dtype, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"
        )
        self.adamw = torch.optim.AdamW(groups, lr=lr, betas=betas)
        super().__init__([p for g in groups for p in g["params"]] + hidden, {"lr": lr})
        self._share_groups()

    def _share_groups(self) -> None:
        # the children's own group dicts, so that the schedule's learning rate reaches both, and
        # their state as one read-only view, for whoever inspects ``optimizer.state[p]``
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
        self.state = JointState(self.muon.state, self.adamw.state)

    @torch.no_grad()
    def step(self, closure=None):
        self.muon.step()
        self.adamw.step()

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])
        # loading gives the children new group dicts (accelerate's prepare loads once to place the
        # state): point at those, or the schedule would set the learning rate of stale copies
        self._share_groups()
