"""``qvae train``: the whole chain, from nothing (or your labelled images) to a measured pipeline folder.

data -> tokenizer -> token export -> prior -> reader -> pipeline folder -> evaluation
-> sample grid, each stage under ``OUT/``. A stage whose output is already there is
skipped, so a run stopped anywhere continues where it stopped when started again.

With ``--data DIR --conditions a,b`` the data is yours: an image folder with
``metadata.csv`` / ``metadata.jsonl`` (the ``datasets`` imagefolder convention) or a saved
``DatasetDict``; the prior is conditioned on the named label columns, and the pipeline
it writes draws by those fields (``qvae generate --model OUT/pipeline --condition a=...``),
and by time prompts too where they include hour and minute. A reader of those columns is
trained on the folder and saved in the pipeline: it checks each drawing for what was asked
and has the doubtful ones redrawn (``ClockPipeline.draw``), for the user's images, not ours.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

from datasets import Image as datasets_image
from PIL import Image

from shared.clocks import STYLE_FIELDS
from shared.files import atomic_dir, save_atomic
from shared.images import pad_to_square
from shared.time_prompts import TIME_FIELDS
from shared.training import COMPILE_HELP, Compile, TrainingArguments, arg, check_at_least
from stage1_vqvae.train import TokenizerTrainingArguments
from stage2_prior.data import DEFAULT_MAX_VALUES
from stage2_prior.train import PriorTrainingArguments

FINE_TUNE_LR = 5e-4  # both stages' peak learning rate (AdamW) when they start from a pipeline (benchmarks/RESULTS.md)
TOKENIZER_TUNE_STEPS = 300  # a start pipeline's tokenizer fine-tuned on --data (benchmarks/RESULTS.md)
# the weight of the perceptual term (the start pipeline's reader) when a start's tokenizer is fine-tuned
PERCEPTUAL_WEIGHT = 0.05  # (benchmarks/RESULTS.md stop 50)
DATA_READER_STEPS = 1000  # the reader of a --data folder (benchmarks/RESULTS.md)
# the reader qvae train trains: an ensemble of two, side by side: it doubts the drawings one reader alone accepts
# wrongly (renderer C, benchmarks/RESULTS.md stop 46)
READER_MEMBERS = 2
SOURCE_SIZE = "source_size.json"  # in OUT/data: [width, height] of --data's images where they were fitted
DEMO_PROMPTS = [
    "quarter past three",
    "10:10",
    "half past seven",
    "ten to six",
    "noon",
    "7h05",
    "twenty-five past 11",
    "quarter to nine",
    "4:40 pm",
    "1:50",
    "8:25",
    "six o'clock",
]


def _stage(name: str, done: bool | str, timings: dict):
    """Print a banner (``done``: True or why the stage is skipped); returns a context that records how long
    the stage took."""
    skipped = f" ({'already done' if done is True else done}, skipped)" if done else ""
    print(f"\n=== {name}{skipped} ===", flush=True)

    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            if exc[0] is None:
                timings[name] = round(time.perf_counter() - self.start, 1)

    return _Timer()


@dataclass(kw_only=True)
class PipelineTrainingArguments:
    """``qvae train``: the stages' own defaults (steps, precision) are read from their dataclasses."""

    out: str = arg("runs/default", "folder for every stage's output (a rerun skips finished stages)")
    data: str | None = arg(
        None,
        "your labelled images: an image folder with metadata.csv / metadata.jsonl "
        "(optionally train/ validation/ test/ subfolders) or a saved DatasetDict "
        "(default: render clocks of every style into OUT/data)",
    )
    conditions: str | None = arg(
        None,
        "comma-separated label columns the prior is conditioned on (default: "
        "hour, minute and the renderer's style fields for rendered clocks; "
        "hour,minute for --data)",
    )
    resize: bool = arg(False, "resize images of --data to --image-size (default: refuse images of mixed sizes)")
    image_size: int = arg(64, "image side for rendered clocks and for --data with --resize")
    max_values: int = arg(DEFAULT_MAX_VALUES, "most distinct values a condition column may have")
    skip_bad_images: bool = arg(False, "skip and count image files that cannot be used instead of stopping")
    train_size: int = arg(60000, "training clocks to render")
    styles: int = arg(0, "distinct clock styles in the rendered data (0: a style of its own per clock)")
    start_from: str = arg(
        "auto",
        "a pipeline folder to start from ('shipped': qvae's clock pipeline): its tokenizer and its prior are "
        "fine-tuned on the data (--tokenizer-tune-steps, --prior-steps), the prior conditioned on --conditions "
        "(which must be among its fields); "
        "'auto': the shipped clock pipeline for --data that it fits (its fields, values and image size), "
        "else from nothing; 'none': both stages from nothing",
    )
    tokenizer_steps: int = arg(TokenizerTrainingArguments.steps, "optimizer steps of the tokenizer")
    tokenizer_tune_steps: int = arg(
        TOKENIZER_TUNE_STEPS,
        "optimizer steps fine-tuning the start pipeline's tokenizer on the data (0: kept as it is); "
        "the tokenizer trained from nothing takes --tokenizer-steps",
    )
    tokenizer_perceptual_weight: float = arg(
        PERCEPTUAL_WEIGHT,
        "weight of a perceptual term in that fine-tuning: the start pipeline's reader's features of each "
        "reconstruction matched to the original's, so the tokens keep what a reader looks at (0: MSE alone)",
    )
    tokenizer_batch_size: int = arg(TokenizerTrainingArguments.batch_size, "batch per process of the tokenizer")
    tokenizer_config: str | None = arg(None, "JSON of tokenizer config overrides, e.g. '{\"codebook_size\": 1024}'")
    tokenizer_image_mix: float = arg(
        TokenizerTrainingArguments.image_mix,
        "share of the tokenizer's training images drawn from the general image mix (shared.image_mix), "
        "for a tokenizer that reconstructs more than this data",
    )
    prior_steps: int = arg(PriorTrainingArguments.steps, "optimizer steps of the prior")
    prior_batch_size: int = arg(PriorTrainingArguments.batch_size, "batch per process of the prior")
    prior_preset: str = arg(PriorTrainingArguments.preset, "size of the prior")
    prior_compile: Compile = arg(PriorTrainingArguments.compile, f"the prior's --compile: {COMPILE_HELP}")
    baseline_steps: int = arg(0, "also train the conditional-VAE baseline for this many steps (0: skip)")
    reader_steps: int | None = arg(
        None,
        "steps of the reader saved in the pipeline, which checks its drawings (it has doubtful ones redrawn) "
        f"and judges its evaluation: with --data, a reader of its --conditions ({DATA_READER_STEPS} steps by "
        "default; 0: none); else a fresh clock reader (default 0: the shipped one)",
    )
    reader_members: int = arg(
        READER_MEMBERS,
        "readers trained side by side in that reader (an ensemble: a drawing passes only where each reads it "
        "as asked); each costs the reader's steps again",
    )
    evaluate: bool = arg(
        True, "measure the pipeline with its reader at the end: the time over the 720 times, else each field"
    )
    mixed_precision: str = arg(TrainingArguments.mixed_precision, "auto, no, bf16 or fp16, for every stage")
    seed: int = arg(0, "seed of every stage")

    def __post_init__(self):  # refused before any stage runs, named as the user typed them
        least = {
            "tokenizer_steps": 1,
            "prior_steps": 1,
            "tokenizer_tune_steps": 0,
            "tokenizer_perceptual_weight": 0,
            "baseline_steps": 0,
            "reader_steps": 0,
            "reader_members": 1,
        }
        check_at_least(self, least)

    def condition_names(self) -> list[str]:
        if self.conditions:
            return [c.strip() for c in self.conditions.split(",") if c.strip()]
        return ["hour", "minute"] + ([] if self.data else list(STYLE_FIELDS))


def prepare_data(a: PipelineTrainingArguments, out: Path) -> None:
    """``--data`` checked and written to ``out`` with a validation split: every named column there,
    complete and categorical, images of one size (or resized with --resize); nothing is written
    when a check fails. A folder with only a train split gets a seeded 5% validation split.
    Images of one size fitted to a square, the shipped pipeline's (``size_to_start_from``) or one
    the tokenizer takes (``size_to_square``), leave that size in ``out/SOURCE_SIZE``: the
    pipeline hands its pictures back at it."""
    import datasets

    from shared.data import load_images, train_split, with_validation
    from stage2_prior.data import infer_fields

    ds = load_images(a.data, a.skip_bad_images)
    # a missing, incomplete or too varied column, in all the user's training rows
    infer_fields(train_split(ds), a.condition_names(), a.max_values)
    sizes = None if a.resize else image_sizes(ds)  # with --resize every image is resized: no need to look
    side = a.image_size if a.resize else size_to_start_from(a, ds, sizes)  # (--resize wins over auto)
    if not side and not a.resize:
        check_one_size(sizes, a.data)
        side = size_to_square(sizes)
    if side:

        def resize(rows):
            if a.resize:  # as asked, whatever their shape
                return {"image": [im.resize((side, side), Image.BICUBIC) for im in rows["image"]]}
            return {"image": [pad_to_square(im, side) for im in rows["image"]]}

        ds = datasets.DatasetDict({k: v.map(resize, batched=True, batch_size=256) for k, v in ds.items()})
    with atomic_dir(out) as tmp:
        with_validation(ds, a.seed).save_to_disk(str(tmp))  # carved after any resize
        source = size_to_hand_back(sizes) if side and not a.resize else None
        if source:
            (tmp / SOURCE_SIZE).write_text(json.dumps(list(source)) + "\n")


def image_sizes(ds) -> dict[tuple[int, int], str]:
    """Each distinct ``(width, height)`` of the images of ``ds``, with the first file (or split) of it."""
    sizes: dict[tuple[int, int], str] = {}
    for name, split in ds.items():
        for row in split.cast_column("image", datasets_image(decode=False)):
            image = row["image"]  # a saved dataset keeps the bytes beside a bare name that exists nowhere
            with Image.open(io.BytesIO(image["bytes"]) if image["bytes"] is not None else image["path"]) as im:
                sizes.setdefault(im.size, image["path"] or name)
    return sizes


def check_one_size(sizes: dict[tuple[int, int], str], where) -> None:
    """Refuse images of mixed sizes (``image_sizes``), naming one that differs."""
    (first, file), *others = sizes.items()
    if others:
        size, other = others[0]
        raise ValueError(
            f"images of {where!r} are not all one size: {other} is {size[0]}x{size[1]} but {file} is "
            f"{first[0]}x{first[1]}; pass --resize to resize them all to --image-size"
        )


def size_to_square(sizes: dict[tuple[int, int], str]) -> int | None:
    """The side of the square that images of one size are fitted to (``shared.images.pad_to_square``)
    when the tokenizer cannot take them as they are, as it takes squares whose side is divisible by 16:
    their longer side rounded up to that (None: taken as they are). The pipeline hands its
    pictures back at their size."""
    ((w, h),) = sizes
    side = -(-max(w, h) // 16) * 16
    if w == h == side:
        return None
    print(
        f"the images are {w}x{h} and the tokenizer takes squares whose side is divisible by 16: "
        f"{fitting(sizes, side)}; the pipeline hands its pictures back at {w}x{h} "
        "(--resize --image-size N resizes them to N x N instead)"
    )
    return side


def fitting(sizes: dict[tuple[int, int], str], side: int) -> str:
    """How images of ``sizes`` are fitted to ``side`` x ``side`` (``pad_to_square``), in the words the run prints."""
    how = ["padding them to squares (their edges repeated)"] * any(w != h for w, h in sizes)
    longest = min(max(size) for size in sizes)
    if longest != side:
        how.append(f"{'shrinking' if longest > side else 'enlarging'} them to {side}x{side}")
    return " and ".join(how)


def size_to_start_from(a: PipelineTrainingArguments, ds, sizes: dict[tuple[int, int], str]) -> int | None:
    """With ``--start-from auto``, the shipped pipeline's image size where the data fits that pipeline
    but for the size of its images: images of one other size (square or not), or of several sizes all
    larger than it draws, are fitted to its square (``shared.images.pad_to_square``), to start from it
    rather than train both stages from nothing (None: the images are kept as they are)."""
    from pipelines.pipeline import DEFAULT_PIPELINE, INDEX
    from shared.data import train_split

    if a.start_from != "auto":
        return None
    shipped = json.loads((DEFAULT_PIPELINE / INDEX).read_text())["image_size"]
    if set(sizes) == {(shipped, shipped)} or (len(sizes) > 1 and min(min(s) for s in sizes) <= shipped):
        return None  # already its size, or mixed sizes it would not all shrink: as they are
    if misfit(DEFAULT_PIPELINE, train_split(ds), a.condition_names()):
        return None
    shown = ", ".join(f"{w}x{h}" for w, h in sizes)
    back = f"; its pictures are handed back at {shown}" if size_to_hand_back(sizes) else ""
    print(
        f"the images are {shown}: {fitting(sizes, shipped)}, to start from the shipped clock pipeline, which "
        f"draws {shipped}x{shipped}{back} (--start-from none keeps their "
        "size and trains both stages from nothing)"
    )
    return shipped


def size_to_hand_back(sizes: dict[tuple[int, int], str]) -> tuple[int, int] | None:
    """The one ``(width, height)`` of images fitted to the pipeline's square, at which it hands its
    pictures back; None for mixed sizes, or a side beyond what a pipeline may hand out."""
    from pipelines.pipeline import MAX_SIDE

    return next(iter(sizes)) if len(sizes) == 1 and max(next(iter(sizes))) <= MAX_SIDE else None


def data_shape(data_dir: Path) -> tuple[int, int]:
    """``(side, training rows)`` of a prepared dataset (square images of one size): each stage's batch
    is at most its training rows, so a folder of a few dozen images trains as one of thousands does."""
    import datasets

    train = datasets.load_from_disk(str(data_dir))["train"]
    return train[0]["image"].size[0], train.num_rows


def start_pipeline(a: PipelineTrainingArguments, data_dir: Path, image_size: int) -> Path | None:
    """The pipeline folder that ``--start-from`` chooses for the data at ``data_dir``, or None (train
    from nothing). A folder named outright must fit the data (else ValueError); ``auto`` takes the
    shipped clock pipeline for ``--data`` that it fits and says which it chose."""
    from pipelines.pipeline import DEFAULT_PIPELINE

    if a.start_from == "none" or (a.start_from == "auto" and not a.data):
        return None
    folder = DEFAULT_PIPELINE if a.start_from in ("auto", "shipped") else Path(a.start_from)
    import datasets

    unfit = misfit(folder, datasets.load_from_disk(str(data_dir))["train"], a.condition_names(), image_size)
    if a.start_from != "auto":
        if unfit:
            raise ValueError(f"--start-from {a.start_from!r}: {unfit}")
        return folder
    print(
        f"training both stages from nothing, as the shipped clock pipeline does not fit the data: {unfit}"
        if unfit
        else f"starting from the shipped clock pipeline ({folder}): its tokenizer "
        + (f"fine-tuned ({a.tokenizer_tune_steps} steps)" if a.tokenizer_tune_steps else "as it is")
        + ", its prior fine-tuned "
        "(--start-from none trains both from nothing)"
    )
    return None if unfit else folder


def misfit(folder: Path, train, conditions: list[str], image_size: int | None = None) -> str | None:
    """Why the pipeline at ``folder`` cannot be fine-tuned on the data whose train split is ``train``,
    of ``image_size`` images (None: it can; a size of None is not checked)."""
    from pipelines.pipeline import INDEX
    from stage2_prior.data import infer_fields
    from stage2_prior.train import start_vocab
    from stage2_prior.vocab import Vocab

    if not (folder / INDEX).is_file():
        return f"no pipeline at {str(folder)!r} (expected {INDEX}, tokenizer/ and prior/)"
    index = json.loads((folder / INDEX).read_text())
    size = index.get("image_size")
    if image_size is not None and size != image_size:
        return (
            f"it draws {size}x{size} images but the data's are {image_size}x{image_size} (--resize --image-size {size})"
        )
    data = Vocab(index["codebook_size"], index["grid_shape"], infer_fields(train, conditions))
    try:
        start_vocab(folder / "prior", data)
    except ValueError as e:
        return str(e)
    return None


def train_all(a: PipelineTrainingArguments) -> dict:
    from pipelines.generate import write_grid
    from pipelines.pipeline import INDEX, ClockPipeline
    from pipelines.reader import load_reader
    from pipelines.token_export import export_tokens
    from shared.data import build_clock_dataset
    from stage1_vqvae import load_tokenizer
    from stage1_vqvae.train import train_tokenizer
    from stage2_prior import load_prior, train_prior

    out = Path(a.out)

    def settings(stage: str) -> dict:  # what every stage is given; it writes to OUT/stage
        return dict(out=str(out / stage), seed=a.seed, resume=True, mixed_precision=a.mixed_precision)

    timings: dict = {}
    data_dir = out / "data"
    with _stage("1/8 data", data_dir.exists(), timings):
        if a.data and not data_dir.exists():
            prepare_data(a, data_dir)
        elif not data_dir.exists():
            save_atomic(
                build_clock_dataset(train=a.train_size, seed=a.seed, num_styles=a.styles, size=a.image_size), data_dir
            )
    image_size, rows = data_shape(data_dir)
    start = start_pipeline(a, data_dir, image_size)
    if start and a.tokenizer_config:
        raise ValueError(
            f"--tokenizer-config shapes a tokenizer trained from nothing, but this run starts from {start}, whose "
            "tokenizer is fine-tuned as it is: drop --tokenizer-config, or train both stages from nothing "
            "with --start-from none"
        )
    kept = start is not None and not a.tokenizer_tune_steps
    tok_dir = start / "tokenizer" if kept else out / "tokenizer" / "model"
    with _stage("2/8 tokenizer", "the start's, kept" if kept else tok_dir.exists(), timings):
        if not tok_dir.exists():
            if start:  # fine-tuned as the prior is: AdamW at FINE_TUNE_LR, its config and codebook kept
                how = dict(init_from=str(start / "tokenizer"), steps=a.tokenizer_tune_steps, lr=FINE_TUNE_LR)
            else:
                config = json.loads(a.tokenizer_config) if a.tokenizer_config else {}
                how = dict(steps=a.tokenizer_steps, config=json.dumps({"image_size": image_size, **config}))
            train_tokenizer(
                TokenizerTrainingArguments(
                    data=str(data_dir),
                    batch_size=min(a.tokenizer_batch_size, rows),
                    image_mix=a.tokenizer_image_mix,
                    **how,
                    **settings("tokenizer"),
                ),
                perceptual_term(a, start),
            )
    tokenizer = load_tokenizer(tok_dir)
    tokens_dir = out / "tokens"
    with _stage("3/8 token export", (tokens_dir / "tokens.json").exists(), timings):
        if not (tokens_dir / "tokens.json").exists():
            export_tokens(tokenizer, data_dir, tokens_dir)
    prior_dir = out / "prior" / "model"
    with _stage("4/8 prior", prior_dir.exists(), timings):
        if not prior_dir.exists():
            train_prior(
                PriorTrainingArguments(
                    tokens=str(tokens_dir),
                    preset=a.prior_preset,
                    steps=a.prior_steps,
                    batch_size=min(a.prior_batch_size, rows),
                    compile=a.prior_compile,
                    conditions=",".join(a.condition_names()),
                    max_values=a.max_values,
                    init_from=str(start / "prior") if start else None,
                    # a start's prior is fine-tuned as measured (AdamW at FINE_TUNE_LR); from scratch, Muon
                    **({"lr": FINE_TUNE_LR, "optimizer": "adamw"} if start else {}),
                    **settings("prior"),
                )
            )
    reader_dir = train_pipeline_reader(a, data_dir, image_size, rows, settings("reader"), timings)
    pipe_dir = out / "pipeline"
    with _stage("6/8 pipeline folder", False, timings):
        reader = load_reader(reader_dir) if reader_dir else None
        source = data_dir / SOURCE_SIZE  # the user's size, where their images were fitted to the square
        size = json.loads(source.read_text()) if source.is_file() else None
        # a prior fine-tuned from a pipeline samples best as that pipeline does (benchmarks/RESULTS.md)
        sampling = json.loads((start / INDEX).read_text()).get("sampling") if start else None
        prior = load_prior(str(prior_dir))
        ClockPipeline(tokenizer, prior, sampling=sampling, reader=reader, output_size=size).save_pretrained(pipe_dir)
        print(
            f"pipeline written to {pipe_dir}"
            + (f" (its pictures {size[0]}x{size[1]})" if size else "")
            + (f", sampling as {start} does" if sampling else "")
        )
    cvae_dir = None
    if a.baseline_steps:
        cvae_dir = out / "cvae" / "model"
        with _stage("7/8 conditional-VAE baseline", cvae_dir.exists(), timings):
            if not cvae_dir.exists():
                train_tokenizer(
                    TokenizerTrainingArguments(
                        data=str(data_dir), model="cvae", steps=a.baseline_steps, **settings("cvae")
                    )
                )
    summary = {"pipeline": str(pipe_dir), "timings_s": timings}
    pipe = ClockPipeline.from_pretrained(pipe_dir)
    clock = set(TIME_FIELDS) <= set(pipe.fields)
    if a.evaluate and (clock or pipe.reader is not None):
        from pipelines.evaluate import evaluate_pipeline

        with _stage("8/8 evaluation", False, timings):
            report = evaluate_pipeline(pipe_dir, out / "eval", None, cvae_dir, data_dir)  # judged by its reader
            if clock:
                summary["evaluation"] = {
                    r["generator"] + " " + r["setting"]: round(r["accuracy"], 4) for r in report["rows"]
                }
                summary["tokenizer"] = report["tokenizer"]
            else:  # each field honoured, by kind of request
                summary["evaluation"] = report["honoured"]
    write_grid(pipe, demo_requests(pipe), 4, out / "clocks.png", seed=a.seed)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n=== summary ===\n" + json.dumps(summary, indent=2))
    print(f"grid of generated clocks: {(out / 'clocks.png').resolve()}")
    return summary


def perceptual_term(a: PipelineTrainingArguments, start: Path | None):
    """The start pipeline's reader as the perceptual term of its tokenizer's fine-tuning (None: MSE alone)."""
    from pipelines.reader import load_reader
    from stage1_vqvae import PerceptualLoss

    if not (start and a.tokenizer_perceptual_weight):
        return None
    reader = start / "reader"
    if not reader.is_dir():
        print(f"no perceptual term: {start} has no reader/ to see with (MSE alone)")
        return None
    print(f"with a perceptual term: what {reader} sees (weight {a.tokenizer_perceptual_weight})")
    return PerceptualLoss(load_reader(reader), a.tokenizer_perceptual_weight)


def train_pipeline_reader(
    a: PipelineTrainingArguments, data_dir: Path, image_size: int, rows: int, settings: dict, timings: dict
) -> Path | None:
    """The folder of the reader the pipeline carries (None: none): with ``--data``, one trained on its
    condition columns; else the shipped clock reader, or a fresh one with ``--reader-steps``."""
    from pipelines.reader import DEFAULT_READER, ReaderTrainingArguments, train_reader

    steps = a.reader_steps if a.reader_steps is not None else (DATA_READER_STEPS if a.data else 0)
    if not steps:
        _stage("5/8 reader", "none asked" if a.data else "the shipped clock reader, kept", timings)
        return None if a.data else DEFAULT_READER
    source = {}
    if a.data:
        batch = min(ReaderTrainingArguments.batch_size, rows)
        source = dict(
            data=str(data_dir), columns=",".join(a.condition_names()), image_size=image_size, batch_size=batch
        )
    source["members"] = a.reader_members
    reader_dir = Path(settings["out"]) / "model"
    with _stage("5/8 reader", reader_dir.exists(), timings):
        if not reader_dir.exists():
            train_reader(ReaderTrainingArguments(steps=steps, **source, **settings))
    return reader_dir


def demo_requests(pipe) -> list[tuple[str, dict]]:
    """What the closing grid shows: the demo prompts for a pipeline that tells the time, else one
    row per value of its first field."""
    if set(TIME_FIELDS) <= set(pipe.fields):
        return [(p, pipe.read_prompt(p).conditions) for p in DEMO_PROMPTS]
    name, values = next(iter(pipe.fields.items()))
    return [(f"{name}={v}", {name: v}) for v in values[:12]]


ARGUMENTS = (PipelineTrainingArguments,)


def run(args: PipelineTrainingArguments) -> None:
    train_all(args)
