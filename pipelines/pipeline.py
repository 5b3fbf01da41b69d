"""``ClockPipeline``: prompt -> conditions -> prior samples code ids -> tokenizer decodes a picture.

A pipeline is a folder, as in diffusers: ``model_index.json`` (grid shape, codebook size,
condition fields, versions, sampling defaults, the size of the pictures it hands out) +
``tokenizer/`` (the stage-1 VQ-VAE) + ``prior/`` (the stage-2 causal LM), and optionally
``reader/``: a reader of the pipeline's own images (``pipelines.reader.ClockReader``) that
checks each drawing shows what was asked, and has it redrawn where it doubts it (``draw``), as
diffusers' pipelines carry a safety checker. The two stages meet only here, through token ids.
The prior's condition fields are whatever it was trained on: the clock pipeline's hour,
minute and style fields, or a user's own label columns; a prompt is read against them
(``shared.prompts.parse_prompt``), and ``generate(conditions={...})`` takes them directly.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from PIL import Image

from pipelines.reader import DEFAULT_READER, ClockReader, load_reader
from shared.files import atomic_dir
from shared.images import crop_from_square, to_pil, to_tensor
from shared.prompts import Prompt, parse_prompt
from stage1_vqvae import VQVAEModel, load_tokenizer
from stage2_prior import load_prior, prior_vocab, sample

DEFAULT_PIPELINE = Path(__file__).parent / "weights" / "clock_pipeline"
INDEX = "model_index.json"
# draw(verifier=...): redraw clocks the reader is less sure of than MIN_CONFIDENCE, at most
# MAX_REDRAWS times (benchmarks/rerank.py measured the settings)
MIN_CONFIDENCE = 0.8
MAX_REDRAWS = 15
MAX_IMAGES = 1024  # clocks per call, all prompts together; raise it with max_images= (None: no limit)
MAX_SIDE = 4096  # largest output_size side a model_index.json may ask
SAMPLE_BATCH = 256  # most sequences generate_ids samples at once
# chosen by qvae evaluate sweeps over guidance and min_p (benchmarks/RESULTS.md); a pipeline folder may
# store its own in model_index.json
SAMPLING_DEFAULTS = {"guidance_scale": 2.0, "temperature": 1.0, "top_k": None, "top_p": None, "min_p": 0.3}


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _load(loader, path: Path, what: str, dtype: torch.dtype | None, device):
    """One stage through the one strict loader (safetensors only, every tensor checked: shared.loading)."""
    if not path.is_dir():
        raise FileNotFoundError(f"the pipeline has no {what} folder at {str(path)!r}")
    return loader(path, dtype=dtype, device=device)


def _check_index(index: dict, path: Path, cls: type, tokenizer, prior) -> None:
    """Every field of ``model_index.json`` that describes the stages must agree with them."""

    def disagree(key, value, actual):
        raise ValueError(
            f"{str(path / INDEX)!r} disagrees with its stages: it says {key}={value!r} but the stages have {actual!r}"
        )

    names = [c.__name__ for c in cls.__mro__]
    if "_class_name" in index and index["_class_name"] not in names:
        disagree("_class_name", index["_class_name"], cls.__name__)
    stages = {
        "tokenizer": [type(tokenizer).__module__.split(".")[0], type(tokenizer).__name__],
        "prior": ["transformers", type(prior).__name__],
        "reader": ["pipelines", ClockReader.__name__],
    }
    for key, actual in stages.items():
        if key in index and index[key] != actual:
            disagree(key, index[key], actual)
    vocab = prior_vocab(prior)
    actual = {
        "codebook_size": tokenizer.config.codebook_size,
        "grid_shape": list(vocab.grid_shape),
        "fields": vocab.to_dict()["fields"],
    }
    for key, value in actual.items():
        if key in index and index[key] != value:
            disagree(key, index[key], value)
    size = index.get("image_size")
    if size is not None:
        try:
            grid = list(tokenizer.grid_shape(size, size))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{str(path / INDEX)!r} has an invalid image_size={size!r} ({e})") from e
        if grid != list(vocab.grid_shape):
            raise ValueError(
                f"{str(path / INDEX)!r} disagrees with its stages: its image_size={size} makes a "
                f"{grid} grid but the prior models {list(vocab.grid_shape)}"
            )
    out = index.get("output_size")
    if out is not None and not (
        isinstance(out, list) and len(out) == 2 and all(type(v) is int and 0 < v <= MAX_SIDE for v in out)
    ):
        raise ValueError(
            f"{str(path / INDEX)!r} has an invalid output_size={out!r}: expected [width, height], "
            f"whole numbers of pixels from 1 to {MAX_SIDE}"
        )
    sampling = index.get("sampling")
    if sampling is not None and (not isinstance(sampling, dict) or set(sampling) - set(SAMPLING_DEFAULTS)):
        raise ValueError(
            f"{str(path / INDEX)!r} has an invalid sampling={sampling!r}: expected an object with "
            f"keys among {', '.join(SAMPLING_DEFAULTS)}"
        )


def check_request(prompts: int, num_images_per_prompt: int, max_images: int | None = MAX_IMAGES) -> None:
    """Refuse a request for no clocks, or for more than ``max_images`` (all held in memory at once)."""
    if num_images_per_prompt < 1:
        raise ValueError(f"num_images_per_prompt must be at least 1, got {num_images_per_prompt}")
    total = prompts * num_images_per_prompt
    if max_images is not None and total > max_images:
        raise ValueError(
            f"asked for {total} clocks ({prompts} prompt(s) x {num_images_per_prompt}), more than the "
            f"limit of {max_images} per call; raise it with max_images={total} (qvae generate: "
            f"--max-images {total}) or ask in several calls"
        )


class ClockPipeline:
    """Draw clocks from prompts: ``ClockPipeline.from_pretrained()("a red clock at quarter past three")``,
    or from conditions: ``pipe.generate({"hour": 3, "minute": 15, "face_color": "red"}, 8)``.

    ``reader``: the pipeline's own reader (or None), its verifier by default (``draw``)."""

    def __init__(
        self,
        tokenizer: VQVAEModel,
        prior,
        image_size: int | None = None,
        sampling: dict | None = None,
        reader: ClockReader | None = None,
        output_size: Sequence[int] | None = None,
    ):
        self.tokenizer = tokenizer.eval()
        self.prior = prior.eval()
        self.reader = reader.eval() if reader is not None else None
        self.image_size = image_size or tokenizer.config.image_size
        # (width, height) of the pictures it hands out: the user's, where training fitted their
        # images to the tokenizer's square (shared.images.pad_to_square); else the drawn square
        self.output_size: tuple[int, int] = tuple(output_size or (self.image_size, self.image_size))
        self.sampling = {**SAMPLING_DEFAULTS, **(sampling or {})}
        vocab = prior_vocab(prior)
        k_tok, k_prior = tokenizer.config.codebook_size, vocab.codebook_size
        grid_tok = tuple(tokenizer.grid_shape(self.image_size, self.image_size))
        grid_prior = tuple(vocab.grid_shape)
        if k_tok != k_prior:
            raise ValueError(f"the stages disagree: tokenizer has {k_tok} codes, prior models {k_prior}")
        if grid_tok != grid_prior:
            raise ValueError(
                f"the stages disagree: tokenizer makes a {grid_tok} grid at {self.image_size}px, "
                f"prior models {grid_prior}"
            )
        self.grid_shape: tuple[int, int] = grid_prior  # read once: the vocabulary lives in the prior's config
        self.vocab = vocab
        self.fields: dict[str, tuple] = {f.name: f.values for f in vocab.fields}

    @property
    def codebook_size(self) -> int:
        return self.tokenizer.config.codebook_size

    @property
    def device(self) -> torch.device:
        return self.prior.device

    def to(self, device) -> ClockPipeline:
        for model in self.components().values():
            model.to(device)
        return self

    def components(self) -> dict:
        """``{folder name: model}``: the tokenizer, the prior and the reader where there is one."""
        parts = {"tokenizer": self.tokenizer, "prior": self.prior}
        return parts | ({"reader": self.reader} if self.reader is not None else {})

    def reader_or_default(self, path: str | Path | None = None) -> ClockReader:
        """The reader at ``path``, else the pipeline's own, else the clock reader shipped with qvae
        (what ``qvae generate``, ``serve`` and ``evaluate`` check and judge with unless told)."""
        if path is None and self.reader is not None:
            return self.reader
        return load_reader(path or DEFAULT_READER, device=self.device)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        dtype: torch.dtype | None = torch.float32,
        device: str | torch.device | None = None,
    ) -> ClockPipeline:
        """Load a pipeline folder; with no argument, the default weights shipped with qvae.

        Every part goes through the one strict loader (``shared.loading``): safetensors only, every
        tensor checked against its config, computing in ``dtype`` (float32 unless asked, whatever
        dtype the files store) on ``device``; ``model_index.json`` must agree with the stages. The
        reader is loaded where the index names one (an older folder without it has none).
        """
        path = Path(path) if path is not None else DEFAULT_PIPELINE
        if not (path / INDEX).is_file():
            raise FileNotFoundError(
                f"no pipeline at {str(path)!r}: expected {INDEX}, tokenizer/ and prior/ "
                f"(write one with `qvae train` or ClockPipeline.save_pretrained)"
            )
        try:
            index = json.loads((path / INDEX).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{str(path / INDEX)!r} is not valid JSON ({e})") from e
        if not isinstance(index, dict):
            raise ValueError(f"{str(path / INDEX)!r} is not a JSON object")
        tokenizer = _load(load_tokenizer, path / "tokenizer", "tokenizer", dtype, device)
        prior = _load(load_prior, path / "prior", "prior", dtype, device)
        _check_index(index, path, cls, tokenizer, prior)
        reader = _load(load_reader, path / "reader", "reader", dtype, device) if "reader" in index else None
        return cls(tokenizer, prior, index.get("image_size"), index.get("sampling"), reader, index.get("output_size"))

    def save_pretrained(self, path: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write the pipeline folder atomically (a crash never leaves half a pipeline).

        ``dtype=torch.float16`` stores the two stages at half the size (the shipped weights do;
        the reader stays as it is); ``from_pretrained`` loads them back into float32.
        """
        with atomic_dir(path) as tmp:
            for name, model in self.components().items():
                (copy.deepcopy(model).to(dtype) if dtype and name != "reader" else model).save_pretrained(tmp / name)
            index = {
                "_class_name": type(self).__name__,
                "tokenizer": [type(self.tokenizer).__module__.split(".")[0], type(self.tokenizer).__name__],
                "prior": ["transformers", type(self.prior).__name__],
                **({"reader": ["pipelines", type(self.reader).__name__]} if self.reader is not None else {}),
                "codebook_size": self.codebook_size,
                "grid_shape": list(self.grid_shape),
                "fields": [{"name": k, "values": list(v)} for k, v in self.fields.items()],
                "image_size": self.image_size,
                "output_size": list(self.output_size),
                "sampling": self.sampling,
                "versions": {name: _version(name) for name in ("qvae", "torch", "transformers")},
            }
            (tmp / INDEX).write_text(json.dumps(index, indent=2) + "\n")
        return Path(path)

    @property
    def refits(self) -> bool:
        """Whether the pictures it hands out are cut back from its drawn square to ``output_size``."""
        return self.output_size != (self.image_size, self.image_size)

    def to_images(self, images: torch.Tensor) -> list[Image.Image]:
        """Drawn images (``draw``) as RGB pictures of ``output_size``."""
        pictures = to_pil(images)
        return [crop_from_square(p, *self.output_size) for p in pictures] if self.refits else pictures

    def handed_out(self, images: torch.Tensor) -> torch.Tensor:
        """Drawn images as the tensors of the pictures it hands out (``to_images``): what a reader judges."""
        return to_tensor(self.to_images(images)).to(images.device) if self.refits else images

    def read_prompt(self, prompt: str) -> Prompt:
        """The conditions a prompt asks for, against this pipeline's fields, and its unused words."""
        return parse_prompt(prompt, self.fields)

    @torch.inference_mode()
    def generate_ids(
        self, conditions: Sequence[Mapping], num_images_per_prompt: int = 1, seed: int | None = None, **sampling
    ) -> torch.Tensor:
        """Code grids ``[len(conditions) * n, h, w]``, condition-major, in batches of at most ``SAMPLE_BATCH``.

        Each condition is ``{field: value}``; a field not given is left open."""
        opts = {**self.sampling, **{k: v for k, v in sampling.items() if v is not None}}
        per_batch = max(1, SAMPLE_BATCH // num_images_per_prompt)
        conditions = list(conditions)
        out = []
        for i in range(0, len(conditions), per_batch):
            out.append(
                sample(
                    self.prior,
                    conditions[i : i + per_batch],
                    num_per_condition=num_images_per_prompt,
                    seed=None if seed is None else seed + i,
                    **opts,
                )
            )
        return torch.cat(out)

    @torch.inference_mode()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.decode(ids.to(self.tokenizer.device))

    @torch.inference_mode()
    def draw(
        self,
        conditions: Sequence[Mapping],
        num_images_per_prompt: int = 1,
        seed: int | None = None,
        verifier: ClockReader | bool | None = True,
        max_redraws: int = MAX_REDRAWS,
        min_confidence: float = MIN_CONFIDENCE,
        max_images: int | None = MAX_IMAGES,
        **sampling,
    ) -> torch.Tensor:
        """Images ``[len(conditions) * n, 3, H, W]`` in ``[-1, 1]``, condition-major.

        With a ``verifier`` (a clock reader; ``True``, the default: the pipeline's own reader, where
        it has one; ``None`` or ``False``: none), every clock that the reader is less than
        ``min_confidence`` sure shows what was asked (the time within ``TOLERANCE`` minutes, and
        each asked style field it reads: ``ClockReader.request_confidence``) is drawn again, at
        most ``max_redraws`` times, keeping the attempt it is surest of (as CLIP reranking did
        for DALL-E). Only those clocks are redrawn, in small batches. Judge such images with a
        different reader (benchmarks/RESULTS.md measures the settings).
        """
        conditions = list(conditions)
        check_request(len(conditions), num_images_per_prompt, max_images)
        images = self.decode(self.generate_ids(conditions, num_images_per_prompt, seed=seed, **sampling))
        if verifier is True:
            verifier = self.reader
        if verifier is None or verifier is False:
            return images
        rows = [c for c in conditions for _ in range(num_images_per_prompt)]
        confidence = verifier.request_confidence(images, rows)
        for attempt in range(1, max_redraws + 1):
            redo = (confidence < min_confidence).nonzero().flatten()
            if len(redo) == 0:
                break
            # a seed per attempt, far from the seed + i that generate_ids gives its batches
            asked = [rows[i] for i in redo.tolist()]
            new = self.decode(
                self.generate_ids(asked, seed=None if seed is None else seed + 100_003 * attempt, **sampling)
            )
            new_confidence = verifier.request_confidence(new, asked)
            better = new_confidence > confidence[redo]  # keep the best attempt, not the last
            images[redo[better].to(images.device)] = new[better.to(new.device)]
            confidence[redo[better]] = new_confidence[better]
        return images

    def generate(self, conditions: Mapping | Sequence[Mapping], num_images: int = 1, **options) -> list[Image.Image]:
        """``num_images`` pictures for each ``{field: value}`` (e.g. ``{"hour": 3, "minute": 15,
        "face_color": "red"}``); fields not given are left open and drawn as the data has them. An
        unknown field or value is a ValueError that lists what is accepted. ``options`` are those of
        ``draw`` (``seed``, ``verifier``, ``max_images``, ...) and the sampling settings."""
        conditions = [conditions] if isinstance(conditions, Mapping) else list(conditions)
        if not conditions:
            raise ValueError("no conditions given")
        return self.to_images(self.draw(conditions, num_images, **options))

    def __call__(
        self,
        prompt: str | Sequence[str],
        num_images_per_prompt: int = 1,
        guidance_scale: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        min_p: float | None = None,
        verifier: ClockReader | bool | None = True,
        max_redraws: int = MAX_REDRAWS,
        max_images: int | None = MAX_IMAGES,
    ) -> list[Image.Image]:
        """Pictures for one prompt or a list, ``num_images_per_prompt`` each, prompt-major.

        A prompt names a time and/or values of the pipeline's fields ("a red square clock at ten
        to six"); words it does not use are reported in a warning (``read_prompt`` returns them).
        ``verifier``: a clock reader (default: the pipeline's own); clocks it doubts are redrawn
        (see ``draw``; ``None``: the prior's draws as they come). A call draws at
        most ``max_images`` clocks (``MAX_IMAGES``, 1024, unless raised; ``None``: no limit).
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ValueError("no prompt given")
        read = [self.read_prompt(p) for p in prompts]
        for r in read:
            if r.unused:
                warnings.warn(f"words not used from {r.text!r}: {', '.join(r.unused)}", stacklevel=2)
        images = self.draw(
            [r.conditions for r in read],
            num_images_per_prompt,
            seed=seed,
            verifier=verifier,
            max_redraws=max_redraws,
            max_images=max_images,
            guidance_scale=guidance_scale,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_p=min_p,
        )
        return self.to_images(images)
