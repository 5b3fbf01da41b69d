"""How many redraws, at which confidence? The verifier's settings, measured by a judge.

Draws ``--candidates`` clocks for every request (the 720 times with style left open, and
as many requests of a time plus one style field at a random value, the fields taking turns),
scores each with the verifier (``ClockReader.request_confidence``: the shipped reader's
probability that the clock shows what was asked) and with an independent judge (time
within 3 minutes, asked field read as asked). Then replays ``ClockPipeline.draw``'s policy
offline for each (max_redraws, min_confidence): the first draw, then redraws while the best
so far is below the threshold, keeping the surest. Prints the judge's accuracy and the mean
number of draws per clock for each setting, and writes them to ``OUT/rerank.json``.
The candidates' code ids go to ``OUT/candidates.safetensors``: ``--candidates-from`` scores
the same clocks again (another verifier, another judge) without sampling them again.
The judge reads the pictures as the pipeline hands them out. A pipeline without style fields
(``qvae train --data DIR --conditions hour,minute``) is asked the 720 times alone.

    python benchmarks/rerank.py --model runs/gpu_ship/pipeline --out runs/rerank --guidance 3
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from pipelines.evaluate import ALL_TIMES, style_fields, styled_requests
from pipelines.pipeline import ClockPipeline
from pipelines.reader import TOLERANCE, circular_error, fields_as_asked, load_reader
from shared.time_prompts import TIME_FIELDS

JUDGE = Path(__file__).parent / "judge_reader"
REDRAWS = (0, 1, 2, 3, 5, 7, 11, 15)
THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.98)


def requests(pipe, verifier, judge, seed: int) -> list[dict]:
    """The 720 times with style open, then 720 times each with one style field asked."""
    rng = random.Random(seed)
    fields = [f for f in style_fields(pipe, verifier) if f in judge.fields]
    open_style = [{"hour": h, "minute": m} for h, m in ALL_TIMES]
    if not fields:  # a pipeline of the time alone
        return open_style
    return open_style + styled_requests(pipe, fields, rng.sample(ALL_TIMES, len(ALL_TIMES)), rng)


def judged(judge, images: torch.Tensor, asked: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: is the time read right, and is every asked style field read as asked."""
    hours, minutes = judge.read(images)
    time_ok = circular_error(hours, minutes, [a["hour"] for a in asked], [a["minute"] for a in asked]) <= TOLERANCE
    field_ok = torch.ones(len(images), dtype=torch.bool)
    for rows, honoured in fields_as_asked(judge, images, asked).values():
        field_ok[rows] &= honoured
    return time_ok, field_ok


def replay(confidence: torch.Tensor, max_redraws: int, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``draw``'s policy on precomputed candidates ``[R, N]``: the index kept and the draws made, per request."""
    best = confidence[:, 0].clone()
    kept = torch.zeros(len(confidence), dtype=torch.long)
    draws = torch.ones(len(confidence))
    for a in range(1, max_redraws + 1):
        redo = best < threshold
        draws += redo.float()
        better = redo & (confidence[:, a] > best)
        kept[better], best[better] = a, confidence[better, a]
    return kept, draws


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="pipeline folder")
    p.add_argument("--verifier", help="clock reader that chooses (default: the shipped reader)")
    p.add_argument("--judge", default=str(JUDGE), help="independent clock reader that judges")
    p.add_argument("--candidates", type=int, default=16)
    p.add_argument("--guidance", type=float, help="default: the pipeline's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--candidates-from", help="OUT/candidates.safetensors of an earlier run: score those clocks")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    pipe = ClockPipeline.from_pretrained(args.model)
    verifier, judge = load_reader(args.verifier), load_reader(args.judge)
    asked = requests(pipe, verifier, judge, args.seed)
    ids = load_file(args.candidates_from)["ids"] if args.candidates_from else None
    if ids is not None:
        if ids.shape[1] != len(asked):
            raise SystemExit(f"{args.candidates_from} holds clocks for {ids.shape[1]} requests, not {len(asked)}")
    else:
        ids = torch.stack(
            [
                pipe.generate_ids(asked, seed=args.seed + 7919 * c, guidance_scale=args.guidance)
                for c in tqdm(range(args.candidates), desc="sampling candidates")
            ]
        )
        save_file({"ids": ids.contiguous()}, out / ".candidates.tmp")
        (out / ".candidates.tmp").rename(out / "candidates.safetensors")
    candidates = len(ids)
    confidence, time_ok, field_ok = (torch.zeros(len(asked), candidates) for _ in range(3))
    for c in tqdm(range(candidates), desc="scoring candidates"):
        images = pipe.decode(ids[c])
        confidence[:, c] = verifier.request_confidence(images, asked)
        time_ok[:, c], field_ok[:, c] = judged(judge, pipe.handed_out(images), asked)

    n = len(ALL_TIMES)

    def mean(x: torch.Tensor) -> float | None:  # None where nothing was asked (no style fields)
        return x.float().mean().item() if len(x) else None

    field_of = [next(k for k in a if k not in TIME_FIELDS) for a in asked[n:]]
    rows = []
    for r in (r for r in REDRAWS if r < candidates):
        for t in THRESHOLDS if r else THRESHOLDS[:1]:
            kept, draws = replay(confidence, r, t)
            pick = lambda x: x.gather(1, kept[:, None]).squeeze(1).bool()  # noqa: E731
            tk, fk = pick(time_ok), pick(field_ok)
            rows.append(
                {
                    "max_redraws": r,
                    "min_confidence": t if r else None,
                    "time_style_open": mean(tk[:n]),
                    "time_style_asked": mean(tk[n:]),
                    "field_honoured": mean(fk[n:]),
                    "mean_draws": mean(draws),
                    "mean_draws_style_open": mean(draws[:n]),
                    "mean_draws_style_asked": mean(draws[n:]),
                    "per_field": {f: mean(fk[n:][[g == f for g in field_of]]) for f in dict.fromkeys(field_of)},
                }
            )
    result = {
        "model": args.model,
        "verifier": args.verifier or "shipped reader",
        "judge": args.judge,
        "guidance": args.guidance,
        "candidates": candidates,
        "any_candidate_right": {
            "time_style_open": time_ok[:n].amax(1).mean().item(),
            "time_and_field_style_asked": mean((time_ok[n:] * field_ok[n:]).amax(1)),
        },
        "rows": rows,
    }
    (out / "rerank.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| max redraws | min confidence | time, style open | time, style asked | field honoured "
        "| draws per clock: all / style open / style asked |"
    )
    print("|---|---|---|---|---|---|")

    def cell(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for r in rows:
        shares = (r[k] for k in ("time_style_open", "time_style_asked", "field_honoured"))
        costs = (r[k] for k in ("mean_draws", "mean_draws_style_open", "mean_draws_style_asked"))
        print(
            f"| {r['max_redraws']} | {r['min_confidence'] or '-'} | "
            + " | ".join(cell(c, ".1%") for c in shares)
            + f" | {' / '.join(cell(d, '.2f') for d in costs)} |"
        )
    print("a candidate right among all:", result["any_candidate_right"])


if __name__ == "__main__":
    main()
