"""``qvae train``: the whole chain on defaults, from nothing to a measured pipeline folder.

data -> tokenizer -> token export -> prior -> pipeline folder -> (reader) -> evaluation
-> sample grid, each stage under ``OUT/``. A stage whose output is already there is
skipped, so a run stopped anywhere continues where it stopped when started again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from shared.files import save_atomic
from shared.training import TrainingArguments, arg
from stage1_vqvae.train import TokenizerTrainingArguments
from stage2_prior.train import PriorTrainingArguments

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


@dataclass(kw_only=True)
class PipelineTrainingArguments:
    """``qvae train``: the stages' own defaults (steps, precision) are read from their dataclasses."""

    out: str = arg("runs/default", "folder for every stage's output (a rerun skips finished stages)")
    data: str | None = arg(None, "an existing dataset folder (default: render clocks into OUT/data)")
    train_size: int = arg(60000, "training clocks to render")
    styles: int = arg(16, "distinct clock styles in the rendered data (0: a style per clock)")
    tokenizer_steps: int = arg(TokenizerTrainingArguments.steps, "optimizer steps of the tokenizer")
    prior_steps: int = arg(PriorTrainingArguments.steps, "optimizer steps of the prior")
    prior_preset: str = arg(PriorTrainingArguments.preset, "size of the prior")
    baseline_steps: int = arg(0, "also train the conditional-VAE baseline for this many steps (0: skip)")
    reader_steps: int = arg(0, "train a fresh clock reader for this many steps (0: use the shipped one)")
    evaluate: bool = arg(True, "measure the pipeline with the clock reader at the end")
    mixed_precision: str = arg(TrainingArguments.mixed_precision, "auto, no, bf16 or fp16, for every stage")
    seed: int = arg(0, "seed of every stage")


def train_all(a: PipelineTrainingArguments) -> dict:
    from pipelines.generate import write_grid
    from pipelines.pipeline import ClockPipeline
    from pipelines.tokenize import export_tokens
    from shared.data import build_clock_dataset
    from stage1_vqvae import load_tokenizer
    from stage1_vqvae.train import train_tokenizer
    from stage2_prior import load_prior, train_prior

    common = dict(seed=a.seed, resume=True, mixed_precision=a.mixed_precision)
    out = Path(a.out)
    timings: dict = {}
    data_dir = Path(a.data) if a.data else out / "data"
    with _stage("1/8 data", data_dir.exists(), timings):
        if not data_dir.exists():
            save_atomic(build_clock_dataset(train=a.train_size, seed=a.seed, num_styles=a.styles), data_dir)
    tok_dir = out / "tokenizer" / "model"
    with _stage("2/8 tokenizer", tok_dir.exists(), timings):
        if not tok_dir.exists():
            train_tokenizer(TokenizerTrainingArguments(data=str(data_dir), out=str(out / "tokenizer"),
                                                       steps=a.tokenizer_steps, **common))
    tokenizer = load_tokenizer(tok_dir)
    tokens_dir = out / "tokens"
    with _stage("3/8 token export", (tokens_dir / "tokens.json").exists(), timings):
        if not (tokens_dir / "tokens.json").exists():
            export_tokens(tokenizer, data_dir, tokens_dir)
    prior_dir = out / "prior" / "model"
    with _stage("4/8 prior", prior_dir.exists(), timings):
        if not prior_dir.exists():
            train_prior(PriorTrainingArguments(tokens=str(tokens_dir), out=str(out / "prior"), preset=a.prior_preset,
                                               steps=a.prior_steps, **common))
    pipe_dir = out / "pipeline"
    with _stage("5/8 pipeline folder", False, timings):
        ClockPipeline(tokenizer, load_prior(str(prior_dir))).save_pretrained(pipe_dir)
        print(f"pipeline written to {pipe_dir}")
    reader_dir = None
    if a.reader_steps:
        from pipelines.reader import train_reader

        reader_dir = out / "reader"
        with _stage("6/8 clock reader", reader_dir.exists(), timings):
            if not reader_dir.exists():
                save_atomic(train_reader(steps=a.reader_steps, seed=a.seed), reader_dir)
    cvae_dir = None
    if a.baseline_steps:
        cvae_dir = out / "cvae" / "model"
        with _stage("7/8 conditional-VAE baseline", cvae_dir.exists(), timings):
            if not cvae_dir.exists():
                train_tokenizer(TokenizerTrainingArguments(data=str(data_dir), out=str(out / "cvae"), model="cvae",
                                                           steps=a.baseline_steps, **common))
    summary = {"pipeline": str(pipe_dir), "timings_s": timings}
    if a.evaluate:
        from pipelines.evaluate import evaluate

        with _stage("8/8 evaluation", False, timings):
            report = evaluate(pipe_dir, out / "eval", reader_dir, cvae_dir, data_dir)
            summary["evaluation"] = {r["generator"] + " " + r["setting"]: round(r["accuracy"], 4) for r in report["rows"]}
            summary["tokenizer"] = report["tokenizer"]
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    write_grid(pipe, [(p, pipe.read_prompt(p).conditions) for p in DEMO_PROMPTS], 4, out / "clocks.png", seed=a.seed)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n=== summary ===\n" + json.dumps(summary, indent=2))
    print(f"grid of generated clocks: {(out / 'clocks.png').resolve()}")
    return summary


ARGUMENTS = (PipelineTrainingArguments,)


def run(args: PipelineTrainingArguments) -> None:
    train_all(args)
