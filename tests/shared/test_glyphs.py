"""shared.glyphs: the glyph image folder's layout, labels, distinct images, imagefolder loading."""

import csv
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import datasets
import pytest
from PIL import Image

from shared.glyphs import SPLITS, build_glyph_dataset, find_fonts

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {
    "sans": str(DEJAVU / "DejaVuSans.ttf"),
    "serif": str(DEJAVU / "DejaVuSerif.ttf"),
    "mono": str(DEJAVU / "DejaVuSansMono.ttf"),
}
pytestmark = pytest.mark.skipif(not all(Path(p).exists() for p in FONTS.values()), reason="DejaVu fonts not installed")


def _rows(folder: Path, split: str) -> list[dict]:
    with open(folder / split / "metadata.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def glyph_dir(tmp_path_factory):
    return build_glyph_dataset(
        tmp_path_factory.mktemp("g") / "glyphs", size=32, chars="ABCa7", fonts=FONTS, per_pair=5, seed=0
    )


def test_layout_and_metadata(glyph_dir):
    assert sorted(p.name for p in glyph_dir.iterdir()) == sorted(SPLITS)
    expected = {"train": 3, "validation": 1, "test": 1}  # of 5 a pair
    for split in SPLITS:
        with open(glyph_dir / split / "metadata.csv", encoding="utf-8") as f:
            assert f.readline().strip() == "file_name,character,font"
        rows = _rows(glyph_dir, split)
        pairs = Counter((r["character"], r["font"]) for r in rows)
        assert set(pairs) == {(c, f) for c in "ABCa7" for f in FONTS}  # every pair in every split
        assert set(pairs.values()) == {expected[split]}
        pngs = sorted(p.name for p in (glyph_dir / split).glob("*.png"))
        assert pngs == sorted(r["file_name"] for r in rows)
        for r in rows[:10]:
            with Image.open(glyph_dir / split / r["file_name"]) as img:
                assert img.size == (32, 32) and img.mode == "RGB"


def test_images_of_a_pair_differ(glyph_dir):
    by_pair: dict[tuple, list[str]] = {}
    for split in SPLITS:
        for r in _rows(glyph_dir, split):
            data = (glyph_dir / split / r["file_name"]).read_bytes()
            with Image.open(glyph_dir / split / r["file_name"]) as img:
                by_pair.setdefault((r["character"], r["font"]), []).append(hashlib.sha1(img.tobytes()).hexdigest())
            assert data
    for pair, digests in by_pair.items():
        assert len(digests) == 5 and len(set(digests)) == 5, pair


def test_loads_as_imagefolder(glyph_dir):
    ds = datasets.load_dataset("imagefolder", data_dir=str(glyph_dir))
    assert set(ds) == set(SPLITS)
    assert set(ds["train"].column_names) == {"image", "character", "font"}
    assert ds["train"].features["character"].dtype in ("string", "large_string")  # '7' stays a string
    assert all(isinstance(c, str) for c in ds["train"]["character"])
    assert sorted(set(ds["train"]["character"])) == sorted("ABCa7")
    assert sorted(set(ds["test"]["font"])) == sorted(FONTS)
    assert ds["validation"][0]["image"].size == (32, 32)


def test_same_seed_same_files(tmp_path, glyph_dir):
    again = build_glyph_dataset(tmp_path / "again", size=32, chars="ABCa7", fonts=FONTS, per_pair=5, seed=0)
    other = build_glyph_dataset(tmp_path / "other", size=32, chars="ABCa7", fonts=FONTS, per_pair=5, seed=1)
    name = _rows(glyph_dir, "train")[0]["file_name"]
    assert (again / "train" / name).read_bytes() == (glyph_dir / "train" / name).read_bytes()
    assert (other / "train" / name).read_bytes() != (glyph_dir / "train" / name).read_bytes()


def test_refusals_write_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="per_pair must be at least 3"):
        build_glyph_dataset(out, fonts=FONTS, per_pair=2)
    with pytest.raises(ValueError, match="no glyph for"):
        build_glyph_dataset(out, chars="A\u4e2d", fonts=FONTS, per_pair=3)  # no CJK in DejaVu
    emoji = tmp_path / "NotoColorEmoji.ttf"
    shutil.copy(FONTS["sans"], emoji)
    with pytest.raises(ValueError, match="held out"):
        build_glyph_dataset(out, chars="A", fonts={"sans": FONTS["sans"], "emoji": str(emoji)}, per_pair=3)
    with pytest.raises(ValueError, match="not found here"):
        build_glyph_dataset(out, fonts=["sans", "comic"], per_pair=3)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["NotoColorEmoji.ttf"]


def test_default_fonts_are_distinct_and_not_emoji():
    fonts = find_fonts()
    assert len(fonts) >= 2 and len(set(fonts.values())) == len(fonts)
    assert not any("emoji" in p.lower() for p in fonts.values())
