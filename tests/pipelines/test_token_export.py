"""Token export: formats, resume, wrong-size and non-RGB images, the CLI (tiny real VQ-VAE)."""

import json

import datasets
import pytest
import torch

from pipelines import cli
from pipelines.token_export import export_tokens
from shared.clocks import render_clock
from shared.data import FEATURES
from shared.images import to_tensor
from shared.tokens import read_tokens

SIZE = 32


@pytest.fixture(scope="module")
def vq(tmp_path_factory):
    from stage1_vqvae import VQVAEConfig, VQVAEModel

    torch.manual_seed(0)
    config = VQVAEConfig(
        image_size=SIZE, downsample=8, channels=[8, 16, 16], latent_dim=8, codebook_size=64, kmeans_init=False
    )
    model = VQVAEModel(config).eval()
    path = tmp_path_factory.mktemp("vq") / "tokenizer"
    model.save_pretrained(str(path))
    return model, path


def clocks(n, size=SIZE, seed=0):
    rows = [((i * 5) % 12, (i * 7) % 60, i % 3) for i in range(n)]
    return datasets.Dataset.from_dict(
        {
            "image": [render_clock(h, m, style=s, size=size, seed=seed + i) for i, (h, m, s) in enumerate(rows)],
            "hour": [r[0] for r in rows],
            "minute": [r[1] for r in rows],
            "style": [r[2] for r in rows],
        },
        features=FEATURES,
    )


@pytest.fixture(scope="module")
def data():
    return datasets.DatasetDict({"train": clocks(23), "validation": clocks(7, seed=100)})


def direct_ids(model, split):
    with torch.inference_mode():
        ids = model.encode(to_tensor(split["image"], size=SIZE))
    return ids.flatten(1).tolist()


def test_every_format_reads_back_the_same_ids(vq, data, tmp_path):
    model, _ = vq
    expected = {name: direct_ids(model, split) for name, split in data.items()}
    for fmt in ("arrow", "parquet", "jsonl"):
        out = tmp_path / fmt
        metrics = export_tokens(model, data, out, format=fmt, batch_size=8, num_shards=3, progress=False)
        assert metrics["complete"] and metrics["images"] == 30
        ds, meta = read_tokens(out)
        assert meta["codebook_size"] == 64 and meta["grid_shape"] == [4, 4] and meta["format"] == fmt
        assert json.loads((out / "tokens.json").read_text())["grid_shape"] == [4, 4]
        for name, split in data.items():
            got = ds[name]
            assert got.column_names == ["ids", "hour", "minute", "style"]
            assert got.features["ids"].feature.dtype == "int16"
            assert got.features["hour"] == split.features["hour"]
            assert got["ids"] == expected[name]
            assert got["minute"] == split["minute"]
    # arrow is a plain DatasetDict for stage 2
    assert datasets.load_from_disk(str(tmp_path / "arrow"))["train"]["ids"] == expected["train"]


def test_resumed_export_equals_uninterrupted(vq, data, tmp_path):
    model, _ = vq
    export_tokens(model, data, tmp_path / "whole", num_shards=3, progress=False)
    first = export_tokens(model, data, tmp_path / "resumed", num_shards=3, progress=False, max_shards=1)
    assert not first["complete"] and first["shards_done"] == 1
    assert not (tmp_path / "resumed").exists()
    with pytest.raises(ValueError, match="other settings"):
        export_tokens(model, data, tmp_path / "resumed", num_shards=3, on_size_mismatch="reject", progress=False)
    second = export_tokens(model, data, tmp_path / "resumed", num_shards=3, progress=False)
    assert second["complete"] and second["shards_skipped"] == 1 and second["shards_done"] == 5
    assert not (tmp_path / ".resumed.partial").exists()
    a, meta_a = read_tokens(tmp_path / "whole")
    b, meta_b = read_tokens(tmp_path / "resumed")
    for name in data:
        assert a[name][:] == b[name][:]
    assert meta_a == meta_b


def test_wrong_size_is_rejected_or_resized_and_non_rgb_converted(vq, tmp_path):
    model, _ = vq
    big = clocks(3, size=48)
    mixed = datasets.concatenate_datasets([clocks(3), big])
    with pytest.raises(ValueError, match="48x48.*expects 32x32"):
        export_tokens(model, mixed, tmp_path / "rejected", on_size_mismatch="reject", progress=False)
    export_tokens(model, mixed, tmp_path / "resized", on_size_mismatch="resize", progress=False)
    ds, _ = read_tokens(tmp_path / "resized")
    assert ds["train"]["ids"] == direct_ids(model, mixed)

    gray = [render_clock(3, 15, size=SIZE, seed=1).convert("L"), render_clock(4, 0, size=SIZE, seed=2).convert("P")]
    split = datasets.Dataset.from_dict({"image": gray}, features=datasets.Features({"image": datasets.Image()}))
    export_tokens(model, split, tmp_path / "gray", on_size_mismatch="reject", progress=False)
    ds, _ = read_tokens(tmp_path / "gray")
    assert ds["train"]["ids"] == direct_ids(model, split)
    with pytest.raises(ValueError, match="format"):
        export_tokens(model, split, tmp_path / "x", format="csv", progress=False)


def test_cli_on_an_image_folder(vq, tmp_path, capsys):
    _, path = vq
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        render_clock(i, 10 * i, size=40 if i == 2 else SIZE, seed=i).save(folder / f"clock_{i}.png")
    out = tmp_path / "tokens"

    def tokenize(out, *flags):
        return cli.main(["tokenize", "--model", str(path), "--data", str(folder), "--out", str(out), *flags])

    assert tokenize(out, "--format", "parquet", "--batch-size", "2", "--no-progress") == 0
    ds, meta = read_tokens(out)
    assert len(ds["train"]) == 5 and meta["grid_shape"] == [4, 4]
    assert tokenize(tmp_path / "r", "--reject", "--no-progress") == 2
    assert "40x40" in capsys.readouterr().err
    assert (
        cli.main(["tokenize", "--model", str(path), "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "m")])
        == 2
    )
