"""Image code grids as text for language models, and a text tokenizer extended to hold them.

An image of ``h x w`` codes becomes one span::

    <boi><grid_8x8><img_00012><img_00345>...<img_00007><eoi>

and with ``row_separators=True`` a ``<row>`` token between consecutive rows. In the
extended tokenizer every one of these is a single token; the ``K`` image tokens get
contiguous ids, so code -> token id is ``code + offset`` (no table, no lookup).

Why this form and not the published ones:

- **Chameleon** wraps a fixed 32x32 grid in begin/end-of-image sentinels with visual tokens
  named by letter-encoded codes (``IMGIMG...``) and no shape information: a model can only
  ever read and write one image size. We keep the sentinels but add a shape marker so other
  tokenizers (f4: 16x16, f8: 8x8, other image sizes) use the same format.
- **Emu3** writes the shape as plain text (``"32*32"``) after the start token and ends every
  row with an end-of-line token. Plain-text digits are split unpredictably by a BPE
  vocabulary and must be parsed back from generated text; our ``<grid_hxw>`` is one token, one
  decision for the model and trivial to parse. Row tokens cost ``h - 1`` extra positions per
  image; they help when shapes vary, so they are optional (off by default: a fixed-shape
  dataset gains nothing from them). When present they are checked to sit at row boundaries.
- **AnyGPT** uses ``<soim>``/``<eoim>`` and emoji-named tokens (``<🖼️123>``) for a 1-D
  SEED sequence with no shape. Emoji names are multi-byte and easy to mangle in byte-level
  tooling; ours are ASCII, zero-padded (``<img_00123>``: sortable, greppable, one fixed width
  up to K = 100000) and read the same in logs.

``text_to_ids`` finds the first ``<boi> ... <eoi>`` span anywhere in a string and ignores all
whitespace inside it, so ``text_to_ids(tok.decode(tok(text).input_ids))`` works whatever
spaces ``decode`` puts between added tokens. Malformed spans raise ``ValueError``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

BOI, EOI, ROW = "<boi>", "<eoi>", "<row>"
MAP_FILE = "image_tokens.json"
DEFAULT_GRID_SHAPES = ((8, 8), (16, 16), (32, 32))
_TOKEN = re.compile(r"<[^<>\s]*>")
_GRID = re.compile(r"<grid_(\d+)x(\d+)>")
_IMG = re.compile(r"<img_(\d+)>")


def image_token(code: int) -> str:
    """The text token of one code: ``<img_00123>``."""
    return f"<img_{int(code):05d}>"


def grid_token(h: int, w: int) -> str:
    """The grid-shape marker: ``<grid_8x8>``."""
    return f"<grid_{int(h)}x{int(w)}>"


def ids_to_text(ids, row_separators: bool = False) -> str:
    """A code grid ``[h, w]`` (tensor, array or nested list) -> ``<boi><grid_hxw>...<eoi>``."""
    grid = torch.as_tensor(ids)
    if grid.ndim != 2 or grid.numel() == 0:
        raise ValueError(f"expected one code grid [h, w], got shape {tuple(grid.shape)}")
    if grid.is_floating_point() or grid.is_complex():
        raise ValueError(f"code ids must be integers, got {grid.dtype}")
    if int(grid.min()) < 0:
        raise ValueError(f"code ids must be non-negative, got {int(grid.min())}")
    h, w = grid.shape
    rows = ["".join(image_token(c) for c in row) for row in grid.tolist()]
    return BOI + grid_token(h, w) + (ROW if row_separators else "").join(rows) + EOI


def find_image_span(text: str) -> tuple[int, int]:
    """``(start, end)`` character offsets of the first ``<boi> ... <eoi>`` span in ``text``."""
    start = text.find(BOI)
    if start < 0:
        raise ValueError(f"no image in the text: no {BOI} found")
    end = text.find(EOI, start + len(BOI))
    if end < 0:
        raise ValueError(f"the image span starting at character {start} has no {EOI}")
    return start, end + len(EOI)


def text_to_ids(text: str, codebook_size: int | None = None) -> torch.Tensor:
    """The first image span inside ``text`` -> ``LongTensor [h, w]``.

    Whitespace inside the span is ignored. ``ValueError`` for: no span, a missing grid marker,
    an unknown token, a code count that does not match the grid, misplaced row separators, or a
    code ``>= codebook_size`` (when given).
    """
    start, end = find_image_span(text)
    body = re.sub(r"\s+", "", text[start + len(BOI) : end - len(EOI)])
    tokens = _TOKEN.findall(body)
    if "".join(tokens) != body:
        stray = _TOKEN.sub(" ", body).split()[0]
        raise ValueError(f"unexpected text {stray[:40]!r} inside the image span")
    if not tokens or not _GRID.fullmatch(tokens[0]):
        first = tokens[0] if tokens else "nothing"
        raise ValueError(f"the image span must begin with a grid marker like {grid_token(8, 8)}, found {first}")
    h, w = (int(v) for v in _GRID.fullmatch(tokens[0]).groups())
    if h < 1 or w < 1:
        raise ValueError(f"bad grid marker {tokens[0]}")
    codes, row_at = [], []
    for tok in tokens[1:]:
        m = _IMG.fullmatch(tok)
        if m and tok == image_token(int(m.group(1))):
            codes.append(int(m.group(1)))
        elif tok == ROW:
            row_at.append(len(codes))
        else:
            raise ValueError(f"unknown token {tok} inside the image span")
    if len(codes) != h * w:
        raise ValueError(f"the grid marker {tokens[0]} asks for {h * w} codes, the span holds {len(codes)}")
    if row_at and row_at != [w * r for r in range(1, h)]:
        raise ValueError(
            f"{ROW} separators must sit between the {h} rows of {w} codes (found after codes {row_at[:8]})"
        )
    ids = torch.tensor(codes, dtype=torch.long).view(h, w)
    if codebook_size is not None and codes and max(codes) >= codebook_size:
        raise ValueError(f"code {max(codes)} is outside the codebook (size {codebook_size})")
    return ids


@dataclass
class ImageTokenMap:
    """Where the image tokens sit in an extended text tokenizer.

    Image code ``c`` is token id ``offset + c`` for ``0 <= c < codebook_size``; ``markers``
    maps ``<boi>``, ``<eoi>``, ``<row>`` and the grid markers to their token ids.
    """

    codebook_size: int
    offset: int
    markers: dict[str, int] = field(default_factory=dict)

    @property
    def image_token_ids(self) -> range:
        return range(self.offset, self.offset + self.codebook_size)

    def codes_to_token_ids(self, codes: torch.Tensor) -> torch.Tensor:
        codes = torch.as_tensor(codes)
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")
        return codes.long() + self.offset

    def token_ids_to_codes(self, token_ids: torch.Tensor) -> torch.Tensor:
        token_ids = torch.as_tensor(token_ids).long()
        codes = token_ids - self.offset
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError("some token ids are not image tokens")
        return codes

    def save_pretrained(self, directory: str | Path) -> Path:
        path = Path(directory) / MAP_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**asdict(self), "image_token_format": "<img_{code:05d}>"}, indent=1))
        tmp.rename(path)
        return path

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ImageTokenMap:
        path = Path(directory) / MAP_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {MAP_FILE} in {str(directory)!r}")
        d = json.loads(path.read_text())
        return cls(int(d["codebook_size"]), int(d["offset"]), {k: int(v) for k, v in d["markers"].items()})


def extend_tokenizer(
    tokenizer, codebook_size: int, grid_shapes=DEFAULT_GRID_SHAPES, save_dir: str | Path | None = None
) -> ImageTokenMap:
    """Add the ``K`` image tokens (contiguous ids) and the markers to a fast tokenizer.

    The tokens are added as non-special, non-normalized added tokens, so they match exactly
    in any text and survive ``decode(skip_special_tokens=True)``. Calling it again on an
    extended tokenizer returns the same map. With ``save_dir`` the tokenizer and
    ``image_tokens.json`` are saved there together.
    """
    from tokenizers import AddedToken

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("extend_tokenizer needs a fast tokenizer (PreTrainedTokenizerFast)")
    if codebook_size < 1:
        raise ValueError(f"codebook_size must be at least 1, got {codebook_size}")
    images = [image_token(c) for c in range(codebook_size)]
    markers = [BOI, EOI, ROW] + [grid_token(h, w) for h, w in grid_shapes]
    vocab = tokenizer.get_vocab()
    present = [t for t in images if t in vocab]
    if present and len(present) != len(images):
        raise ValueError(
            f"the tokenizer already holds {len(present)} of the {codebook_size} image tokens; "
            "start from the plain text tokenizer"
        )
    if not present:
        before = len(tokenizer)
        tokenizer.add_tokens([AddedToken(t, single_word=False, normalized=False, special=False) for t in images])
        offset = tokenizer.convert_tokens_to_ids(images[0])
        if offset != before:
            raise RuntimeError(f"image tokens start at id {offset}, expected {before}")
    new_markers = [m for m in markers if m not in tokenizer.get_vocab()]
    if new_markers:
        tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in new_markers])
    ids = tokenizer.convert_tokens_to_ids(images)
    offset = ids[0]
    if ids != list(range(offset, offset + codebook_size)):
        raise ValueError("the image tokens did not get contiguous ids")
    mapping = ImageTokenMap(codebook_size, offset, dict(zip(markers, tokenizer.convert_tokens_to_ids(markers))))
    if save_dir is not None:
        tokenizer.save_pretrained(str(save_dir))
        mapping.save_pretrained(save_dir)
    return mapping


def resize_embeddings(model, tokenizer, pad_to_multiple_of: int | None = 64) -> int:
    """Grow a causal LM's input (and untied output) embeddings to the tokenizer's size.

    New rows are set to the mean of the old rows (so the new tokens start neutral, not at a
    random scale); the size is rounded up to ``pad_to_multiple_of``. Returns the new size.
    """
    old = model.get_input_embeddings().weight.shape[0]
    emb = model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=pad_to_multiple_of, mean_resizing=False)
    new = emb.weight.shape[0]
    with torch.no_grad():
        if new > old:
            emb.weight[old:] = emb.weight[:old].mean(0, keepdim=True)
            out = model.get_output_embeddings()
            if out is not None and out.weight.data_ptr() != emb.weight.data_ptr():
                out.weight[old:] = out.weight[:old].mean(0, keepdim=True)
                if getattr(out, "bias", None) is not None:
                    out.bias[old:] = out.bias[:old].mean()
    return new


def train_text_tokenizer(texts, vocab_size: int = 512):
    """A small byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts`` (any text, no
    download), with ``<|endoftext|>`` as BOS/EOS/PAD: the text side for tiny examples and tests.

    Its tokens may span words within a phrase (as SuperBPE's): the text is split only before
    numbers, colons, commas and full stops, so a caption's recurring phrases ("The clock shows",
    ", arabic numerals") become a token or two each, while every number stays a token of its
    own. Captions are then about 15 tokens where word-level BPE writes 38, and every step of an
    LM trained on them is shorter."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    eos = "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(",", behavior="merged_with_next"),
            pre_tokenizers.Split(Regex(r"\d+|[:.]"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[eos],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=eos, eos_token=eos, pad_token=eos)


# --- a causal LM that reads and writes image spans: sampling, captioning, one saved folder ---


def span_grammar(prompt_len: int, mapping: ImageTokenMap, grid_shape):
    """A ``LogitsProcessor`` for completions of a prompt ending in ``<boi>``: the grid marker,
    then ``h*w`` image tokens, then ``<eoi>`` (so every completion parses to a grid)."""
    from transformers import LogitsProcessor

    marker = mapping.markers[grid_token(*grid_shape)]
    count = grid_shape[0] * grid_shape[1]
    images, eoi = mapping.image_token_ids, mapping.markers[EOI]

    class ImageSpanGrammar(LogitsProcessor):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            step = input_ids.shape[1] - prompt_len
            allowed = torch.full_like(scores, float("-inf"))
            if step == 0:
                allowed[:, marker] = 0
            elif step <= count:
                allowed[:, images.start : images.stop] = 0
            else:
                allowed[:, eoi] = 0
            return scores + allowed

    return ImageSpanGrammar()


@torch.no_grad()
def draw_grids(
    lm,
    tokenizer,
    mapping: ImageTokenMap,
    prompts: list[str],
    grid_shape,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    num_beams: int = 1,
    batch_size: int = 256,
) -> torch.Tensor:
    """One image per prompt (each ending in ``<boi>``): ``LongTensor [N, h, w]`` of codes, sampled
    at ``temperature`` (and ``top_k``), or with ``num_beams > 1`` the most likely grid a beam search
    of that width finds (deterministic: seed, temperature and top-k do not apply).

    Prompts are batched by their token length (no padding), in a fixed order, after
    ``torch.manual_seed(seed)``: the same weights and seed give the same grids.
    """
    if num_beams < 1:
        raise ValueError(f"num_beams must be at least 1, got {num_beams}")
    decoding = (
        {"do_sample": False, "num_beams": num_beams}
        if num_beams > 1
        else {"do_sample": True, "temperature": temperature, "top_k": top_k or 0, "top_p": 1.0}
    )
    batch_size = max(1, batch_size // num_beams)  # a beam search runs num_beams rows per prompt
    h, w = grid_shape
    encoded = [tokenizer(p).input_ids for p in prompts]
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    out = torch.empty(len(prompts), h, w, dtype=torch.long)
    device = next(lm.parameters()).device
    torch.manual_seed(seed)
    for n, rows in sorted(by_length.items()):
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            input_ids = torch.tensor([encoded[i] for i in chunk], device=device)
            seqs = lm.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=h * w + 2,
                **decoding,
                logits_processor=[span_grammar(n, mapping, grid_shape)],
                pad_token_id=tokenizer.pad_token_id,
            )
            out[chunk] = mapping.token_ids_to_codes(seqs[:, n + 1 : n + 1 + h * w].cpu()).view(-1, h, w)
    return out


@torch.no_grad()
def caption_grids(lm, tokenizer, ids: torch.Tensor, max_new_tokens: int = 16, batch_size: int = 256) -> list[str]:
    """The LM's greedy text after each image span ``<boi>...<eoi>`` of ``ids [N, h, w]``, up to its end of text."""
    device = next(lm.parameters()).device
    texts = []
    for chunk in torch.as_tensor(ids).split(batch_size):
        input_ids = torch.tensor(tokenizer([ids_to_text(g) for g in chunk]).input_ids, device=device)
        seqs = lm.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts += tokenizer.batch_decode(seqs[:, input_ids.shape[1] :], skip_special_tokens=True)
    return texts


def save_lm_folder(lm, tokenizer, mapping: ImageTokenMap, out: str | Path) -> Path:
    """The LM, its extended text tokenizer and ``image_tokens.json`` as one ``from_pretrained``
    folder, written atomically: ``AutoModelForCausalLM`` and ``AutoTokenizer`` both open it."""
    from shared.files import atomic_dir

    with atomic_dir(out) as tmp:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
        lm.generation_config.eos_token_id = tokenizer.eos_token_id
        lm.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        mapping.save_pretrained(tmp)
    return Path(out)


def load_lm_folder(path: str | Path, dtype: torch.dtype | None = torch.float32, device=None):
    """``(lm, tokenizer, mapping)`` from a folder of ``save_lm_folder``; the LM through the one strict
    loader (``shared.loading``: safetensors only, float32 unless asked), in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from shared.loading import load_pretrained

    lm = load_pretrained(AutoModelForCausalLM, path, dtype=dtype, device=device, what="language model")
    return lm, AutoTokenizer.from_pretrained(str(path)), ImageTokenMap.from_pretrained(path)
