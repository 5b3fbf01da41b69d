"""Muon's step on the LLM example's hidden matrices: ``torch.optim.Muon`` against ``BatchedMuon``.

    python benchmarks/bench_muon.py [--steps 30] [--rounds 2]

Builds the LM of ``examples/llm_tokens.py`` on its defaults (width 256, 4 layers: 28 matrices
of 3 shapes), gives its hidden matrices random gradients and times the optimizer step alone
(momentum, Newton-Schulz steps in bf16, weight decay, update) of each implementation, in
turns, round after round, so a load that comes and goes falls on both. Prints markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from transformers import HfArgumentParser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import llm_tokens  # noqa: E402

from shared.muon import BatchedMuon  # noqa: E402
from shared.training import make_optimizer  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of turns")
    opts = parser.parse_args(argv)
    (args,) = HfArgumentParser(llm_tokens.LMTrainingArguments).parse_args_into_dataclasses([], look_for_args_file=False)
    torch.manual_seed(0)
    lm = llm_tokens.build_lm(1664, 128, args, eos_token_id=0)
    hidden = make_optimizer(lm, args, "muon")[0].muon.param_groups[0]["params"]  # the loop's own choice
    for p in hidden:
        p.grad = torch.randn_like(p) * 1e-3
    shapes = sorted({tuple(p.shape) for p in hidden})
    print(f"{len(hidden)} matrices of shapes {shapes}, {torch.get_num_threads()} threads\n")
    print("| round | torch.optim.Muon | BatchedMuon |\n|---|---|---|")
    for r in range(opts.rounds):
        times = []
        for cls in (torch.optim.Muon, BatchedMuon):
            opt = cls(hidden, lr=args.lr, weight_decay=args.weight_decay, adjust_lr_fn="match_rms_adamw")
            for _ in range(3):  # warm-up
                opt.step()
            start = time.perf_counter()
            for _ in range(opts.steps):
                opt.step()
            times.append((time.perf_counter() - start) / opts.steps)
        print(f"| {r + 1} | {times[0] * 1000:.1f} ms | {times[1] * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
