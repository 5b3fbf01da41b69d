"""``qvae train``: the whole chain on defaults, from nothing to a measured pipeline folder.

data -> tokenizer -> token export -> prior -> pipeline folder -> (reader) -> evaluation
-> sample grid, each stage under ``OUT/``. A stage whose output is already there is
skipped, so a run stopped anywhere continues where it stopped when started again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from shared.files import save_atomic

DEMO_PROMPTS = ["quarter past three", "10:10", "half past seven", "ten to six", "noon", "7h05",
                "twenty-five past 11", "quarter to nine", "4:40 pm", "1:50", "8:25", "six o'clock"]


def _stage(name: str, done: bool, timings: dict):
    """Print a banner; returns a context that records how long the stage took."""
    print(f"\n=== {name}{' (already done, skipped)' if done else ''} ===", flush=True)

    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            if exc[0] is None:
                timings[name] = round(time.perf_counter() - self.start, 1)
    return _Timer()


def train_all(out: str | Path, data: str | None = None, train_size: int = 60000, styles: int = 16,
              tokenizer_steps: int = 3000, prior_steps: int = 2100, prior_preset: str = "small",
              baseline_steps: int = 0, reader_steps: int = 0, evaluate_after: bool = True, seed: int = 0,
              mixed_precision: str = "bf16") -> dict:
    from pipelines.generate import write_grid
    from pipelines.pipeline import ClockPipeline
    from pipelines.tokenize import export_tokens
    from shared.data import build_clock_dataset
    from stage1_vqvae import VQVAEModel
    from stage1_vqvae.train import train_tokenizer
    from stage2_prior import load_prior, train_prior

    out = Path(out)
    timings: dict = {}
    data_dir = Path(data) if data else out / "data"
    with _stage("1/7 data", data_dir.exists(), timings):
        if not data_dir.exists():
            save_atomic(build_clock_dataset(train=train_size, seed=seed, num_styles=styles), data_dir)
    tok_dir = out / "tokenizer" / "model"
    with _stage("2/7 tokenizer", tok_dir.exists(), timings):
        if not tok_dir.exists():
            train_tokenizer(data_dir, out / "tokenizer", model="vqvae", steps=tokenizer_steps, seed=seed, resume=True,
                            mixed_precision=mixed_precision, eval_every=500, save_every=500)
    tokenizer = VQVAEModel.from_pretrained(str(tok_dir)).eval()
    tokens_dir = out / "tokens"
    with _stage("3/7 token export", (tokens_dir / "tokens.json").exists(), timings):
        if not (tokens_dir / "tokens.json").exists():
            export_tokens(tokenizer, data_dir, tokens_dir)
    prior_dir = out / "prior" / "model"
    with _stage("4/7 prior", prior_dir.exists(), timings):
        if not prior_dir.exists():
            train_prior(tokens_dir, out / "prior", preset=prior_preset, steps=prior_steps, seed=seed, resume=True,
                        mixed_precision=mixed_precision)
    pipe_dir = out / "pipeline"
    with _stage("5/7 pipeline folder", False, timings):
        ClockPipeline(tokenizer, load_prior(str(prior_dir))).save_pretrained(pipe_dir)
        print(f"pipeline written to {pipe_dir}")
    reader_dir = None
    if reader_steps:
        from pipelines.reader import train_reader

        reader_dir = out / "reader"
        with _stage("6/7 clock reader", reader_dir.exists(), timings):
            if not reader_dir.exists():
                save_atomic(train_reader(steps=reader_steps, seed=seed), reader_dir)
    cvae_dir = None
    if baseline_steps:
        cvae_dir = out / "cvae" / "model"
        with _stage("6/7 conditional-VAE baseline", cvae_dir.exists(), timings):
            if not cvae_dir.exists():
                train_tokenizer(data_dir, out / "cvae", model="cvae", steps=baseline_steps, seed=seed, resume=True,
                                mixed_precision=mixed_precision, eval_every=500, save_every=500)
    summary = {"pipeline": str(pipe_dir), "timings_s": timings}
    if evaluate_after:
        from pipelines.evaluate import evaluate

        with _stage("7/7 evaluation", False, timings):
            report = evaluate(pipe_dir, out / "eval", reader_dir, cvae_dir, data_dir)
            summary["evaluation"] = {r["generator"] + " " + r["setting"]: round(r["accuracy"], 4) for r in report["rows"]}
            summary["tokenizer"] = report["tokenizer"]
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    write_grid(pipe, DEMO_PROMPTS, 4, out / "clocks.png", seed=seed)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n=== summary ===\n" + json.dumps(summary, indent=2))
    print(f"grid of generated clocks: {(out / 'clocks.png').resolve()}")
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/default", help="folder for every stage's output (reruns skip finished stages)")
    p.add_argument("--data", help="an existing dataset folder (default: render one into OUT/data)")
    p.add_argument("--train-size", type=int, default=60000,
                   help="training clocks to render (3x 20,000 cut the prior's misdrawn clocks 4x: benchmarks/RESULTS.md)")
    p.add_argument("--styles", type=int, default=16, help="distinct clock styles in the rendered data")
    p.add_argument("--tokenizer-steps", type=int, default=3000)
    p.add_argument("--prior-steps", type=int, default=2100)
    p.add_argument("--prior-preset", default="small")
    p.add_argument("--baseline-steps", type=int, default=0, help="also train the conditional-VAE baseline (0: skip)")
    p.add_argument("--reader-steps", type=int, default=0, help="train a fresh clock reader (0: use the shipped one)")
    p.add_argument("--no-evaluate", action="store_true", help="skip the evaluation report")
    p.add_argument("--mixed-precision", default="bf16", choices=["no", "bf16", "fp16"],
                   help="autocast for both stages (bf16 measured ~1.5-2x faster on this AVX512-bf16 CPU)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> None:
    train_all(args.out, args.data, args.train_size, args.styles, args.tokenizer_steps, args.prior_steps,
              args.prior_preset, args.baseline_steps, args.reader_steps, not args.no_evaluate, args.seed,
              args.mixed_precision)
