import importlib.util
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from clock_renderer_b import write_clock_folder
from PIL import Image

from pipelines.cli import main
from shared.clocks import HELD_OUT_STYLE, STYLE_FIELDS, is_held_out
from shared.data import CLOCK_FEATURES, HELDOUT_SPLIT, build_clock_dataset, load_images
from shared.files import save_atomic
from shared.images import crop_from_square, make_grid, pad_to_square, psnr, to_pil, to_tensor, to_uint8

ALL_TIMES = {(h, m) for h in range(12) for m in range(60)}


@pytest.fixture(scope="module")
def small_dataset():
    return build_clock_dataset(720, 720, 720, size=32, seed=1, num_proc=1, progress=False, heldout=720)


def test_every_time_in_every_split(small_dataset):
    assert list(small_dataset) == ["train", "validation", "test", HELDOUT_SPLIT]
    for split in small_dataset.values():
        assert {(h, m) for h, m in zip(split["hour"], split["minute"])} == ALL_TIMES


def test_columns_are_the_time_and_one_word_per_style_field(small_dataset):
    for split in small_dataset.values():
        assert split.features == CLOCK_FEATURES
        assert split.column_names == ["image", "hour", "minute", "style", *STYLE_FIELDS]
        for field, values in STYLE_FIELDS.items():
            assert set(split[field]) <= set(values)
    train = small_dataset["train"]
    assert len(set(train["style"])) > 700  # a style of its own per clock by default
    for field in ("face_color", "shape", "hand_color", "background_style"):
        assert set(train[field]) == set(STYLE_FIELDS[field])


def test_held_out_styles_only_in_their_own_split(small_dataset):
    for name in ("train", "validation", "test"):
        split = small_dataset[name]
        rows = [{k: split[k][i] for k in HELD_OUT_STYLE} for i in range(len(split))]
        assert not any(map(is_held_out, rows))
        assert any(r["shape"] == HELD_OUT_STYLE["shape"] for r in rows)  # the region is narrow, not a whole field
    held = small_dataset[HELDOUT_SPLIT]
    for field, value in HELD_OUT_STYLE.items():
        assert set(held[field]) == {value}
    assert len(set(held["numerals"])) == len(STYLE_FIELDS["numerals"])


def test_a_fixed_set_of_styles_shared_by_the_splits():
    ds = build_clock_dataset(720, 720, 720, size=16, seed=2, num_styles=4, num_proc=1, progress=False)
    styles = {(s, tuple(ds["train"][f][i] for f in STYLE_FIELDS)) for i, s in enumerate(ds["train"]["style"])}
    assert len(styles) == 4 and {s for s, _ in styles} <= set(range(10))  # style seeds 0, 1, ...
    assert set(ds["validation"]["style"]) == {s for s, _ in styles}  # the same styles in every split


def test_dataset_is_deterministic_per_seed(small_dataset):
    again = build_clock_dataset(720, 720, 720, size=32, seed=1, num_proc=2, progress=False)
    assert np.array_equal(np.asarray(again["train"][5]["image"]), np.asarray(small_dataset["train"][5]["image"]))
    assert again["train"]["minute"] == small_dataset["train"]["minute"]
    assert again["test"]["face_color"] == small_dataset["test"]["face_color"]


def test_too_small_split_is_refused():
    with pytest.raises(ValueError, match="at least 720"):
        build_clock_dataset(100, 720, 720, progress=False)


@pytest.mark.parametrize(("name", "shape"), [("clock_renderer_b", (32, 32)), ("clock_renderer_c", (38, 32))])
def test_other_renderers_write_a_folder_that_imagefolder_loads(tmp_path, name, shape):
    """The stand-ins for another renderer's clocks: written apart from ours, labelled as a user would."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / f"{name}.py")
    renderer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(renderer)
    out = write_clock_folder(tmp_path / "b", 12, 6, 6, size=32, seed=3, draw=renderer.draw_clock)
    source = Path(spec.origin).read_text()
    assert "from shared" not in source and "import shared" not in source  # nothing of our renderer
    ds = datasets.load_dataset("imagefolder", data_dir=str(out))
    assert sorted(ds) == ["test", "train", "validation"]
    assert ds["train"].column_names == ["image", "hour", "minute"] and len(ds["train"]) == 12
    assert all(0 <= h < 12 for h in ds["train"]["hour"]) and all(0 <= m < 60 for m in ds["train"]["minute"])
    assert ds["train"][0]["image"].size == shape
    again = renderer.draw_clock(3, 15, size=32, seed=5)
    assert np.array_equal(np.asarray(again), np.asarray(renderer.draw_clock(3, 15, size=32, seed=5)))
    assert np.abs(np.asarray(again, dtype=int) - np.asarray(renderer.draw_clock(9, 45, size=32, seed=5))).sum() > 500


def test_save_load_round_trip_and_image_folder(tmp_path, small_dataset):
    save_atomic(small_dataset, tmp_path / "ds")
    back = load_images(tmp_path / "ds")
    assert back["test"]["hour"] == small_dataset["test"]["hour"]
    assert not list(tmp_path.glob(".ds.tmp-*"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        small_dataset["train"][i]["image"].save(folder / f"{i}.png")
    assert len(load_images(folder)["train"]) == 3
    with pytest.raises(FileNotFoundError):
        load_images(tmp_path / "missing")


def test_tensor_round_trip_and_conversions():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (2, 8, 10, 3), dtype=np.uint8)
    x = to_tensor([Image.fromarray(a) for a in arr])
    assert x.shape == (2, 3, 8, 10) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(to_uint8(x), arr)
    assert to_tensor(Image.new("L", (4, 4), 255)).shape == (1, 3, 4, 4)  # grey converted to RGB
    assert to_tensor(Image.new("RGB", (8, 8)), size=4).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="differ in size"):
        to_tensor([Image.new("RGB", (4, 4)), Image.new("RGB", (5, 5))])
    assert to_pil(x)[0].size == (10, 8)
    assert torch.isclose(
        psnr(x, x + 0.02), torch.tensor(10 * np.log10(4 / 0.0004), dtype=torch.float32), atol=0.1
    ).all()


@pytest.mark.parametrize("size", [(48, 30), (30, 48), (40, 40)])
def test_a_picture_padded_to_a_square_comes_back_from_it(size):
    """pad_to_square keeps a wide or tall picture whole, centred, its edges repeated out to the square;
    crop_from_square takes it back out, enlarged or shrunk."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]  # a smooth picture, so resizing loses little
    arr = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], -1).astype(np.uint8)
    picture = Image.fromarray(arr)
    square = np.asarray(pad_to_square(picture, max(size)))  # padded, not resized
    x, y = (max(size) - w) // 2, (max(size) - h) // 2
    assert square.shape == (max(size), max(size), 3) and np.array_equal(square[y : y + h, x : x + w], arr)
    assert np.array_equal(square[0, x : x + w], arr[0]) and np.array_equal(square[y : y + h, 0], arr[:, 0])
    for side in (32, 64, 96):
        back = crop_from_square(pad_to_square(picture, side), w, h)
        assert back.size == (w, h)
        assert psnr(to_tensor(back), to_tensor(picture)).item() > 45  # a crop off by the padding: ~24 dB


def test_captioned_grid_has_room_for_captions():
    tiles = [Image.new("RGB", (16, 16), "red")] * 5
    plain = make_grid(tiles, ncols=3, scale=2)
    captioned = make_grid(tiles, ["a", "b", "c", "d", "e"], ncols=3, scale=2)
    assert plain.width == captioned.width and captioned.height > plain.height
    with pytest.raises(ValueError):
        make_grid(tiles, ["only one"])


def test_cli_data_and_user_errors(tmp_path, capsys):
    assert (
        main(
            ["data", "--out", str(tmp_path / "d"), "--train", "720", "--size", "32", "--sheet", str(tmp_path / "s.png")]
        )
        == 0
    )
    assert (tmp_path / "s.png").exists() and len(load_images(tmp_path / "d")["validation"]) == 720
    capsys.readouterr()
    assert main(["data", "--out", str(tmp_path / "e"), "--train", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 720" in err[0]


@pytest.mark.parametrize("hours", [[12, 1, 11, 12], [0, 15, 23, 12]])
def test_hours_counted_1_to_12_or_0_to_23_are_read_on_the_dial(tmp_path, capsys, hours):
    """A user's clocks labelled 12:15 (or 15:40) are the dial's 0:15 (3:40), as the prompts and the
    shipped pipeline count them; the user's folder is read, never written."""
    folder = tmp_path / "clocks"
    folder.mkdir()
    rows = ["file_name,hour,minute"] + [f"{i}.png,{h},{5 * i}" for i, h in enumerate(hours)]
    for i in range(len(hours)):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / f"{i}.png")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    train = load_images(folder)["train"]
    assert sorted(zip(train["hour"], train["minute"])) == sorted((h % 12, 5 * i) for i, h in enumerate(hours))
    assert "read on a 12-hour dial" in capsys.readouterr().err
    saved = tmp_path / "saved"
    save_atomic(datasets.DatasetDict({"train": train.remove_columns("hour").add_column("hour", hours)}), saved)
    before = sorted(p.name for p in saved.rglob("*"))
    assert sorted(load_images(saved)["train"]["hour"]) == sorted(h % 12 for h in hours)
    assert sorted(p.name for p in saved.rglob("*")) == before


@pytest.mark.parametrize(("hours", "dial"), [(["03", "12", "07"], [3, 0, 7]), (["3", "11", "0"], [3, 11, 0])])
def test_time_labels_given_as_digit_strings_are_read_as_numbers(tmp_path, capsys, hours, dial):
    """metadata.jsonl may quote its numbers ("hour": "03"): they are the same time as 3, and a
    string hour 12 is folded as the integer one is."""
    import json

    folder = tmp_path / "clocks"
    folder.mkdir()
    rows = [{"file_name": f"{i}.png", "hour": h, "minute": f"{5 * i:02d}"} for i, h in enumerate(hours)]
    for i in range(len(rows)):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / f"{i}.png")
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = load_images(folder)["train"]
    assert sorted(zip(train["hour"], train["minute"])) == sorted((h, 5 * i) for i, h in enumerate(dial))
    err = capsys.readouterr().err
    assert "hour and minute labels read as numbers" in err
    assert ("read on a 12-hour dial" in err) == ("12" in hours)


def test_other_hour_columns_are_left_as_they_are(tmp_path, small_dataset):
    """Hours already 0..11, or an hour column with no minute beside it (not a time of day), stay."""
    save_atomic(small_dataset, tmp_path / "ds")
    assert load_images(tmp_path / "ds")["train"]["hour"] == small_dataset["train"]["hour"]
    day = datasets.DatasetDict({"train": small_dataset["train"].select(range(24)).remove_columns("minute")})
    day["train"] = day["train"].remove_columns("hour").add_column("hour", list(range(24)))
    save_atomic(day, tmp_path / "day")
    assert load_images(tmp_path / "day")["train"]["hour"] == list(range(24))
