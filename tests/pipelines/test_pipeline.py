import json
import math

import pytest
import torch
from tiny_models import tiny_prior, tiny_tokenizer

from pipelines import ClockPipeline
from pipelines.cli import main
from pipelines.evaluate import diversity, load_reader, time_accuracy, time_conditions
from pipelines.reader import DEFAULT_READER, ClockReader, ClockReaderConfig, circular_error
from shared.clocks import render_clock
from shared.images import to_tensor


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipe") / "pipeline"
    ClockPipeline(tiny_tokenizer(), tiny_prior()).save_pretrained(path)
    return path


def test_call_returns_images_prompt_major_and_is_seeded(pipe_dir):
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    images = pipe(["quarter past three", "10:10"], num_images_per_prompt=3, seed=1, guidance_scale=2.0)
    assert len(images) == 6 and all(im.size == (32, 32) and im.mode == "RGB" for im in images)
    again = pipe(["quarter past three", "10:10"], num_images_per_prompt=3, seed=1, guidance_scale=2.0)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(images, again))
    assert pipe.to("cpu") is pipe and pipe.device.type == "cpu"


def test_folder_layout_and_round_trip(pipe_dir):
    index = json.loads((pipe_dir / "model_index.json").read_text())
    assert index["codebook_size"] == 64 and index["grid_shape"] == [4, 4]
    assert (pipe_dir / "tokenizer" / "model.safetensors").exists() and (
        pipe_dir / "prior" / "model.safetensors"
    ).exists()
    assert (pipe_dir / "prior" / "generation_config.json").exists()
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    fresh = ClockPipeline(tiny_tokenizer(), tiny_prior())
    assert torch.equal(
        pipe.generate_ids([{"hour": 3, "minute": 15}], seed=0), fresh.generate_ids([{"hour": 3, "minute": 15}], seed=0)
    )


def test_a_pipeline_hands_out_pictures_at_its_output_size(tmp_path):
    """A pipeline trained on pictures fitted to its square (wide ones padded) hands its drawings back
    at their size, and that is what its evaluation judges."""
    from shared.images import crop_from_square, to_pil

    ClockPipeline(tiny_tokenizer(), tiny_prior(), output_size=(48, 30)).save_pretrained(tmp_path / "wide")
    assert json.loads((tmp_path / "wide" / "model_index.json").read_text())["output_size"] == [48, 30]
    pipe = ClockPipeline.from_pretrained(tmp_path / "wide")
    assert pipe.output_size == (48, 30) and pipe.image_size == 32
    pictures = pipe(["quarter past three", "10:10"], 2, seed=1)
    drawn = pipe.draw(time_conditions([3, 10], [15, 10]), 2, seed=1)  # the 32x32 squares it decodes
    assert [p.size for p in pictures] == [(48, 30)] * 4
    assert [p.tobytes() for p in pictures] == [crop_from_square(p, 48, 30).tobytes() for p in to_pil(drawn)]
    assert torch.equal(pipe.handed_out(drawn), to_tensor(pictures))
    square = ClockPipeline(tiny_tokenizer(), tiny_prior())
    assert square.output_size == (32, 32) and square.handed_out(drawn) is drawn


def test_a_pipeline_carries_its_reader_and_checks_its_drawings_with_it(tmp_path):
    torch.manual_seed(0)
    reader = ClockReader(ClockReaderConfig(image_size=32, width=4))
    ClockPipeline(tiny_tokenizer(), tiny_prior(), reader=reader).save_pretrained(tmp_path / "p", dtype=torch.float16)
    assert json.loads((tmp_path / "p" / "model_index.json").read_text())["reader"] == ["pipelines", "ClockReader"]
    pipe = ClockPipeline.from_pretrained(tmp_path / "p")
    assert pipe.reader.dtype == torch.float32 and pipe.reader_or_default() is pipe.reader
    for name, weight in reader.state_dict().items():  # kept as it was: half precision is for the stages only
        assert torch.equal(pipe.reader.state_dict()[name], weight), name
    asked = time_conditions([3, 7], [15, 40])
    checked = pipe.draw(asked, 4, seed=0, max_redraws=2)
    assert torch.equal(checked, pipe.draw(asked, 4, seed=0, verifier=pipe.reader, max_redraws=2))
    # an untrained reader doubts every clock: the default redraws them, verifier=None does not
    assert not torch.equal(checked, pipe.draw(asked, 4, seed=0, verifier=None))
    (tmp_path / "p" / "reader" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="reader"):
        ClockPipeline.from_pretrained(tmp_path / "p")


def test_a_pipeline_without_a_reader_draws_once_and_defaults_to_the_shipped_reader(pipe_dir):
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    assert pipe.reader is None and "reader" not in json.loads((pipe_dir / "model_index.json").read_text())
    asked = time_conditions([3], [15])
    assert torch.equal(pipe.draw(asked, 2, seed=0), pipe.draw(asked, 2, seed=0, verifier=None))
    shipped = load_reader(DEFAULT_READER)
    assert pipe.reader_or_default().state_dict()["hour_head.weight"].equal(shipped.state_dict()["hour_head.weight"])


def test_stages_that_disagree_are_refused(tmp_path):
    with pytest.raises(ValueError, match="codes"):
        ClockPipeline(tiny_tokenizer(64), tiny_prior(codebook_size=32))
    with pytest.raises(ValueError, match="grid"):
        ClockPipeline(tiny_tokenizer(64), tiny_prior(grid=(8, 8)))


def test_missing_or_corrupt_folders_give_clear_errors(tmp_path, pipe_dir):
    with pytest.raises(FileNotFoundError, match="no pipeline"):
        ClockPipeline.from_pretrained(tmp_path / "nothing")
    broken = tmp_path / "broken"
    ClockPipeline.from_pretrained(pipe_dir).save_pretrained(broken)
    (broken / "prior" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt"):
        ClockPipeline.from_pretrained(broken)


def test_bad_prompt_is_a_value_error(pipe_dir):
    with pytest.raises(ValueError, match="banana"):
        ClockPipeline.from_pretrained(pipe_dir)("banana")


def test_cli_generate(tmp_path, pipe_dir, capsys):
    out = tmp_path / "grid.png"
    assert (
        main(["generate", "quarter past three", "7:40", "--n", "2", "--model", str(pipe_dir), "--out", str(out)]) == 0
    )
    assert out.exists() and "drew 4 clocks" in capsys.readouterr().out
    assert main(["generate", "25:00", "--model", str(pipe_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'25:00'" in err[0]
    assert main(["generate", "3:15", "--model", str(tmp_path / "missing")]) == 2


def test_circular_error_wraps_around_the_dial():
    assert circular_error(11, 58, 0, 1).item() == 3
    assert circular_error(6, 0, 0, 0).item() == 360
    assert circular_error([3], [15], [3], [15]).tolist() == [0]


def test_shipped_reader_reads_real_clocks_and_scores_wrong_times_as_wrong():
    reader = load_reader()
    times = [(h, (7 * h + 13) % 60) for h in range(12)] * 2

    def draw(shift):
        return lambda hours, minutes: to_tensor(
            [render_clock(h, (m + shift) % 60, style=i, seed=i) for i, (h, m) in enumerate(zip(hours, minutes))]
        )

    right, _ = time_accuracy(draw(0), reader, times)
    wrong, _ = time_accuracy(draw(20), reader, times)
    assert right["accuracy"] >= 0.95 and wrong["accuracy"] <= 0.05
    assert set(right["per_hour"]) == {str(h or 12) for h in range(12)}


def test_diversity_separates_identical_from_different_samples():
    same = torch.zeros(2, 4, 3, 8, 8).flatten(0, 1)
    varied = torch.randn(8, 3, 8, 8)
    assert diversity(same, 4, torch.zeros(8, 2, 2, dtype=torch.long))["distinct_grids"] == 0.25
    assert diversity(same, 4)["mean_pairwise_pixel_distance"] == 0
    assert diversity(varied, 4)["mean_pairwise_pixel_distance"] > 0.5


def test_half_precision_folder_is_smaller_and_loads_as_float32(tmp_path, pipe_dir):
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    pipe.save_pretrained(tmp_path / "half", dtype=torch.float16)
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*.safetensors"))  # noqa: E731
    assert size(tmp_path / "half") < 0.6 * size(pipe_dir)
    half = ClockPipeline.from_pretrained(tmp_path / "half")
    assert half.tokenizer.dtype == torch.float32 and half.prior.dtype == torch.float32
    assert pipe.tokenizer.dtype == torch.float32  # saving did not cast the live models
    assert len(half("noon", num_images_per_prompt=2, seed=0)) == 2


@pytest.mark.slow
def test_draw_with_a_verifier_redraws_only_the_doubtful_clocks():
    pipe, reader = ClockPipeline.from_pretrained(), load_reader()  # shipped weights
    hours, minutes = [11, 2, 0, 7], [2, 0, 16, 59]
    hot = {"temperature": 1.6, "min_p": 0.0, "guidance_scale": 1.0}  # a loose setting that misdraws often
    plain = pipe.draw(time_conditions(hours, minutes), 6, seed=0, verifier=None, **hot)
    want_h, want_m = torch.tensor(hours).repeat_interleave(6), torch.tensor(minutes).repeat_interleave(6)

    def misread(images):
        return circular_error(*reader.read(images), want_h, want_m) > 3

    assert misread(plain).sum() >= 3  # the test needs misdrawn clocks to mean anything
    verified = pipe.draw(time_conditions(hours, minutes), 6, seed=0, verifier=reader, max_redraws=3, **hot)
    assert torch.equal(pipe.draw(time_conditions(hours, minutes), 6, seed=0, max_redraws=3, **hot), verified)
    assert misread(verified).sum() < misread(plain).sum()
    before, after = reader.confidence(plain, want_h, want_m), reader.confidence(verified, want_h, want_m)
    sure = before >= 0.8
    assert torch.equal(verified[sure], plain[sure])  # clocks it was sure of the first time are untouched
    assert (after >= before - 1e-6).all() and (after[~sure] > before[~sure]).any()  # the best attempt is kept
    assert torch.equal(
        pipe.draw(time_conditions(hours, minutes), 6, seed=0, verifier=reader, max_redraws=0, **hot), plain
    )


def test_reader_confidence_is_high_on_rendered_clocks_and_low_for_other_times():
    reader = load_reader()
    images = to_tensor([render_clock(5, 58, style=s, seed=s) for s in range(4)])
    assert (reader.confidence(images, [5] * 4, [58] * 4) > 0.5).all()
    assert (reader.confidence(images, [6] * 4, [1] * 4) > 0.5).all()  # 3 minutes off, across the hour
    assert (reader.confidence(images, [6] * 4, [2] * 4) < 0.05).all()  # 4 minutes off
    assert (reader.confidence(images, [11] * 4, [58] * 4) < 0.05).all()


def test_request_confidence_multiplies_the_asked_fields_and_ignores_what_it_cannot_read():
    from pipelines.reader import clock_sample

    reader = load_reader()
    samples = [clock_sample("qvae-test-request", i, face_color="red", numerals="roman") for i in range(4)]
    images = to_tensor([s[0] for s in samples])
    times = [{"hour": h, "minute": m} for _, h, m, _ in samples]
    time_only = reader.request_confidence(images, times)
    assert torch.allclose(
        time_only, reader.confidence(images, [t["hour"] for t in times], [t["minute"] for t in times])
    )
    asked_right = reader.request_confidence(images, [{**t, "face_color": "red", "numerals": "roman"} for t in times])
    asked_wrong = reader.request_confidence(images, [{**t, "face_color": "green"} for t in times])
    assert (asked_right <= time_only + 1e-6).all() and (asked_right > 0.5 * time_only).all()
    assert (asked_wrong < 0.05).all()
    style_only = reader.request_confidence(images, [{"face_color": "red"}] * 4)  # no time asked: the field alone
    assert (style_only > 0.5).all() and (reader.request_confidence(images, [{"face_color": "green"}] * 4) < 0.05).all()
    unreadable = [{"letter": "q", "face_color": "mauve", "hour": 3}] * 4  # unknown field, unknown value, half a time
    assert torch.equal(reader.request_confidence(images, unreadable), torch.ones(4))


@pytest.mark.slow
def test_evaluate_writes_a_report_with_every_row(pipe_dir, clocks, tmp_path):
    from pipelines.evaluate import ALL_TIMES, evaluate_pipeline
    from stage1_vqvae import ConditionalVAEConfig, ConditionalVAEModel

    torch.manual_seed(0)
    cvae_dir = tmp_path / "cvae"
    ConditionalVAEModel(
        ConditionalVAEConfig(image_size=32, channels=[8, 16, 16], decoder_channels=[8, 16, 16], decoder_res_blocks=1)
    ).save_pretrained(cvae_dir)
    out = tmp_path / "eval"
    report = evaluate_pipeline(
        pipe_dir,
        out,
        cvae_path=cvae_dir,
        data=clocks,
        guidance_scales=(1.0, 2.0),
        n_diversity=2,
        times=ALL_TIMES[::60],
        verifier_path=DEFAULT_READER,
    )
    assert [r["generator"] for r in report["rows"]] == ["qvae", "qvae", "conditional VAE"]
    for r in report["rows"]:  # one time per hour: the accuracy is the mean of the per-hour ones
        assert r["n"] == 12 and r["accuracy"] == pytest.approx(sum(r["per_hour"].values()) / 12)
    assert "guidance 2.0" in report["rows"][1]["setting"] and "< 0.8 sure" in report["rows"][1]["setting"]
    assert report["reader_accuracy_on_real_clocks"] > 0.9  # the shipped reader on real 32 px clocks
    assert report["reader"] == str(DEFAULT_READER)  # a pipeline without its own reader is judged by the shipped one
    assert {"psnr_db", "readable_after_reconstruction"} <= set(report["tokenizer"])
    vocab = ClockPipeline.from_pretrained(pipe_dir).vocab  # an untrained prior: close to uniform over its vocabulary
    assert report["prior"]["bits_per_token"] == pytest.approx(math.log2(vocab.size), abs=1.0)
    assert json.loads((out / "report.json").read_text()) == report
    assert "| conditional VAE | N(0, I) |" in (out / "report.md").read_text()
    for name in ("qvae_guidance_1.png", "qvae_guidance_2.png", "qvae_diversity_guidance_2.png", "cvae.png"):
        assert (out / name).stat().st_size > 0
