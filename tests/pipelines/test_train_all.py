"""``qvae train``: the whole chain on a tiny budget, and a rerun that skips what is done."""

import json

import pytest

from pipelines.cli import main
from pipelines.pipeline import ClockPipeline

pytestmark = pytest.mark.slow  # the default-size tokenizer and 2,160 rendered clocks: ~1 min


def test_train_all_smoke_and_rerun_skips(tmp_path, capsys):
    argv = [
        "train",
        "--out",
        str(tmp_path / "run"),
        "--train-size",
        "720",
        "--tokenizer-steps",
        "2",
        "--prior-steps",
        "2",
        "--prior-preset",
        "tiny",
        "--no-evaluate",
        "--mixed-precision",
        "no",
    ]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"1/8 data", "2/8 tokenizer", "3/8 token export", "4/8 prior", "6/8 pipeline folder"} <= set(
        summary["timings_s"]
    )
    assert json.loads((tmp_path / "run" / "tokenizer" / "metrics.json").read_text())["steps"] == 2
    assert json.loads((tmp_path / "run" / "prior" / "metrics.json").read_text())["steps"] == 2
    pipe = ClockPipeline.from_pretrained(tmp_path / "run" / "pipeline")
    assert len(pipe("3:15", num_images_per_prompt=2, seed=0)) == 2
    assert "reader" in json.loads((tmp_path / "run" / "pipeline" / "model_index.json").read_text())  # the shipped one
    assert (tmp_path / "run" / "clocks.png").is_file()
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("(already done, skipped)") == 4  # data, tokenizer, tokens, prior
