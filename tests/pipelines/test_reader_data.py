"""The reader trained on a labelled image folder (`qvae train-reader --data DIR --columns ...`)."""

import pytest
from clock_renderer_b import write_clock_folder

from pipelines.cli import main
from pipelines.reader import (
    ReaderTrainingArguments,
    field_accuracy,
    load_reader,
    measure_reader,
    reader_data,
    train_reader,
)
from shared.glyphs import build_glyph_dataset, find_fonts


def folder_args(out, data, columns, **settings) -> ReaderTrainingArguments:
    return ReaderTrainingArguments(
        out=str(out), data=str(data), columns=columns, **({"image_size": 32, "width": 8, "progress": False} | settings)
    )


@pytest.fixture(scope="module")
def glyphs(tmp_path_factory):
    fonts = dict(list(find_fonts().items())[:2])
    if len(fonts) < 2:
        pytest.skip("fewer than two fonts installed")
    return build_glyph_dataset(tmp_path_factory.mktemp("g") / "glyphs", size=16, chars="LOX", fonts=fonts, per_pair=40)


def test_a_glyph_folder_trains_a_reader_of_its_columns(glyphs, tmp_path):
    args = folder_args(
        tmp_path / "r", glyphs, "character,font", image_size=16, steps=60, batch_size=32, lr=3e-3, warmup_steps=5
    )
    model, metrics = train_reader(args)
    assert model.fields["character"] == ["L", "O", "X"] and len(model.fields["font"]) == 2
    assert "time_accuracy" not in metrics  # no time in these labels
    # unseen jittered glyphs of three letters: guessing reads a third of them (0.79 measured)
    assert metrics["field/character"] >= 0.6
    reader = load_reader(tmp_path / "r" / "model")
    _, train, val, _ = reader_data(args)
    asked = [{"character": "LOX"[int(i)]} for i in val["fields"][:, 0]]
    assert field_accuracy(reader, val["images"], asked)["character"] == pytest.approx(metrics["field/character"])
    assert measure_reader(reader, train.batch())["field_mean"] >= 0.85  # its own training images (0.96 measured)


@pytest.fixture(scope="module")
def clock_folder(tmp_path_factory):
    return write_clock_folder(tmp_path_factory.mktemp("c") / "clocks", 64, 16, 8, size=32)


def test_a_clock_folder_trains_the_time_heads(clock_folder, tmp_path):
    args = folder_args(tmp_path / "r", clock_folder, "hour,minute", steps=4, batch_size=16)
    config, train, val, held_out = reader_data(args)
    assert config.fields == [] and held_out is None and len(val["hour"]) == 16
    row = train[0]
    assert row["images"].shape == (3, 32, 32) and 0 <= row["hour"] < 12 and 0 <= row["minute"] < 60
    assert set(train_reader(args)[1]) >= {"time_accuracy", "mean_error_minutes"}


def test_an_hour_without_a_minute_is_a_field_like_any_other(clock_folder, tmp_path):
    config, train, val, _ = reader_data(folder_args(tmp_path / "r", clock_folder, "hour"))
    assert [name for name, _ in config.fields] == ["hour"] and "hour" not in val
    assert train[0]["fields"].shape == (1,)


@pytest.mark.parametrize(
    "folder, columns, says",
    [("glyphs", "character,colour", "no column 'colour'"), ("clock_folder", "hour,seconds", "no column 'seconds'")],
)
def test_bad_columns_are_refused_with_their_names(folder, columns, says, request, tmp_path, capsys):
    data = request.getfixturevalue(folder)
    assert main(["train-reader", "--out", str(tmp_path / "r"), "--data", str(data), "--columns", columns]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not (tmp_path / "r").exists()


def test_rows_of_a_value_the_fields_lack_are_left_out():
    import datasets
    from PIL import Image

    from pipelines.reader import LabelledImages

    images = [Image.new("RGB", (16, 16), c) for c in ("red", "blue", "green")]
    split = datasets.Dataset.from_dict({"image": images, "label": ["a", "c", "b"]}).cast_column(
        "image", datasets.Image()
    )
    rows = LabelledImages(split, {"label": ["a", "b"]}, 16).batch()
    assert rows["fields"][:, 0].tolist() == [0, 1]  # "c" (seen in no training row) is not scored
