"""Bounded work: the pipeline and `qvae generate` refuse requests over a limit (saying how to raise
it) before drawing anything, and a grid PNG holds at most GRID_MAX clocks."""

import pytest
from PIL import Image
from tiny_models import tiny_prior, tiny_tokenizer

from pipelines import ClockPipeline, generate
from pipelines import pipeline as pipeline_module
from pipelines.cli import main
from pipelines.pipeline import MAX_IMAGES, check_request


@pytest.fixture(scope="module")
def pipe():
    return ClockPipeline(tiny_tokenizer(), tiny_prior())


def test_a_request_over_the_limit_is_refused_before_any_drawing(pipe, monkeypatch):
    def no_drawing(*args, **kwargs):
        raise AssertionError("drew before checking the request")

    monkeypatch.setattr(pipe, "generate_ids", no_drawing)
    with pytest.raises(
        ValueError,
        match=rf"asked for {MAX_IMAGES + 1} clocks .*limit of {MAX_IMAGES} per call; "
        rf"raise it with max_images={MAX_IMAGES + 1}",
    ):
        pipe("3:15", num_images_per_prompt=MAX_IMAGES + 1)
    with pytest.raises(ValueError, match=r"asked for 6 clocks \(3 prompt\(s\) x 2\), more than the limit of 5"):
        pipe(["3:15", "noon", "ten to six"], num_images_per_prompt=2, max_images=5)
    with pytest.raises(ValueError, match="limit of 4"):
        pipe.draw([{"hour": 3, "minute": 15}] * 5, max_images=4)
    with pytest.raises(ValueError, match="at least 1, got 0"):  # was a ZeroDivisionError
        pipe("3:15", num_images_per_prompt=0)


def test_a_raised_limit_draws_and_none_means_no_limit(pipe):
    images = pipe(["3:15", "noon", "ten to six"], num_images_per_prompt=2, max_images=6, seed=0)
    assert len(images) == 6 and all(im.size == (32, 32) for im in images)
    check_request(10**6, 10**3, None)
    check_request(1, MAX_IMAGES)


def test_cli_refuses_too_many_clocks_in_one_line_before_loading(tmp_path, capsys):
    missing = str(tmp_path / "no_pipeline")  # a load would fail with another message
    assert generate.MAX_IMAGES == pipeline_module.MAX_IMAGES
    assert main(["generate", "3:15", "noon", "--n", "600", "--model", missing]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "asked for 1200 clocks" in err[0] and "--max-images 1200" in err[0], err
    assert main(["generate", "3:15", "--n", "3", "--max-images", "2", "--model", missing]) == 2
    assert "--max-images 3" in capsys.readouterr().err
    assert main(["generate", "3:15", "--scale", str(generate.MAX_SCALE + 1), "--model", missing]) == 2
    assert "--scale must be in 1..4" in capsys.readouterr().err
    assert main(["generate", "3:15", "--out", str(tmp_path / "grid"), "--model", missing]) == 2
    assert "--out is the picture file to write, ending .png" in capsys.readouterr().err
    assert main(["generate", "3:15", "--n", "2", "--max-images", "2", "--model", missing]) == 2
    assert "no pipeline" in capsys.readouterr().err  # within the limit: it goes on to load


class FakePipe:
    """Returns plain 16x16 tiles at once and records what it was asked."""

    def generate(self, conditions, num_images, seed=0, **kwargs):
        self.kwargs = kwargs
        return [Image.new("RGB", (16, 16), (i % 256, 0, 0)) for i in range(len(conditions) * num_images)]


def test_the_grid_holds_at_most_grid_max_clocks_and_goes_on_in_pages(tmp_path):
    fake, out = FakePipe(), tmp_path / "grid.png"
    n = generate.GRID_MAX + 44
    first, _ = generate.write_grid(fake, [("3:15", {"hour": 3, "minute": 15})], n, out, scale=1, max_images=n)
    assert first == out and fake.kwargs["max_images"] == n
    tile = 16 + 4  # tile + pad; a row of GRID_COLUMNS tiles, GRID_MAX / GRID_COLUMNS rows
    page1, page2 = Image.open(out), Image.open(tmp_path / "grid-2.png")
    assert page1.width == generate.GRID_COLUMNS * tile + 4
    row = (page2.height - 4) // 3  # the 44 left over: 3 rows
    assert page1.height == (generate.GRID_MAX // generate.GRID_COLUMNS) * row + 4
    assert not (tmp_path / "grid-3.png").exists()
    small, _ = generate.write_grid(
        fake,
        [("3:15", {"hour": 3, "minute": 15}), ("noon", {"hour": 0, "minute": 0})],
        3,
        tmp_path / "small.png",
        scale=1,
    )
    assert Image.open(small).width == 3 * tile + 4 and not (tmp_path / "small-2.png").exists()
