"""Sampling by fields: pipe.generate(conditions=...), prompts with style words, qvae generate --condition."""

import json

import pytest
import torch
from tiny_models import tiny_prior, tiny_tokenizer

from pipelines import ClockPipeline
from pipelines.cli import main
from stage2_prior.vocab import TIME_FIELDS, Field

FIELDS = (*TIME_FIELDS, Field("face_color", ("red", "blue", "green")), Field("shape", ("round", "square")))


@pytest.fixture(scope="module")
def styled_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("styled") / "pipeline"
    ClockPipeline(tiny_tokenizer(), tiny_prior(fields=FIELDS)).save_pretrained(path)
    return path


def test_generate_takes_any_subset_of_fields(styled_dir):
    pipe = ClockPipeline.from_pretrained(styled_dir)
    assert json.loads((styled_dir / "model_index.json").read_text())["fields"][2] == {
        "name": "face_color",
        "values": ["red", "blue", "green"],
    }
    for conditions in ({"hour": 3, "minute": 15, "face_color": "red"}, {"shape": "square"}, {}):
        images = pipe.generate(conditions, 2, seed=0)
        assert len(images) == 2 and images[0].size == (32, 32)
    a = pipe.generate_ids([{"face_color": "red"}, {"face_color": "blue"}], seed=4)
    b = pipe.generate_ids([{"face_color": "red"}, {"face_color": "blue"}], seed=4)
    assert torch.equal(a, b)


def test_unknown_field_or_value_lists_what_is_accepted(styled_dir):
    pipe = ClockPipeline.from_pretrained(styled_dir)
    with pytest.raises(ValueError, match="accepted: red, blue, green"):
        pipe.generate({"face_color": "mauve"})
    with pytest.raises(ValueError, match="fields: hour, minute, face_color, shape"):
        pipe.generate({"rim": "thick"})


def test_prompts_read_style_words_and_warn_about_unused_ones(styled_dir):
    pipe = ClockPipeline.from_pretrained(styled_dir)
    assert pipe.read_prompt("a red square clock at ten to six").conditions == {
        "face_color": "red",
        "shape": "square",
        "hour": 5,
        "minute": 50,
    }
    assert pipe.read_prompt("a blue clock").conditions == {"face_color": "blue"}  # the time left open
    with pytest.warns(UserWarning, match="banana"):
        assert len(pipe("a banana clock at 3:15", 2, seed=0)) == 2
    with pytest.raises(ValueError, match="accepted forms"):
        pipe("a clock")


def test_cli_condition_flags(styled_dir, tmp_path, capsys):
    out = tmp_path / "grid.png"
    argv = ["generate", "--model", str(styled_dir), "--out", str(out), "--n", "2"]
    assert main([*argv, "--condition", "face_color=blue", "--condition", "hour=3"]) == 0
    assert out.is_file() and "drew 2 clocks" in capsys.readouterr().out
    assert main([*argv, "red clock at 7:40 with sprinkles", "--condition", "shape=round"]) == 0
    assert "words not used from 'red clock at 7:40 with sprinkles': sprinkles" in capsys.readouterr().err
    assert main([*argv, "--condition", "face_color=mauve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "accepted: red, blue, green" in err[0]
    assert main([*argv, "--condition", "face_color"]) == 2
    assert "FIELD=VALUE" in capsys.readouterr().err
    assert main(argv) == 2
    assert "nothing to draw" in capsys.readouterr().err


def test_evaluation_asks_each_field_in_turn(styled_dir, tmp_path):
    from pipelines.evaluate import face_colors, style_fields, styled_rows
    from pipelines.reader import load_reader

    pipe, reader = ClockPipeline.from_pretrained(styled_dir), load_reader()
    assert style_fields(pipe, reader) == ["face_color", "shape"]
    report = styled_rows(pipe, reader, tmp_path, seed=0, n=8, batch=4)
    assert report["n"] == 8 and set(report["honoured"]) == {"face_color", "shape"}
    assert (tmp_path / "qvae_styles_asked.png").is_file()
    images = torch.cat([torch.zeros(2, 3, 32, 32), torch.ones(2, 3, 32, 32)])  # two black, two white "clocks"
    assert face_colors(reader, images, 2) == 1.0
