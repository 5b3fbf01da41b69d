"""The one strict loader (shared/loading.py) on every kind of folder the project opens: tokenizer,
prior, clock reader, conditional VAE and pipeline. Each folder is saved with save_pretrained and then
damaged: pickle only, truncated safetensors, a tensor removed, an extra tensor, a config that disagrees
with the weights, a model_index.json that disagrees with its stages. Every damage is a one-line error
naming the file or the tensors; nothing is unpickled and nothing is initialised at random."""

import json
import os
import shutil
import sys
from pathlib import Path

import datasets
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tiny_models import tiny_prior, tiny_tokenizer

from pipelines import ClockPipeline
from pipelines.cli import main
from pipelines.pipeline import DEFAULT_PIPELINE
from pipelines.reader import ClockReader, ClockReaderConfig, load_reader
from shared.clocks import render_clock
from shared.images import to_tensor
from shared.loading import load_pretrained
from shared.tokens import read_tokens
from stage1_vqvae import ConditionalVAEConfig, ConditionalVAEModel, load_tokenizer
from stage2_prior import load_prior


def tiny_reader():
    torch.manual_seed(0)
    return ClockReader(ClockReaderConfig(image_size=32, width=4)).eval()


def tiny_cvae():
    torch.manual_seed(0)
    return ConditionalVAEModel(
        ConditionalVAEConfig(
            image_size=32, downsample=8, channels=[8, 16, 16], decoder_channels=[8, 16, 16], latent_dim=4
        )
    ).eval()


# kind -> (build, load, a config.json edit that changes a weight's shape, the tensor it changes)
KINDS = {
    "tokenizer": (tiny_tokenizer, load_tokenizer, {"codebook_size": 32}, "quantizer.embed"),
    "prior": (tiny_prior, load_prior, {"intermediate_size": 128}, "model.layers.0.mlp.down_proj.weight"),
    "reader": (tiny_reader, load_reader, {"width": 8}, "features.0.weight"),
    "cvae": (
        tiny_cvae,
        lambda path: load_pretrained(ConditionalVAEModel, path, what="conditional VAE"),
        {"latent_dim": 6},
        "decoder.net.0.weight",
    ),
}


@pytest.fixture(params=list(KINDS))
def kind(request):
    return request.param


@pytest.fixture
def folder(kind, tmp_path):
    path = tmp_path / kind
    KINDS[kind][0]().save_pretrained(path)
    return path


OPENED: list[str] | None = None  # files opened for reading while a test watches (an audit hook stays once added)


def _record_open(event: str, args: tuple) -> None:
    if event != "open" or OPENED is None or not isinstance(args[0], (str, Path)):
        return
    path, mode, flags = args
    reading = not set(mode or "") & set("wax") if mode is not None else not flags & (os.O_WRONLY | os.O_RDWR)
    if reading:
        OPENED.append(str(path))


sys.addaudithook(_record_open)


@pytest.fixture
def no_unpickling(monkeypatch):
    """The test fails if any ``.bin`` weights file is so much as opened for reading, or ``torch.load`` is called."""

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called")

    opened: list[str] = []
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(sys.modules[__name__], "OPENED", opened)
    yield
    assert not [f for f in opened if f.endswith(".bin")], opened


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def edit_weights(path, edit):
    file = path / "model.safetensors"
    tensors = load_file(file)
    edit(tensors)
    save_file(tensors, file, metadata={"format": "pt"})


def test_an_intact_folder_loads_exactly_in_eval_mode(kind, folder):
    build, load, _, _ = KINDS[kind]
    model = load(folder)
    assert not model.training and model.dtype == torch.float32
    fresh = build().state_dict()
    loaded = model.state_dict()
    assert loaded.keys() == fresh.keys()
    assert all(torch.equal(loaded[k], fresh[k]) for k in fresh)  # persistent buffers included


def test_a_pickle_only_folder_is_refused_and_never_unpickled(kind, folder, no_unpickling):
    state = KINDS[kind][0]().state_dict()
    torch.save(state, folder / "pytorch_model.bin")  # (torch.save: writing is not patched)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError) as excinfo:
        KINDS[kind][1](folder)
    message = one_line(excinfo)
    assert str(folder) in message and "pytorch_model.bin" in message and "never loaded" in message


def test_a_truncated_safetensors_file_is_named(kind, folder):
    file = folder / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as excinfo:
        KINDS[kind][1](folder)
    message = one_line(excinfo)
    assert str(file) in message and "truncated or corrupt" in message


def test_a_removed_tensor_is_named(kind, folder):
    removed = KINDS[kind][3]
    edit_weights(folder, lambda t: t.pop(removed))
    with pytest.raises(ValueError) as excinfo:
        KINDS[kind][1](folder)
    message = one_line(excinfo)
    assert f"missing: {removed}" in message and str(folder) in message


def test_an_extra_tensor_is_named(kind, folder):
    edit_weights(folder, lambda t: t.update({"extra.weight": torch.zeros(3)}))
    with pytest.raises(ValueError) as excinfo:
        KINDS[kind][1](folder)
    assert "unexpected: extra.weight" in one_line(excinfo)


def test_a_config_that_disagrees_with_the_weights_names_the_tensor_and_both_shapes(kind, folder):
    build, load, change, tensor = KINDS[kind]
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        stored = list(f.get_slice(tensor).get_shape())
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as excinfo:
        load(folder)
    message = one_line(excinfo)
    assert f"{tensor} (the file has {stored}, the config makes " in message
    assert "wrongly shaped" in message and "nothing was initialised at random" in message


def test_a_folder_of_another_kind_is_refused(tmp_path):
    tiny_reader().save_pretrained(tmp_path / "reader")
    with pytest.raises(ValueError, match="does not hold a tokenizer.*qvae_clock_reader"):
        load_tokenizer(tmp_path / "reader")
    with pytest.raises(FileNotFoundError, match="no tokenizer at"):
        load_tokenizer(tmp_path / "nothing")


# --- the pipeline folder ---------------------------------------------------------------------------


@pytest.fixture
def pipe_dir(tmp_path):
    path = tmp_path / "pipeline"
    ClockPipeline(tiny_tokenizer(), tiny_prior()).save_pretrained(path)
    return path


def test_a_pipeline_whose_prior_is_a_pickle_is_refused_by_the_cli(pipe_dir, no_unpickling, capsys):
    prior = pipe_dir / "prior"
    torch.save(tiny_prior().state_dict(), prior / "pytorch_model.bin")
    (prior / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin.*never loaded"):
        ClockPipeline.from_pretrained(pipe_dir)
    assert main(["generate", "3:15", "--model", str(pipe_dir), "--out", str(pipe_dir / "grid.png")]) == 2
    err = [
        line for line in capsys.readouterr().err.strip().splitlines() if line.strip() and "Loading weights" not in line
    ]
    assert len(err) == 1 and str(prior) in err[0] and "pytorch_model.bin" in err[0]  # (tokenizer loaded first)
    assert not (pipe_dir / "grid.png").exists()


def test_a_pipeline_stage_with_a_missing_tensor_is_named(pipe_dir):
    edit_weights(pipe_dir / "tokenizer", lambda t: t.pop("quantizer.embed"))
    with pytest.raises(ValueError, match=r"tokenizer.*missing: quantizer\.embed"):
        ClockPipeline.from_pretrained(pipe_dir)


@pytest.mark.parametrize(
    "field, value",
    [
        ("codebook_size", 32),
        ("grid_shape", [8, 8]),
        ("image_size", 64),
        ("prior", ["transformers", "GPT2LMHeadModel"]),
        ("tokenizer", ["stage1_vqvae", "VAEModel"]),
        ("_class_name", "StableDiffusionPipeline"),
        ("sampling", {"guidance": 2.0}),
        ("output_size", [64, 0]),
        ("output_size", "64x64"),
        ("output_size", [64.5, 64]),
    ],
)
def test_a_model_index_that_disagrees_with_its_stages_names_the_field(pipe_dir, field, value):
    index = json.loads((pipe_dir / "model_index.json").read_text())
    index[field] = value
    (pipe_dir / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError) as excinfo:
        ClockPipeline.from_pretrained(pipe_dir)
    message = one_line(excinfo)
    assert "model_index.json" in message and f"{field}=" in message


# --- dtype: one loader, float32 on the CPU, the pipeline's ids ------------------------------------


def test_a_float16_tokenizer_loads_as_float32_unless_asked(tmp_path):
    model = tiny_tokenizer()
    model.to(torch.float16).save_pretrained(tmp_path / "half")
    with safe_open(str(tmp_path / "half" / "model.safetensors"), "pt") as f:
        assert f.get_slice("quantizer.embed").get_dtype() == "F16"
    loaded = load_tokenizer(tmp_path / "half")
    assert loaded.dtype == torch.float32 and loaded.quantizer.embed.dtype == torch.float32
    assert torch.equal(loaded.quantizer.embed, model.quantizer.embed.float())
    assert load_tokenizer(tmp_path / "half", dtype=torch.float16).dtype == torch.float16
    x = to_tensor([render_clock(3, 15, style=0, seed=0, size=32)])
    assert torch.equal(loaded.encode(x), ClockPipeline(loaded, tiny_prior()).tokenizer.encode(x))


def test_the_shipped_tokenizer_through_qvae_tokenize_gives_the_pipelines_ids(tmp_path):
    shipped = DEFAULT_PIPELINE / "tokenizer"
    with safe_open(str(shipped / "model.safetensors"), "pt") as f:
        assert f.get_slice("quantizer.embed").get_dtype() == "F16"  # stored small: the case that went wrong
    n, batch = 300, 100
    hours, minutes = [i % 12 for i in range(n)], [(7 * i) % 60 for i in range(n)]
    images = [render_clock(h, m, style=i, seed=i) for i, (h, m) in enumerate(zip(hours, minutes))]
    ds = datasets.Dataset.from_dict(
        {"image": images, "hour": hours, "minute": minutes},
        features=datasets.Features(
            {"image": datasets.Image(), "hour": datasets.Value("int64"), "minute": datasets.Value("int64")}
        ),
    )
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "clocks"))
    out = tmp_path / "tokens"
    assert (
        main(
            [
                "tokenize",
                "--model",
                str(shipped),
                "--data",
                str(tmp_path / "clocks"),
                "--out",
                str(out),
                "--batch-size",
                str(batch),
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    exported, meta = read_tokens(out)
    ids = torch.tensor(exported["test"]["ids"]).reshape(n, *meta["grid_shape"])

    pipe = ClockPipeline.from_pretrained()
    x = to_tensor(images)
    expected = torch.cat([pipe.tokenizer.encode(chunk) for chunk in x.split(batch)])
    assert pipe.tokenizer.dtype == torch.float32
    assert torch.equal(ids, expected.to(ids.dtype))
    assert exported["test"]["hour"] == hours


def test_sharded_safetensors_load_and_a_missing_shard_is_named(tmp_path):
    model = tiny_prior()
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shards = sorted((tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1 and (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    loaded = load_prior(tmp_path / "sharded")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    shutil.copytree(tmp_path / "sharded", tmp_path / "broken")
    (tmp_path / "broken" / shards[-1].name).unlink()
    with pytest.raises(FileNotFoundError, match=shards[-1].name):
        load_prior(tmp_path / "broken")
