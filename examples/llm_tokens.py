"""A tiny language model that both draws and reads clocks, on the image tokens of a qvae tokenizer.

1. Render labelled clocks (train, and a test split held out of the LM's training) and turn
   them into stage-1 code grids with ``export_tokens`` (the tokenizer computes in float32,
   whatever dtype its files store).
2. Write every training clock as text in one of two directions, mixed at random per sample,
   its caption naming the time and (``--style-words``, where the data has the renderer's style
   columns) every style field, in words that ``shared.prompts.parse_prompt`` reads back::

       draw:  The clock shows 3:15, a red square clock, roman numerals, ... <boi><grid_8x8><img_00123>...<eoi><|endoftext|>
       read:  <boi><grid_8x8><img_00123>...<eoi> The clock shows 3:15, a red square clock, ...<|endoftext|>

3. Train a byte-level BPE text tokenizer on the captions, extend it with the image tokens
   (``extend_tokenizer``), and a tiny Llama from scratch at the extended vocabulary's size, for
   a budget of **steps** through the project's one training loop (``shared.training.fit``; the
   minutes it took are printed), the loss on each text's answer (the image of a draw text, the
   caption of a read text), every text weighing the same, the learning rate held at its peak
   and decayed over the last 30%.
4. Measure on clocks held out of the LM's training:
   - ``draw_accuracy``: prompts ``"The clock shows H:MM, <style>. <boi>"`` for times spread
     across the dial (styles of held-out clocks), each grid the most likely one a beam search
     of ``--beams`` finds (or sampled at ``--temperature``) under the image-span grammar,
     decoded by the tokenizer, read by the clock reader (``pipelines.reader.load_reader()``);
   - ``read_accuracy``: the LM's greedy caption of each held-out clock's tokens against its label;
   correct = circular error of at most 3 minutes on the 12-hour dial. With style words, each
   field too: ``draw_fields`` (the reader's reading of the drawings) and ``read_fields`` (the
   caption's words, read by ``parse_prompt``), per field. Beside them the clock
   reader's own accuracy on the same held-out clocks, as rendered and as reconstructed by the
   tokenizer (what a perfect drawer could score), and the two-stage pipeline's drawings of
   the same requests, as drawn (``pipeline_draw_accuracy``).
5. Save the LM with its extended text tokenizer as one folder (``OUT/model``): both
   ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` open it.

    python examples/llm_tokens.py --out runs/llm_tokens

Every setting is a field of ``LMTrainingArguments`` (``--help`` lists them).
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
import torch.nn.functional as F
from transformers import HfArgumentParser, LlamaConfig, LlamaForCausalLM

from pipelines.evaluate import ALL_TIMES
from pipelines.llm_tokens import (
    BOI,
    EOI,
    caption_grids,
    draw_grids,
    extend_tokenizer,
    ids_to_text,
    save_lm_folder,
    train_text_tokenizer,
)
from pipelines.pipeline import DEFAULT_PIPELINE, ClockPipeline
from pipelines.reader import circular_error, field_accuracy, load_reader
from pipelines.token_export import export_tokens
from shared.clocks import CLOCK_FIELDS, STYLE_FIELDS, style_phrase
from shared.data import build_clock_dataset, load_images
from shared.images import make_grid, to_pil, to_tensor
from shared.prompts import parse_prompt
from shared.tokens import read_tokens
from shared.training import COMPILE_HELP, OPTIMIZER_HELP, Compile, OptimizerName, TrainingArguments, arg, fit
from stage1_vqvae import load_tokenizer

EOS = "<|endoftext|>"
TOLERANCE = 3  # minutes on the 12-hour dial
SHIPPED_TOKENIZER = DEFAULT_PIPELINE / "tokenizer"
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(kw_only=True)
class LMTrainingArguments(TrainingArguments):
    out: str = arg(
        "runs/llm_tokens",
        "output folder: tokens/, model/ (LM + text tokenizer), results.json, completions.png, metrics.json, logs/",
    )
    tokenizer: str = arg(str(SHIPPED_TOKENIZER), "stage-1 tokenizer folder (default: the shipped one)")
    data: str = arg(
        "",
        "a saved clock DatasetDict with train and test splits (hour, minute columns); "
        "default: render --train-size clocks",
    )
    train_size: int = arg(20000, "clocks rendered for the LM's training (at least 720)")
    num_styles: int = arg(
        16, "styles of the rendered clocks (0: a style per clock, as the shipped tokenizer learned them)"
    )

    # the LM and its training
    steps: int = arg(3800, "optimizer steps of the LM")
    batch_size: int = arg(32, "sequences per step")
    lr: float = arg(2e-3, "peak learning rate")
    decay_fraction: float = arg(
        0.3, "share of the steps after warmup over which the learning rate decays; the peak is held before it"
    )
    weight_decay: float = arg(0.01, "AdamW weight decay, on matrices only")
    optimizer: OptimizerName = arg("muon", OPTIMIZER_HELP)
    compile: Compile = arg("auto", COMPILE_HELP)

    # measuring and saving on the way
    eval_every: int = arg(0, "steps between measurements of draw and read accuracy (0: at the end only)")
    save_every: int = arg(1000, "steps between checkpoints")

    # the LM
    width: int = arg(256, "LM width")
    layers: int = arg(4, "LM layers")
    heads: int = arg(8, "attention heads")
    style_words: bool = arg(
        True, "name every style field in the captions, where the data has the renderer's style columns"
    )

    # reading and drawing
    read_fraction: float = arg(0.45, "share of training sequences written image-first (read); the rest draw")
    answer_loss: bool = arg(
        True, "loss on the answer only (a read text's caption, a draw text's image); false: on every token"
    )
    loss_per_text: bool = arg(
        True,
        "every text weighs the same (the mean over its scored tokens, then over the batch), so a read "
        "text's short caption counts as much as a draw text's image; false: every scored token weighs the same",
    )
    draw_times: int = arg(120, "times spread evenly across the dial prompted for the draw accuracy")
    samples: int = arg(2, "drawings per prompted time, each asked in the style of another held-out clock")
    read_images: int = arg(720, "held-out test clocks captioned for the read accuracy (at most the test split)")

    # how the drawings are decoded and judged
    beams: int = arg(
        8,
        "beam search width of the drawings: each is the most likely grid found (a request names the "
        "time and every style: one image fits it); 1: sample at --temperature",
    )
    temperature: float = arg(0.2, "sampling temperature of the drawings with --beams 1")
    top_k: int | None = arg(None, "top-k of the drawings with --beams 1 (default: off)")
    reader: str = arg("", "clock reader folder (default: the shipped pipelines/weights/clock_pipeline/reader)")
    pipeline: str = arg(
        str(DEFAULT_PIPELINE), "two-stage pipeline drawn on the same requests, as drawn, for comparison ('': none)"
    )

    def __post_init__(self):
        if self.eval_every == 0:
            self.eval_every = self.steps
        super().__post_init__()
        if self.train_size < 720 or not 0.0 <= self.read_fraction <= 1.0:
            raise ValueError("--train-size must be at least 720 and --read-fraction in [0, 1]")
        if min(self.draw_times, self.samples, self.read_images, self.beams) < 1:
            raise ValueError("--draw-times, --samples, --read-images and --beams must be at least 1")


def caption(hour: int, minute: int, labels: dict | None = None) -> str:
    """``The clock shows 3:15.`` (hour 0 is written 12), or with ``labels`` (every style field)
    ``The clock shows 3:15, a red square clock, roman numerals, ... no seconds hand.``"""
    time = f"The clock shows {hour % 12 or 12}:{minute:02d}"
    return f"{time}, {style_phrase(labels)}." if labels else f"{time}."


def draw_text(caption: str, span: str) -> str:
    return f"{caption} {span}{EOS}"


def read_text(caption: str, span: str) -> str:
    return f"{span} {caption}{EOS}"


def style_labels(split: datasets.Dataset, styled: bool) -> list[dict | None]:
    """Each row's style labels (``{field: word}``), or Nones where captions name the time only."""
    if not styled:
        return [None] * len(split)
    return split.select_columns(list(STYLE_FIELDS)).to_list()  # whole columns: a Column indexed per row is slow


def fields_read(texts: list[str], labels: list[dict]) -> dict[str, float]:
    """Per style field, the share of captions whose words (``parse_prompt``) name the label's value;
    a caption that does not parse counts wrong for every field."""
    read = []
    for text in texts:
        try:
            read.append(parse_prompt(text, CLOCK_FIELDS).conditions)
        except ValueError:
            read.append({})
    return {k: sum(r.get(k) == lab[k] for r, lab in zip(read, labels)) / len(labels) for k in STYLE_FIELDS}


def parse_caption(text: str) -> tuple[int, int] | None:
    """The first ``H:MM`` in a generated caption as ``(hour 0..11, minute)``, or None."""
    m = _TIME.search(text)
    if not m or not (1 <= int(m.group(1)) <= 12 and int(m.group(2)) < 60):
        return None
    return int(m.group(1)) % 12, int(m.group(2))


def spread_times(n: int) -> list[tuple[int, int]]:
    """``n`` times evenly spread around the 12-hour dial, from 12:00."""
    return [divmod(round(i * 720 / n) % 720, 60) for i in range(n)]


def draw_requests(draw_times: int, samples: int, labels: list[dict | None]):
    """``(wanted, asked, prompts)`` of the draw accuracy: ``draw_times`` times spread across the
    dial, ``samples`` requests each, every request in the style of the next held-out clock
    (``labels``; Nones: captions name the time only), as prompts ending in ``<boi>``."""
    wanted = [t for t in spread_times(draw_times) for _ in range(samples)]
    asked = [labels[i % len(labels)] for i in range(len(wanted))]
    return wanted, asked, [f"{caption(h, m, lab)} <boi>" for (h, m), lab in zip(wanted, asked)]


def within(read: list[tuple[int, int] | None], wanted: list[tuple[int, int]]) -> list[bool]:
    return [r is not None and int(circular_error(r[0], r[1], w[0], w[1])) <= TOLERANCE for r, w in zip(read, wanted)]


@torch.no_grad()
def decode(vq, grids: torch.Tensor) -> torch.Tensor:
    """The images of code grids ``[N, h, w]``, decoded 256 at a time."""
    return torch.cat([vq.decode(c) for c in grids.split(256)])


def reader_accuracy(reader, images: torch.Tensor, wanted: list[tuple[int, int]]) -> float:
    """The share of ``images`` the clock reader reads within the tolerance of the ``wanted`` times."""
    hours, minutes = reader.read(images)
    return sum(within(list(zip(hours.tolist(), minutes.tolist())), wanted)) / len(wanted)


class TwoWayTexts(torch.utils.data.Dataset):
    """Every training clock tokenized both ways (draw and read), padded to one length."""

    def __init__(self, tokens: datasets.Dataset, captions: list[str], grid_shape, tokenizer):
        h, w = grid_shape
        spans = [ids_to_text(torch.tensor(ids).view(h, w)) for ids in tokens["ids"]]
        enc = {
            name: tokenizer([f(c, s) for c, s in zip(captions, spans)]).input_ids
            for name, f in (("draw", draw_text), ("read", read_text))
        }
        self.length = max(len(ids) for rows in enc.values() for ids in rows)
        pad = tokenizer.pad_token_id
        # where each answer begins: a draw text's image at <boi>, a read text's caption after <eoi>
        first = {"draw": (tokenizer.convert_tokens_to_ids(BOI), 0), "read": (tokenizer.convert_tokens_to_ids(EOI), 1)}
        self.ids, self.mask, self.answer = {}, {}, {}
        for name, rows in enc.items():
            self.ids[name] = torch.tensor([ids + [pad] * (self.length - len(ids)) for ids in rows])
            self.mask[name] = torch.tensor([[1] * len(ids) + [0] * (self.length - len(ids)) for ids in rows])
            marker, after = first[name]
            start = (self.ids[name] == marker).int().argmax(1, keepdim=True) + after
            self.answer[name] = (torch.arange(self.length) >= start).int() * self.mask[name]
        # the answers' first token, as early as any text has it, is the first the loss needs a logit for
        earliest = min(int(answer.argmax(1).min()) for answer in self.answer.values())
        self.logits_needed = self.length - earliest + 1

    def __len__(self):
        return len(self.ids["draw"])

    def __getitem__(self, i):
        parts = (("ids", self.ids), ("mask", self.mask), ("answer", self.answer))
        return {f"{k}_{name}": v[name][i] for k, v in parts for name in v}


def mix_texts(batch: dict, u: torch.Tensor, args: LMTrainingArguments):
    """``(ids, mask, scored)`` of one batch of texts, each row read where its uniform ``u [B, 1]`` is
    below ``--read-fraction``, else drawn; scored on its answer (or, without ``--answer-loss``, all)."""
    read = u < args.read_fraction
    ids = torch.where(read, batch["ids_read"], batch["ids_draw"])
    mask = torch.where(read, batch["mask_read"], batch["mask_draw"])
    return ids, mask, torch.where(read, batch["answer_read"], batch["answer_draw"]) if args.answer_loss else mask


def answer_loss(logits: torch.Tensor, labels: torch.Tensor, per_text: bool = True, **kwargs) -> torch.Tensor:
    """The LM's ``loss_function``: next-token cross-entropy on the tokens whose label is not -100, with
    ``per_text`` the mean over each text's scored tokens, then over the texts (a read text's 15-token
    caption weighs as much as a draw text's 66-token image); else the mean over every scored token.
    ``logits`` may cover only the last positions (``logits_to_keep``): the labels are cut to match."""
    labels = labels[:, -logits.shape[1] :][:, 1:]
    nll = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
    scored = (labels != -100).float()
    if per_text:
        return ((nll * scored).sum(1) / scored.sum(1).clamp(min=1)).mean()
    return (nll * scored).sum() / scored.sum()


def text_loss(model, ids: torch.Tensor, mask: torch.Tensor, scored: torch.Tensor, keep: int = 0) -> torch.Tensor:
    """The model's ``loss_function`` (``answer_loss``) on the tokens where ``scored [B, T]`` is 1, computed
    inside the model's forward, so that a compiled model fuses it (measured faster than a loss on the
    returned logits); ``keep``: logits of the last positions only, enough for every scored token."""
    labels = ids.masked_fill(scored == 0, -100)
    return model(input_ids=ids, attention_mask=mask, labels=labels, logits_to_keep=keep).loss


def build_lm(vocab_size: int, n_positions: int, args: LMTrainingArguments, eos_token_id: int) -> LlamaForCausalLM:
    """A Llama from scratch (random init, no dropout, tied embeddings). Rotary positions, not GPT-2's
    learned absolute ones: a draw text's image starts wherever its caption ends, and only relative
    positions make cell (r, c) of that grid look the same to the model at every offset."""
    config = LlamaConfig(
        vocab_size=vocab_size,
        max_position_embeddings=n_positions,
        hidden_size=args.width,
        intermediate_size=args.width * 8 // 3 // 64 * 64 + 64,  # SwiGLU's 8/3, rounded up to 64
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        tie_word_embeddings=True,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    return LlamaForCausalLM(config)


def clock_data(args: LMTrainingArguments, image_size: int) -> datasets.DatasetDict:
    if args.data:
        data = load_images(args.data)
        missing = {"train", "test"} - set(data)
        if missing:
            raise ValueError(f"{args.data!r} lacks the split(s) {', '.join(sorted(missing))}")
        return datasets.DatasetDict({"train": data["train"], "test": data["test"]})
    data = build_clock_dataset(
        train=args.train_size,
        val=720,
        test=720,
        size=image_size,
        seed=args.seed,
        num_styles=args.num_styles,
        progress=args.progress,
    )
    return datasets.DatasetDict({"train": data["train"], "test": data["test"]})


def run(args: LMTrainingArguments) -> tuple[dict, LlamaForCausalLM]:
    """Tokenize, train, measure, save; return the results (also in ``OUT/results.json``) and the LM."""
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    vq = load_tokenizer(args.tokenizer)  # float32 whatever the files store
    reader = load_reader(args.reader or None)
    size = vq.config.image_size
    data = clock_data(args, size)
    export_tokens(vq, data, out / "tokens", progress=args.progress)
    tokens, meta = read_tokens(out / "tokens")
    grid, k = tuple(meta["grid_shape"]), int(meta["codebook_size"])

    # the clock reader on the held-out clocks: as rendered, and through the tokenizer
    test = tokens["test"].select(range(min(args.read_images, len(tokens["test"]))))
    test_ids = torch.tensor(test["ids"], dtype=torch.long).view(-1, *grid)
    test_times = list(zip(test["hour"], test["minute"]))
    # a renderer of few styles draws the same clock twice: held-out clocks whose grid a training
    # clock has exactly are read apart from the new ones (reading those may be remembering)
    seen = set(map(tuple, tokens["train"]["ids"]))
    new_grid = [tuple(ids) not in seen for ids in test["ids"]]
    images = to_tensor(data["test"].select(range(len(test)))["image"], size=size)
    recon = decode(vq, test_ids)
    reference = {
        "reader_accuracy": reader_accuracy(reader, images, test_times),
        "reader_accuracy_reconstructed": reader_accuracy(reader, recon, test_times),
        "tokenizer_psnr": float((10 * torch.log10(4 / ((images - recon) ** 2).mean((1, 2, 3)))).mean()),
    }
    print(
        "held-out clocks: the reader reads {:.1%} as rendered, {:.1%} through the tokenizer ({:.1f} dB)".format(
            *reference.values()
        )
    )

    # style words where asked for and the data has every style column (rendered clocks do)
    styled = args.style_words and all(set(STYLE_FIELDS) <= set(tokens[s].column_names) for s in ("train", "test"))
    train_labels, test_labels = style_labels(tokens["train"], styled), style_labels(test, styled)
    captions = [
        caption(h, m, lab) for h, m, lab in zip(tokens["train"]["hour"], tokens["train"]["minute"], train_labels)
    ]
    times = [caption(h, m) for h, m in ALL_TIMES]
    texts = times + captions[:5000]
    tok = train_text_tokenizer(texts + [" " + c for c in texts] + [" <boi>"], vocab_size=640 if styled else 320)
    text_vocab = len(tok)
    mapping = extend_tokenizer(tok, k, grid_shapes=[grid])
    train = TwoWayTexts(tokens["train"], captions, grid, tok)
    longest_caption = int(train.answer["read"].sum(1).max()) - 1  # a read text's answer: caption, end of text
    print(f"captions {'name the time and every style field' if styled else 'name the time'}: {captions[0]!r}")
    print(
        f"{len(train)} training clocks, each as draw and as read text of <= {train.length} tokens, e.g.\n"
        f"  {tok.decode(train.ids['draw'][0][:12])}...\n  ...{tok.decode(train.ids['read'][0][-12:])}"
    )

    def make_model():
        # every token's embedding random from the start: the image tokens too (resize_embeddings'
        # mean rows suit a trained LM, but start 1024 codes of an untrained one identical)
        vocab = 64 * math.ceil(len(tok) / 64)
        lm = build_lm(vocab, 64 * math.ceil((train.length + 16) / 64), args, tok.eos_token_id)
        lm.loss_function = functools.partial(answer_loss, per_text=args.loss_per_text)
        return lm

    def compute_loss(model, batch, generator):
        u = torch.rand(len(batch["ids_draw"]), 1, generator=generator).to(batch["ids_draw"].device)
        ids, mask, scored = mix_texts(batch, u, args)
        return text_loss(model, ids, mask, scored, keep=train.logits_needed if args.answer_loss else 0)

    wanted, asked, prompts = draw_requests(args.draw_times, args.samples, test_labels)
    last: dict = {}

    def evaluate(model, step):
        grids = draw_grids(
            model,
            tok,
            mapping,
            prompts,
            grid,
            seed=args.seed,
            temperature=args.temperature,
            top_k=args.top_k,
            num_beams=args.beams,
        )
        drawn = decode(vq, grids)
        hours, minutes = reader.read(drawn)
        drawn_read = list(zip(hours.tolist(), minutes.tolist()))
        texts = caption_grids(model, tok, test_ids, max_new_tokens=longest_caption + 2)
        read = [parse_caption(t) for t in texts]
        last.update(drawn=drawn, drawn_read=drawn_read, texts=texts)
        right = within(read, test_times)
        scores = {
            "draw_accuracy": sum(within(drawn_read, wanted)) / len(wanted),
            "read_accuracy": sum(right) / len(right),
        }
        if any(new_grid):
            scores["read_accuracy_new_grids"] = sum(r for r, new in zip(right, new_grid) if new) / sum(new_grid)
        if styled:  # flat, so that fit logs them: draw_field/face_color, ...
            for kind, shares in (
                ("draw", field_accuracy(reader, drawn, asked)),
                ("read", fields_read(texts, test_labels)),
            ):
                scores.update({f"{kind}_field/{k}": v for k, v in shares.items()})
        return scores

    lm, metrics = fit(
        args,
        make_model,
        train,
        compute_loss,
        evaluate,
        name=f"clock LM (draws and reads, K={k}, grid {grid[0]}x{grid[1]})",
    )
    save_lm_folder(lm, tok, mapping, out / "model")  # fit's model/ again, with the text tokenizer beside it

    if args.pipeline:  # the two-stage pipeline on the same requests, as drawn (no redraws), same reader
        pipe = ClockPipeline.from_pretrained(args.pipeline)
        requests = [
            {"hour": h, "minute": m, **{k: v for k, v in (lab or {}).items() if v in pipe.fields.get(k, ())}}
            for (h, m), lab in zip(wanted, asked)
        ]
        drawn = pipe.draw(requests, seed=args.seed, verifier=None, max_images=None)
        reference["pipeline_draw_accuracy"] = reader_accuracy(reader, drawn, wanted)
        print(f"the two-stage pipeline, as drawn, shows the asked time on {reference['pipeline_draw_accuracy']:.1%}")

    minutes = (time.perf_counter() - t0) / 60
    result = {
        "draw_accuracy": metrics["draw_accuracy"],
        "read_accuracy": metrics["read_accuracy"],
        "read_accuracy_new_grids": metrics.get("read_accuracy_new_grids"),
        "read_images_new_grids": sum(new_grid),
        **{
            f"{kind}_fields": {k.split("/")[1]: v for k, v in metrics.items() if k.startswith(f"{kind}_field/")}
            for kind in ("draw", "read")
            if styled
        },
        **reference,
        "style_words": styled,
        "drawn": len(wanted),
        "draw_times": args.draw_times,
        "samples_per_time": args.samples,
        "beams": args.beams,
        "read_images": len(test_times),
        "steps": args.steps,
        "train_seconds": metrics["seconds"],
        "total_minutes": round(minutes, 2),
        "precision": metrics["precision"],
        "parameters": sum(p.numel() for p in lm.parameters()),
        "train_clocks": len(train),
        "text_vocab": text_vocab,
        "codebook_size": k,
        "grid_shape": list(grid),
        "tokenizer": args.tokenizer,
        "num_styles": None if args.data else args.num_styles,
        "data": args.data or "rendered",
        "model": str(out / "model"),
        "example_read": last["texts"][0].strip(),
        "example_read_label": caption(*test_times[0], test_labels[0]),
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    show = min(len(wanted), 48)
    labels = [
        f"{h % 12 or 12}:{m:02d} read {rh % 12 or 12}:{rm:02d}"
        for (h, m), (rh, rm) in zip(wanted[:show], last["drawn_read"][:show])
    ]
    make_grid(
        to_pil(last["drawn"][:show]), labels, ncols=2 * args.samples, title="The clock shows H:MM. <boi> ..."
    ).save(out / "completions.png")
    print(
        f"draw accuracy {result['draw_accuracy']:.1%} ({len(wanted)} drawings of {args.draw_times} times), "
        f"read accuracy {result['read_accuracy']:.1%} ({len(test_times)} held-out clocks"
        + (
            f"; {result['read_accuracy_new_grids']:.1%} of the {result['read_images_new_grids']} whose grid no "
            "training clock has"
            if result["read_images_new_grids"]
            else ""
        )
        + "); the reader's own: "
        f"{reference['reader_accuracy']:.1%} as rendered, {reference['reader_accuracy_reconstructed']:.1%} "
        f"through the tokenizer"
    )
    print(
        f"{args.steps} steps in {metrics['seconds'] / 60:.1f} min; everything in {minutes:.1f} min; "
        f"wrote {out / 'results.json'}, {out / 'completions.png'} and {out / 'model'}"
    )
    return result, lm


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser(LMTrainingArguments, description=__doc__.splitlines()[0])
    (args,) = parser.parse_args_into_dataclasses(sys.argv[1:] if argv is None else argv, look_for_args_file=False)
    return run(args)[0]


if __name__ == "__main__":
    main()
