import argparse
import json

import pytest
import torch

from shared.data import build_clock_dataset
from stage1_vqvae import VQVAEModel
from stage1_vqvae.train import add_arguments, run, train_tokenizer

TINY = {"channels": [8, 16, 16], "decoder_channels": [8, 16, 16], "decoder_res_blocks": 1, "latent_dim": 8, "codebook_size": 16, "image_size": 32}


@pytest.fixture(scope="module")
def clocks(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "clocks"
    build_clock_dataset(train=720, val=720, test=720, size=32, num_proc=1, progress=False).save_to_disk(str(path))
    return path


def test_train_tokenizer_saves_model_grid_and_metrics(clocks, tmp_path):
    model, metrics = train_tokenizer(clocks, tmp_path / "run", "vqvae", TINY, steps=4, batch_size=8, eval_every=2,
                                     save_every=2, max_train=64, progress=False)
    assert {"psnr", "usage", "perplexity", "model_path"} <= set(metrics)
    assert (tmp_path / "run" / "model" / "config.json").exists()
    assert list((tmp_path / "run" / "samples").glob("*.png"))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 4
    loaded = VQVAEModel.from_pretrained(tmp_path / "run" / "model")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded.encode(x), model.eval().encode(x))


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_baselines_train(clocks, tmp_path, kind):
    cfg = {k: v for k, v in TINY.items() if k != "codebook_size"}
    _, metrics = train_tokenizer(clocks, tmp_path / kind, kind, cfg, steps=2, batch_size=8, eval_every=2,
                                 max_train=32, progress=False)
    assert metrics["psnr"] > 0
    if kind != "ae":
        assert metrics["kl"] >= 0


def test_cli_resume_and_errors(clocks, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--data", str(clocks), "--out", str(tmp_path / "cli"), "--batch-size", "8", "--max-train", "32",
            "--config", json.dumps(TINY), "--no-progress", "--eval-every", "100"]
    run(parser.parse_args(base + ["--steps", "2", "--save-every", "1"]))
    assert "summary" in capsys.readouterr().out
    assert list((tmp_path / "cli" / "checkpoints").glob("step_*"))
    run(parser.parse_args(base + ["--steps", "3", "--resume"]))
    assert "resumed from" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        run(parser.parse_args(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")]))
    with pytest.raises(ValueError, match="JSON"):
        run(parser.parse_args(base + ["--config", "{oops"]))
