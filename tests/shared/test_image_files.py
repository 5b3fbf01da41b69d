"""Bad and unusual image files: each converts as documented (shared/image_files.py) or is refused
in one line naming the file; load_images refuses a folder holding one, or skips and counts."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from shared import image_files
from shared.data import load_images
from shared.image_files import BadImageError, open_image


def noise(w=32, h=24, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path, side=100_000):
    """A valid PNG header claiming ``side`` x ``side`` pixels (10 G) and almost no data."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )
    return path


def truncated_png(path):
    noise(64, 64).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD = {  # name -> (writer, words the reason must hold)
    "notes.png": (lambda p: p.write_text("not a picture\n"), "not an image"),
    "empty.png": (lambda p: p.write_bytes(b""), "not an image"),
    "cut.png": (truncated_png, "truncated"),
    "dot.png": (lambda p: Image.new("RGB", (1, 1), "red").save(p), "1x1 is too small"),
    "thin.png": (lambda p: Image.new("RGB", (15, 40), "red").save(p), "15x40 is too small"),
    "bomb.png": (bomb_png, "decompression bomb"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_refused_in_one_line_naming_it(tmp_path, name):
    write, reason = BAD[name]
    path = tmp_path / name
    write(path)
    with pytest.raises(BadImageError) as err:
        open_image(path)
    message = str(err.value)
    assert str(path) in message and reason in message and "\n" not in message, message
    assert isinstance(err.value, ValueError) and err.value.path == str(path)  # the CLI: one line, exit 2


def test_more_pixels_than_the_limit_is_refused_from_the_header(tmp_path, monkeypatch):
    noise(32, 24).save(tmp_path / "big.png")
    assert open_image(tmp_path / "big.png").size == (32, 24)
    monkeypatch.setattr(image_files, "MAX_PIXELS", 32 * 24 - 1)
    with pytest.raises(BadImageError, match=r"32x24 is 768 pixels, over the limit of 767"):
        open_image(tmp_path / "big.png")


def rgb_array(path) -> np.ndarray:
    img = open_image(path)
    assert img.mode == "RGB"
    return np.asarray(img)


def test_greyscale_and_16_bit_become_grey_rgb(tmp_path):
    Image.new("L", (20, 18), 77).save(tmp_path / "grey.png")
    a = rgb_array(tmp_path / "grey.png")
    assert a.shape == (18, 20, 3) and (a == 77).all()
    deep = np.zeros((16, 24), dtype=np.uint16)
    deep[:, 8:16], deep[:, 16:] = 128 * 257, 65535  # 0, the middle and the top of 16 bits
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")  # really a 16-bit file
    a = rgb_array(tmp_path / "deep.png")
    assert a.shape == (16, 24, 3)
    assert (a[:, :8] == 0).all() and (a[:, 8:16] == 128).all() and (a[:, 16:] == 255).all()


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((16, 30, 4), dtype=np.uint8)
    rgba[:, :10] = (255, 0, 0, 0)  # transparent red: white
    rgba[:, 10:20] = (0, 0, 255, 255)  # opaque blue: blue
    rgba[:, 20:] = (0, 0, 0, 128)  # half-transparent black: mid grey
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    a = rgb_array(tmp_path / "alpha.png").astype(int)
    assert a.shape == (16, 30, 3)
    assert (a[:, :10] == 255).all() and (a[:, 10:20] == (0, 0, 255)).all()
    assert (abs(a[:, 20:] - 127) <= 1).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (24, 20), (0, 255, 255, 0)).save(tmp_path / "print.jpg")  # full magenta + yellow: red
    assert Image.open(tmp_path / "print.jpg").mode == "CMYK"
    a = rgb_array(tmp_path / "print.jpg").astype(int)
    assert a.shape == (20, 24, 3)
    assert (a[..., 0] > 200).all() and (a[..., 1] < 60).all() and (a[..., 2] < 60).all()


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 16), c) for c in ("red", "blue", "lime")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(tmp_path / "anim.gif").n_frames == 3
    a = rgb_array(tmp_path / "anim.gif")
    assert a.shape == (16, 20, 3) and (a == (255, 0, 0)).all()


def test_an_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), "red")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees to show
    img.save(tmp_path / "photo.jpg", exif=exif)
    assert open_image(tmp_path / "photo.jpg").size == (20, 40)


def good_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    noise(32, 32, seed=1).save(folder / "a_rgb.png")
    Image.new("L", (32, 32), 77).save(folder / "b_grey.png")
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(folder / "c_clear.png")
    return folder


def test_load_images_converts_a_folder_as_documented(tmp_path):
    folder = good_folder(tmp_path)
    train = load_images(folder)["train"]
    assert len(train) == 3 and all(im.mode == "RGB" and im.size == (32, 32) for im in train["image"])
    firsts = sorted(tuple(int(v) for v in np.asarray(im)[0, 0]) for im in train["image"])
    assert (77, 77, 77) in firsts and (255, 255, 255) in firsts  # grey kept, clear on white
    assert tuple(np.asarray(noise(32, 32, seed=1))[0, 0]) in firsts  # the RGB file as it is


def test_load_images_refuses_a_folder_with_bad_files_naming_the_first(tmp_path):
    folder = good_folder(tmp_path)
    (folder / "d_notes.png").write_text("hello")
    truncated_png(folder / "e_cut.png")
    with pytest.raises(ValueError) as err:
        load_images(folder)
    message = str(err.value)
    assert "d_notes.png" in message and "not an image" in message and "and 1 more" in message
    assert "--skip-bad-images" in message and "\n" not in message


def test_load_images_skips_and_counts_bad_files(tmp_path, capsys):
    folder = good_folder(tmp_path)
    (folder / "d_notes.png").write_text("hello")
    Image.new("RGB", (1, 1)).save(folder / "e_dot.png")
    bomb_png(folder / "f_bomb.png")
    train = load_images(folder, skip_bad_images=True)["train"]
    assert len(train) == 3 and all(im.mode == "RGB" for im in train["image"])
    err = capsys.readouterr().err
    assert "skipped 3 bad image file(s)" in err and "d_notes.png" in err


def test_load_images_with_only_bad_files_is_refused_even_when_skipping(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "notes.png").write_text("hello")
    with pytest.raises(ValueError, match="no usable image"):
        load_images(folder, skip_bad_images=True)
