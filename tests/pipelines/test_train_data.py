"""``qvae train --data DIR --conditions ...``: a user's labelled folder in, a pipeline out; bad folders refused."""

import csv
import json
import re

import datasets
import pytest
import torch
from clock_renderer_b import write_clock_folder
from PIL import Image, ImageOps

from pipelines.cli import main
from pipelines.pipeline import SAMPLING_DEFAULTS, ClockPipeline
from pipelines.reader import DEFAULT_READER
from pipelines.train import PipelineTrainingArguments, data_shape, perceptual_term
from shared.images import to_tensor

TINY = json.dumps(
    {
        "channels": [8, 16, 16],
        "decoder_channels": [8, 16, 16],
        "decoder_res_blocks": 1,
        "latent_dim": 8,
        "codebook_size": 32,
    }
)
FAST = [
    "--tokenizer-steps",
    "2",
    "--tokenizer-tune-steps",
    "2",
    "--tokenizer-batch-size",
    "8",
    "--prior-steps",
    "2",
    "--prior-batch-size",
    "8",
    "--prior-preset",
    "tiny",
    "--reader-steps",  # no reader: its redraws of the closing grid would cost more than the rest
    "0",
    "--no-evaluate",
    "--mixed-precision",
    "no",
]
FROM_NOTHING = ["--tokenizer-config", TINY]  # a tiny tokenizer where no pipeline is started from


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_clock_folder(tmp_path_factory.mktemp("user") / "clocks", 48, 12, 12, size=32, seed=0)


def test_a_users_clock_folder_trains_and_takes_time_prompts(folder, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(folder), "--conditions", "hour,minute", "--out", str(out), *FAST, *FROM_NOTHING]
    assert main([*argv, "--reader-steps", "2", "--start-from", "none"]) == 0
    assert "enlarging" not in capsys.readouterr().out and (out / "tokenizer" / "model").is_dir()
    pipe = ClockPipeline.from_pretrained(out / "pipeline")
    assert list(pipe.fields) == ["hour", "minute"] and pipe.image_size == 32 and pipe.sampling == SAMPLING_DEFAULTS
    # its verifier: a reader of the folder's time, at its size, not the shipped reader of our clocks
    assert pipe.reader.fields == {} and pipe.reader.config.image_size == 32
    assert pipe.reader.config.members == 2  # an ensemble by default (pipelines.train.READER_MEMBERS)
    assert json.loads((out / "reader" / "metrics.json").read_text())["steps"] == 2
    assert pipe.read_prompt("quarter past three").conditions == {"hour": 3, "minute": 15}
    assert len(pipe("ten to six", 2, seed=0)) == 2 and (out / "clocks.png").is_file()


def test_a_saved_dataset_dict_is_data_as_a_folder_is(folder, tmp_path):
    """A ``DatasetDict`` written by ``save_to_disk`` holds its images as bytes beside a bare file
    name that exists nowhere: its images are read from the bytes."""
    from shared.data import load_images

    load_images(str(folder)).save_to_disk(str(tmp_path / "saved"))
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "saved"), "--conditions", "hour,minute", "--out", str(out)]
    assert main([*argv, "--start-from", "none", *FAST, *FROM_NOTHING]) == 0
    assert ClockPipeline.from_pretrained(out / "pipeline").image_size == 32


@pytest.mark.parametrize(
    "flag, least", [("--tokenizer-tune-steps", 0), ("--prior-steps", 1), ("--reader-steps", 0), ("--reader-members", 1)]
)
def test_step_counts_are_checked_by_their_own_names_before_anything_runs(tmp_path, capsys, flag, least):
    assert main(["train", "--out", str(tmp_path / "run"), flag, str(least - 1)]) == 2
    assert capsys.readouterr().err.strip() == f"qvae train: error: {flag} must be at least {least}, got {least - 1}"
    assert not (tmp_path / "run").exists()


def test_a_folder_of_class_subfolders_is_labelled_by_their_names(tmp_path, capsys):
    """The imagefolder layout without metadata (cat/*.png, dog/*.jpg): the label column's values are
    the folder names for the prior, its reader and the evaluation alike, not the class ids."""
    for label, colour in (("cat", (200, 40, 0)), ("dog", (0, 40, 200))):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (32, 32), (colour[0], i * 9, colour[2])).save(tmp_path / "pets" / label / f"{i}.png")
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "pets"), "--conditions", "label", "--out", str(out)]
    # 24 images, fewer than the default batches (64, 64, 128; "fewer than one batch" until stop 44):
    # each stage takes the 22 left for training in one batch
    fast = [a for a in FAST if a != "--no-evaluate"]
    for flag in ("--tokenizer-batch-size", "--prior-batch-size"):
        del fast[fast.index(flag) : fast.index(flag) + 2]
    assert main([*argv, *fast, *FROM_NOTHING, "--reader-steps", "2"]) == 0
    pipe = ClockPipeline.from_pretrained(out / "pipeline")
    assert pipe.fields == {"label": ("cat", "dog")} and pipe.reader.fields == {"label": ["cat", "dog"]}
    assert set(json.loads((out / "summary.json").read_text())["evaluation"]["label alone"]) == {"label"}
    assert len(pipe.generate({"label": "dog"}, 2, seed=0)) == 2


def _flat_folder(tmp_path, rows, sizes=None):
    root = tmp_path / "flat"
    root.mkdir()
    for i, _ in enumerate(rows):
        size = sizes[i] if sizes else 32  # a side, or (width, height)
        Image.new("RGB", size if isinstance(size, tuple) else (size, size), (i * 20 % 255, 0, 0)).save(
            root / f"{i}.png"
        )
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", *rows[0]])
        for i, row in enumerate(rows):
            w.writerow([f"{i}.png", *row.values()])
    return root


@pytest.mark.parametrize(
    ("rows", "sizes", "extra", "message"),
    [
        (
            [{"label": "a"}] * 10,
            None,
            ["--conditions", "colour"],
            "no column 'colour' to condition on; the columns are: label",
        ),
        ([{"label": "a"}] * 9 + [{"label": ""}], None, ["--conditions", "label"], "column 'label' has missing values"),
        (
            [{"label": str(i)} for i in range(10)],
            None,
            ["--conditions", "label", "--max-values", "5"],
            "10 distinct values, more than the 5 .*--max-values",
        ),
        (
            [{"label": "a"}] * 10,
            [32] * 9 + [48],
            ["--conditions", "label"],
            "not all one size: .*9.png is 48x48.*--resize",
        ),
    ],
)
def test_bad_folders_are_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, rows, sizes, extra, message):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(_flat_folder(tmp_path, rows, sizes)),
                "--out",
                str(out),
                *extra,
                *FAST,
                *FROM_NOTHING,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.search(message, err[0]), err[0]
    assert not (out / "data").exists() and not (out / "tokenizer").exists()


def test_mixed_sizes_train_with_resize(tmp_path, capsys):
    root = _flat_folder(tmp_path, [{"label": "ab"[i % 2]} for i in range(40)], [32] * 20 + [48] * 20)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(root),
                "--conditions",
                "label",
                "--resize",
                "--image-size",
                "32",
                "--out",
                str(out),
                *[arg for arg in FAST if arg != "--no-evaluate"],
                *FROM_NOTHING,
                "--reader-steps",
                "2",
            ]
        )
        == 0
    )
    # evaluated by its own reader: the label asked, honoured how often, in the report and the summary
    report = json.loads((out / "eval" / "report.json").read_text())
    assert set(report["honoured"]) == {"label alone"} and 0 <= report["honoured"]["label alone"]["label"] <= 1
    assert set(report["reader_on_real_images"]) == {"label"} and report["reader"] == f"{out / 'pipeline'}/reader"
    assert "| label alone |" in (out / "eval" / "report.md").read_text()
    assert json.loads((out / "summary.json").read_text())["evaluation"] == report["honoured"]
    # judged by a reader of other fields (the shipped clock reader): refused in one line, nothing written
    argv = ["evaluate", "--model", str(out / "pipeline"), "--reader", str(DEFAULT_READER), "--out", str(tmp_path / "e")]
    assert main(argv) == 2
    assert "the reader reads none of the pipeline's fields (label)" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
    # real test images of a label the reader never saw are left out of its score, not a crash
    import datasets

    images = [Image.new("RGB", (32, 32), c) for c in ("red", "blue", "green")]
    test = datasets.Dataset.from_dict({"image": images, "label": ["a", "b", "c"]}).cast_column(
        "image", datasets.Image()
    )
    datasets.DatasetDict({"test": test}).save_to_disk(tmp_path / "with_c")
    argv = [
        "evaluate",
        "--model",
        str(out / "pipeline"),
        "--data",
        str(tmp_path / "with_c"),
        "--out",
        str(tmp_path / "e"),
    ]
    assert main(argv) == 0
    assert set(json.loads((tmp_path / "e" / "report.json").read_text())["reader_on_real_images"]) == {"label"}
    pipe = ClockPipeline.from_pretrained(out / "pipeline")
    assert pipe.fields == {"label": ("a", "b")} and len(pipe.generate({"label": "b"}, 2, seed=0)) == 2
    assert pipe.reader.fields == {"label": ["a", "b"]}
    # a reader of labels alone checks the draws too: p(asked label), never a pass by default
    drawn = pipe.draw([{"label": "b"}], 2, seed=0)
    assert drawn.shape == (2, 3, 32, 32)
    confidence = pipe.reader.request_confidence(drawn, [{"label": "b"}] * 2)
    assert ((confidence > 0) & (confidence < 1)).all()


@pytest.mark.parametrize(("size", "side", "said"), [((40, 24), 48, "padding them to squares"), ((20, 20), 32, "")])
def test_one_size_the_tokenizer_cannot_take_is_fitted_to_a_square_and_handed_back(tmp_path, capsys, size, side, said):
    """From nothing (a label the shipped pipeline lacks), images of one size that is not a square
    whose side is divisible by 16 are fitted to the smallest such square and handed back at their size."""
    out = tmp_path / "run"
    root = _flat_folder(tmp_path, [{"label": "ab"[i % 2]} for i in range(20)], [size] * 20)
    argv = ["train", "--data", str(root), "--conditions", "label", "--out", str(out), *FAST, *FROM_NOTHING]
    assert main(argv) == 0
    told = capsys.readouterr().out
    assert f"the images are {size[0]}x{size[1]}" in told and said in told
    assert ("enlarging them to" in told) == (max(size) < side)
    pipe = ClockPipeline.from_pretrained(out / "pipeline")
    assert pipe.image_size == side and pipe.output_size == size
    assert [p.size for p in pipe.generate({"label": "b"}, 2, seed=0)] == [size] * 2


def test_start_from_a_pipeline_tunes_both_stages(folder, tmp_path, capsys):
    start = tmp_path / "start"
    argv = ["train", "--data", str(folder), "--conditions", "hour,minute", "--out", str(start), "--start-from", "none"]
    assert main([*argv, *FAST, *FROM_NOTHING]) == 0
    tuned, kept = tmp_path / "tuned", tmp_path / "kept"
    for out, extra in ((tuned, []), (kept, ["--tokenizer-tune-steps", "0"])):
        argv = ["train", "--data", str(folder), "--out", str(out), "--start-from", str(start / "pipeline")]
        assert main([*argv, *FAST, *extra]) == 0
    before, after = ClockPipeline.from_pretrained(start / "pipeline"), ClockPipeline.from_pretrained(tuned / "pipeline")
    assert not all(torch.equal(p, q) for p, q in zip(before.prior.parameters(), after.prior.parameters()))
    # the tokenizer fine-tuned, its config and its codes' meaning kept: the prior it starts from still applies
    after.tokenizer.config._name_or_path = before.tokenizer.config._name_or_path  # where each was loaded from
    assert (
        tuned / "tokenizer" / "model"
    ).is_dir() and after.tokenizer.config.to_dict() == before.tokenizer.config.to_dict()
    assert not all(torch.equal(p, q) for p, q in zip(before.tokenizer.parameters(), after.tokenizer.parameters()))
    images = to_tensor(datasets.load_from_disk(str(tuned / "data"))["train"][:16]["image"])
    assert (before.tokenizer.encode(images) == after.tokenizer.encode(images)).float().mean() > 0.8
    # --tokenizer-tune-steps 0: the start's tokenizer as it is
    unchanged = ClockPipeline.from_pretrained(kept / "pipeline").tokenizer
    assert not (kept / "tokenizer").exists()
    assert all(torch.equal(p, q) for p, q in zip(before.tokenizer.parameters(), unchanged.parameters()))

    labelled = _flat_folder(tmp_path, [{"label": "ab"[i % 2]} for i in range(20)])
    bigger = write_clock_folder(tmp_path / "big", 8, 2, 2, size=48, seed=1)
    for i, (data, extra, message) in enumerate(
        (
            (labelled, ["--conditions", "label"], "is conditioned on hour, minute and cannot learn label"),
            (bigger, [], "draws 32x32 images but the data's are 48x48 (--resize --image-size 32)"),
            (folder, ["--start-from", str(tmp_path / "nowhere")], "no pipeline at"),
            (folder, FROM_NOTHING, "--tokenizer-config shapes a tokenizer trained from nothing"),
        )
    ):
        extra = extra if "--start-from" in extra else [*extra, "--start-from", str(start / "pipeline")]
        bad = tmp_path / f"bad{i}"
        assert main(["train", "--data", str(data), "--out", str(bad), *extra, *FAST]) == 2
        assert message in capsys.readouterr().err
        assert not (bad / "tokens").exists() and not (bad / "prior").exists()


@pytest.mark.parametrize(
    ("size", "twelve"), [((64, 64), False), ((96, 96), True), ((32, 32), False), ((96, 64), False)]
)
def test_clocks_start_from_the_shipped_pipeline_resized_to_its_size(tmp_path, capsys, size, twelve):
    """Clocks larger or smaller than the shipped pipeline's, square or not, are fitted to its 64x64 to
    start from it, and the pipeline hands its pictures back at their size; hours labelled 1..12
    (12:15) are its 0..11 (0:15)."""
    from pipelines.pipeline import DEFAULT_PIPELINE

    w, h = size
    data = write_clock_folder(tmp_path / "clocks", 24, 6, 6, size=min(size), seed=2, twelve=twelve)
    if w != h:  # a wide picture of each clock, the dial in its middle
        for file in data.glob("*/*.png"):
            ImageOps.pad(Image.open(file), size, color=(90, 120, 150)).save(file)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *FAST]) == 0
    said = capsys.readouterr().out
    assert "starting from the shipped clock pipeline" in said and "its tokenizer fine-tuned (2 steps)" in said
    assert f"with a perceptual term: what {DEFAULT_PIPELINE / 'reader'} sees" in said  # its reader guides the tokens
    assert ("shrinking them to 64x64" in said) == (max(size) > 64) and ("enlarging them" in said) == (max(size) < 64)
    assert ("padding them to squares" in said) == (w != h)
    assert data_shape(out / "data")[0] == 64
    tuned = ClockPipeline.from_pretrained(out / "pipeline")
    assert tuned.output_size == size and tuned.image_size == 64
    assert [p.size for p in tuned.generate({"hour": 3, "minute": 15}, 2, seed=0)] == [size] * 2
    shipped = ClockPipeline.from_pretrained(DEFAULT_PIPELINE)
    assert (out / "tokenizer" / "model").is_dir() and tuned.fields == shipped.fields  # both stages fine-tuned
    assert tuned.sampling == shipped.sampling != SAMPLING_DEFAULTS  # sampled as the pipeline it started from
    assert tuned.reader is None and shipped.reader is not None  # --reader-steps 0: none
    tuned.tokenizer.config._name_or_path = shipped.tokenizer.config._name_or_path  # where each was loaded from
    assert tuned.tokenizer.config.to_dict() == shipped.tokenizer.config.to_dict()


def test_the_perceptual_term_needs_a_start_with_a_reader(tmp_path, capsys):
    (tmp_path / "tokenizer").mkdir()  # a start pipeline without reader/
    assert perceptual_term(PipelineTrainingArguments(out=str(tmp_path / "out")), tmp_path) is None
    assert f"no perceptual term: {tmp_path} has no reader/" in capsys.readouterr().out
    term = perceptual_term(PipelineTrainingArguments(out=str(tmp_path / "out")), DEFAULT_READER.parent)
    assert term is not None and "with a perceptual term" in capsys.readouterr().out
    assert perceptual_term(PipelineTrainingArguments(tokenizer_perceptual_weight=0), DEFAULT_READER.parent) is None
