"""shared.image_mix: the held-out rule, the sources found, balance, splits and determinism."""

import hashlib
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import shared.image_mix
from shared.image_mix import KINDS, build_image_mix, find_sources, held_out_files, is_held_out, source_shares

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.mark.parametrize(
    "path",
    [
        "/usr/share/icons/Adwaita/48x48/categories/emoji-people-symbolic.symbolic.png",
        "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
        "/usr/share/tuxpaint/stamps/animals/cat.png",
        "/opt/Tux-Paint/stamps/dog.png",
        "/usr/share/icons/hicolor/256x256/apps/org.gnome.Clocks.png",
        "/usr/share/icons/Adwaita/16x16/legacy/preferences-system-time-symbolic.symbolic.png",
        "/usr/share/icons/Adwaita/48x48/status/alarm-symbolic.symbolic.png",
        "/x/chronometer.png",
        "/x/kitchen_timer.png",
        "/x/Stopwatch.PNG",
        "/x/world-time.png",
        "/x/watch.png",
    ],
)
def test_held_out_paths(path):
    assert is_held_out(path)


@pytest.mark.parametrize(
    "path",
    [
        "/usr/share/icons/Adwaita/48x48/legacy/multimedia-player.png",  # 'time' inside 'multimedia'
        "/usr/share/icons/Adwaita/96x96/status/daytime-sunrise-symbolic.symbolic.png",
        "/x/timeline.png",
        "/x/sometimes.png",
        "/x/watchdog.png",
        "/usr/share/pixmaps/debian-logo.png",
    ],
)
def test_not_held_out_paths(path):
    assert not is_held_out(path)


def _noise(path: Path, size=(300, 260), seed=0, fmt=None):
    rnd = random.Random(seed)
    img = Image.new("RGB", (size[0] // 10, size[1] // 10))
    img.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(img.width * img.height)])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.resize(size, Image.BICUBIC).save(path, format=fmt)


def _icon(path: Path, side: int, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    img.paste(Image.new("RGBA", (side // 2, side // 2), colour), (side // 4, side // 4))
    img.save(path)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    """A folder tree like /usr/share: icons, photos, pictures, fonts, and held-out files of each kind."""
    root = tmp_path_factory.mktemp("fakeshare")
    theme = root / "icons" / "Fake"
    for i in range(12):
        _icon(theme / "48x48" / "apps" / f"app-{i}.png", 48, (20 * i, 255 - 20 * i, 90, 255))
    _icon(theme / "16x16" / "apps" / "app-0.png", 16, (1, 2, 3, 255))  # smaller size of app-0: not used
    _icon(theme / "48x48" / "categories" / "emoji-people.png", 48, (255, 200, 0, 255))
    _icon(theme / "48x48" / "status" / "alarm-symbolic.symbolic.png", 48, (50, 50, 50, 255))
    _icon(theme / "48x48" / "legacy" / "preferences-system-time.png", 48, (9, 9, 9, 255))
    _noise(root / "python" / "mpl-data" / "sample_data" / "grace.png", seed=1)
    _noise(root / "gradio" / "images" / "lion.jpg", seed=2)
    (root / "gradio" / "test_data").mkdir()
    shutil.copy(root / "gradio" / "images" / "lion.jpg", root / "gradio" / "test_data" / "lion-copy.jpg")
    _noise(root / "tuxpaint" / "stamps" / "cat.jpg", seed=3)
    _noise(root / "gnome-clocks" / "face.jpg", seed=4)
    diagram = Image.new("RGB", (400, 300), "white")
    diagram.paste(Image.new("RGB", (100, 50), "black"), (50, 50))
    (root / "doc").mkdir()
    diagram.save(root / "doc" / "diagram.jpg")
    diagram.save(root / "doc" / "diagram.png")
    Image.new("RGB", (64, 64), "white").save(root / "doc" / "blank.png")
    if DEJAVU.exists():
        (root / "fonts").mkdir()
        shutil.copy(DEJAVU, root / "fonts" / "DejaVuSans.ttf")
        shutil.copy(DEJAVU, root / "fonts" / "NotoColorEmoji.ttf")
    return root


def test_find_sources_sorts_the_fake_tree(fake_root):
    found = find_sources([str(fake_root)])
    names = {k: sorted(Path(p).name for p in v) for k, v in found.items()}
    assert names["icons"] == sorted(f"app-{i}.png" for i in range(12))
    assert not any("16x16" in p for p in found["icons"])  # the largest size of each icon name
    assert names["photos"] == ["grace.png", "lion.jpg"]  # the copy counts once; the diagram JPEG is no photo
    assert names["pictures"] == ["diagram.jpg", "diagram.png"]  # blank.png (one colour) left out
    held = {Path(p).name for p in held_out_files([str(fake_root)])}
    assert {
        "emoji-people.png",
        "alarm-symbolic.symbolic.png",
        "preferences-system-time.png",
        "cat.jpg",
        "face.jpg",
    } <= held
    if DEJAVU.exists():
        assert names["text"] == ["DejaVuSans.ttf"]
        assert "NotoColorEmoji.ttf" in held
    for files in found.values():
        assert not any(is_held_out(p) for p in files)


def test_mix_from_fake_tree_never_uses_held_out_files(fake_root):
    sources = find_sources([str(fake_root)])
    # held-out files given by hand are dropped too
    sources["photos"] = sources["photos"] + [str(fake_root / "tuxpaint" / "stamps" / "cat.jpg")]
    sources["icons"] = sources["icons"] + [str(fake_root / "icons/Fake/48x48/categories/emoji-people.png")]
    ds = build_image_mix(60, size=32, seed=1, sources=sources)
    assert set(ds) == {"train", "validation"}
    assert (len(ds["train"]), len(ds["validation"])) == (54, 6)
    for split in ds.values():
        assert set(split["source"]) <= set(KINDS)
        assert not any(is_held_out(f) for f in split["file"])
        for row in split:
            assert row["image"].size == (32, 32) and row["image"].mode == "RGB"
    # icons (12 files) keep 10% of their files for validation only; photos (2) feed both splits
    train_icons = {f for s, f in zip(ds["train"]["source"], ds["train"]["file"]) if s == "icons"}
    val_icons = {f for s, f in zip(ds["validation"]["source"], ds["validation"]["file"]) if s == "icons"}
    assert val_icons and not train_icons & val_icons


def test_only_held_out_files_is_refused(fake_root):
    with pytest.raises(ValueError, match="no usable image files"):
        build_image_mix(10, sources={"photos": [str(fake_root / "tuxpaint" / "stamps" / "cat.jpg")]})


def _digests(ds):
    return [hashlib.sha1(r["image"].tobytes()).hexdigest() for r in ds]


def test_mix_is_deterministic_per_seed(fake_root):
    sources = find_sources([str(fake_root)])
    a = build_image_mix(20, size=32, seed=3, sources=sources)
    b = build_image_mix(20, size=32, seed=3, sources=sources)
    c = build_image_mix(20, size=32, seed=4, sources=sources)
    assert _digests(a["train"]) == _digests(b["train"]) and list(a["train"]["file"]) == list(b["train"]["file"])
    assert _digests(a["validation"]) == _digests(b["validation"])
    assert _digests(a["train"]) != _digests(c["train"])
    assert len(set(_digests(a["train"]))) == len(a["train"])  # no two images alike


def test_a_copy_of_the_files_builds_the_same_mix(fake_root, tmp_path, monkeypatch):
    """QVAE_IMAGE_MIX_ROOTS: the files copied to another machine (under a prefix) give the same mix."""
    copy = tmp_path / "copied"
    shutil.copytree(fake_root, copy / str(fake_root).lstrip("/"))
    monkeypatch.setenv("QVAE_IMAGE_MIX_ROOTS", str(copy))
    roots = shared.image_mix._default_roots()
    assert roots == (str(copy),)
    monkeypatch.setattr(shared.image_mix, "SCAN_ROOTS", roots)
    here = build_image_mix(30, size=32, seed=2, sources=find_sources([str(fake_root)]))
    there = build_image_mix(30, size=32, seed=2)
    assert all(f.startswith(str(copy)) for f in there["train"]["file"])
    for split in ("train", "validation"):
        assert _digests(here[split]) == _digests(there[split])


def test_source_shares_are_capped():
    shares = source_shares(
        ["icons", "photos", "pictures", "text"], {"icons": 10, "photos": 1, "pictures": 1, "text": 1}
    )
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares["icons"] == pytest.approx(0.35)
    assert shares["photos"] == pytest.approx(0.65 / 3)
    assert source_shares(["icons", "text"]) == {"icons": 0.5, "text": 0.5}  # too few kinds for the cap
    assert source_shares(["icons", "photos", "text"], max_share=0.35) == pytest.approx(
        {"icons": 0.35, "photos": 0.325, "text": 0.325}
    )  # icons 0.375 before the cap
    with pytest.raises(ValueError):
        source_shares([])


def test_mix_counts_follow_the_capped_shares(fake_root):
    sources = find_sources([str(fake_root)])
    n = 100
    ds = build_image_mix(
        n, size=16, seed=0, sources=sources, weights={"icons": 100, "photos": 1, "pictures": 1, "text": 1}
    )
    counts = Counter(ds["train"]["source"]) + Counter(ds["validation"]["source"])
    shares = source_shares(sorted(sources), {"icons": 100, "photos": 1, "pictures": 1, "text": 1})
    for kind, share in shares.items():
        assert abs(counts[kind] - share * n) <= 2, (kind, counts)
    assert max(counts.values()) <= 0.35 * n + 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown image source"):
        build_image_mix(10, sources=["icons", "videos"])
    with pytest.raises(ValueError, match="at least 2"):
        build_image_mix(1, sources={"photos": ["/nonexistent.jpg"]})


def test_this_machine_keeps_held_out_files_out():
    found = find_sources()
    assert found, "no image sources found on this machine"
    for kind, files in found.items():
        assert kind in KINDS and not any(is_held_out(p) for p in files)
    held = held_out_files()
    assert all(is_held_out(p) for p in held)
    if Path("/usr/share/icons/Adwaita").is_dir():
        assert any("emoji" in p for p in held) and len(found["icons"]) > 100
    ds = build_image_mix(24, size=32, seed=0)
    assert not any(is_held_out(f) for f in list(ds["train"]["file"]) + list(ds["validation"]["file"]))
    assert ds["train"][0]["image"].size == (32, 32)
