"""Does ``qvae train --data`` on its defaults train at the fp32 speed where the CPU has no native bf16?

Writes a labelled folder of another renderer's clocks (``tests/clock_renderer_b.py``), then
runs ``qvae train --data DIR --conditions hour,minute`` on it twice, in this one run, with the
same steps: on the defaults (precision ``auto``) and with ``--mixed-precision no`` (fp32).
Prints each stage's seconds, the precision each run chose, and the ratio defaults / fp32
(the issue asks <= 1.2 on a CPU without native bf16). Reproduce an AVX2-only CPU on a newer
one with the environment of the second command:

    python benchmarks/bench_default_precision.py --out runs/precision_native
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/bench_default_precision.py --out runs/precision_avx2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from clock_renderer_b import write_clock_folder  # noqa: E402  (the stand-in for a user's folder)

STAGES = ("2/8 tokenizer", "4/8 prior")


def train(data: Path, out: Path, steps: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "pipelines.cli", "train", "--data", str(data), "--conditions", "hour,minute"]
    cmd += ["--out", str(out), "--tokenizer-steps", str(steps), "--prior-steps", str(steps), "--no-evaluate"]
    cmd += ["--start-from", "none", "--reader-steps", "0", *extra]  # both stages from nothing, no reader
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    precision = {s: json.loads((out / s / "metrics.json").read_text())["precision"] for s in ("tokenizer", "prior")}
    return {"seconds": {s: summary["timings_s"][s] for s in STAGES}, "precision": precision}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=40, help="optimizer steps of each stage, in each run")
    p.add_argument("--train-size", type=int, default=2000)
    args = p.parse_args()
    out = Path(args.out)
    data = out / "folder"
    if not data.exists():
        write_clock_folder(data, args.train_size, 72, 72)
    runs = {
        "defaults": train(data, out / "defaults", args.steps, []),
        "fp32": train(data, out / "fp32", args.steps, ["--mixed-precision", "no"]),
    }
    ratio = {s: runs["defaults"]["seconds"][s] / runs["fp32"]["seconds"][s] for s in STAGES}
    result = {"steps": args.steps, "runs": runs, "ratio_defaults_over_fp32": ratio}
    (out / "precision.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| run | precision (tokenizer, prior) | tokenizer s | prior s |\n|---|---|---|---|")
    for name, r in runs.items():
        sec = r["seconds"]
        print(
            f"| {name} | {r['precision']['tokenizer']}, {r['precision']['prior']} | {sec[STAGES[0]]} | {sec[STAGES[1]]} |"
        )
    print(f"| ratio defaults / fp32 | | {ratio[STAGES[0]]:.2f} | {ratio[STAGES[1]]:.2f} |")


if __name__ == "__main__":
    main()
