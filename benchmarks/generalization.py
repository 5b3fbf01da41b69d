"""Does the prior understand the dial, or remember pictures?

Trains a prior on the shipped tokens with 72 of the 720 times held out of its data (every
tenth minute of the dial, offset 5: 12:05, 12:15, ..., 11:55), then reads its clocks for
exactly those unseen times and for 72 times it did see (12:00, 12:10, ...), side by side.

    python benchmarks/generalization.py --tokens runs/ship/tokens --tokenizer runs/ship/tokenizer/model \
        --out runs/generalization --steps 900
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.evaluate import load_reader, time_accuracy
from pipelines.pipeline import ClockPipeline
from stage1_vqvae import VQVAEModel
from stage2_prior import train_prior

HELD_OUT = [(t // 60, t % 60) for t in range(5, 720, 10)]
SEEN = [(t // 60, t % 60) for t in range(0, 720, 10)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", default="runs/generalization")
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 3.0])
    args = p.parse_args()
    out = Path(args.out)
    prior, metrics = train_prior(args.tokens, out / "prior", steps=args.steps, holdout_times=HELD_OUT,
                                 mixed_precision="bf16", resume=True)
    pipe = ClockPipeline(VQVAEModel.from_pretrained(args.tokenizer), prior.float())
    reader = load_reader()
    rows = []
    for g in args.guidance:
        for name, times in (("held out of training (72)", HELD_OUT), ("seen in training (72)", SEEN)):
            row, _ = time_accuracy(lambda h, m, g=g: pipe.decode(pipe.generate_ids(h, m, seed=0, guidance_scale=g)),
                                   reader, times)
            rows.append({"times": name, "guidance": g, "accuracy": row["accuracy"],
                         "mean_error_minutes": row["mean_error_minutes"]})
            print(json.dumps(rows[-1]), flush=True)
    lines = [f"prior trained {args.steps} steps without the held-out times (eval {metrics.get('eval_bits_per_token', '?')} "
             "bits/token); min_p 0.1, temperature 1", "",
             "| times | guidance | read correctly | mean error (min) |", "|---|---|---|---|"]
    lines += [f"| {r['times']} | {r['guidance']:g} | {r['accuracy']:.1%} | {r['mean_error_minutes']:.1f} |" for r in rows]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
