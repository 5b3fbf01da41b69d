"""Every command that reads an image folder stops on a bad file in one line (exit 2, nothing written),
or skips and counts it with --skip-bad-images."""

import json

import pytest
from PIL import Image

from pipelines.cli import main
from stage1_vqvae import VQVAEConfig, VQVAEModel

TINY = {
    "channels": [8, 16],
    "decoder_channels": [8, 16],
    "decoder_res_blocks": 1,
    "latent_dim": 8,
    "codebook_size": 16,
    "image_size": 32,
    "downsample": 4,
}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for i in range(24):
        Image.new("RGB", (32, 32), (i * 10, 50, 200 - i * 5)).save(root / f"{i:02d}.png")
    (root / "notes.png").write_bytes(b"this is not a picture")
    return root


@pytest.fixture
def tokenizer(tmp_path):
    path = tmp_path / "tok"
    VQVAEModel(VQVAEConfig(**TINY, kmeans_init=False)).save_pretrained(path)
    return path


def commands(folder, tokenizer, out):
    return {
        "tokenize": ["tokenize", "--model", str(tokenizer), "--data", str(folder), "--out", str(out), "--no-progress"],
        "train-tokenizer": [
            "train-tokenizer",
            "--data",
            str(folder),
            "--out",
            str(out),
            "--steps",
            "1",
            "--batch-size",
            "8",
            "--config",
            json.dumps(TINY),
            "--no-progress",
        ],
        "train": ["train", "--data", str(folder), "--conditions", "", "--out", str(out)],
    }


@pytest.mark.parametrize("command", ["tokenize", "train-tokenizer", "train"])
def test_a_bad_file_stops_the_command_in_one_line(folder, tokenizer, tmp_path, capsys, command):
    out = tmp_path / "out"
    assert main(commands(folder, tokenizer, out)[command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "notes.png" in err[0], err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("command", ["tokenize", "train-tokenizer"])
def test_skip_bad_images_skips_and_counts(folder, tokenizer, tmp_path, capsys, command):
    out = tmp_path / "out"
    assert main([*commands(folder, tokenizer, out)[command], "--skip-bad-images"]) == 0
    assert "skipped 1 bad image file" in capsys.readouterr().err
