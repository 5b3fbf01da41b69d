import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.cli import main
from shared.data import build_clock_dataset, load_images
from shared.files import save_atomic
from shared.images import make_grid, psnr, to_pil, to_tensor, to_uint8


@pytest.fixture(scope="module")
def small_dataset():
    return build_clock_dataset(720, 720, 720, size=32, seed=1, num_styles=4, num_proc=1, progress=False)


def test_every_time_in_every_split(small_dataset):
    for split in small_dataset.values():
        assert {(h, m) for h, m in zip(split["hour"], split["minute"])} == {(h, m) for h in range(12) for m in range(60)}
    assert set(small_dataset["train"]["style"]) <= set(range(4))


def test_dataset_is_deterministic_per_seed(small_dataset):
    again = build_clock_dataset(720, 720, 720, size=32, seed=1, num_styles=4, num_proc=1, progress=False)
    assert np.array_equal(np.asarray(again["train"][5]["image"]), np.asarray(small_dataset["train"][5]["image"]))
    assert again["train"]["minute"] == small_dataset["train"]["minute"]


def test_too_small_split_is_refused():
    with pytest.raises(ValueError, match="at least 720"):
        build_clock_dataset(100, 720, 720, progress=False)


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
    assert torch.isclose(psnr(x, x + 0.02), torch.tensor(10 * np.log10(4 / 0.0004), dtype=torch.float32), atol=0.1).all()


def test_captioned_grid_has_room_for_captions():
    tiles = [Image.new("RGB", (16, 16), "red")] * 5
    plain = make_grid(tiles, ncols=3, scale=2)
    captioned = make_grid(tiles, ["a", "b", "c", "d", "e"], ncols=3, scale=2)
    assert plain.width == captioned.width and captioned.height > plain.height
    with pytest.raises(ValueError):
        make_grid(tiles, ["only one"])


def test_cli_data_and_user_errors(tmp_path, capsys):
    assert main(["data", "--out", str(tmp_path / "d"), "--train", "720", "--size", "32", "--sheet", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists() and len(load_images(tmp_path / "d")["validation"]) == 720
    capsys.readouterr()
    assert main(["data", "--out", str(tmp_path / "e"), "--train", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 720" in err[0]
