"""End to end: clocks -> stage-1 tokens -> captioned text -> a tiny LM from scratch -> a picture.

1. tokenize the clock dataset with a trained stage-1 tokenizer (``export_tokens``, resumable);
2. build mixed sequences ``"The clock shows 3:15. <boi><grid_8x8><img_00123>...<eoi>"``;
3. train a small byte-level BPE text tokenizer on the captions, extend it with the image
   tokens (``extend_tokenizer``), and a tiny GPT-2 from scratch (``resize_embeddings``) for
   ``--minutes`` on CPU;
4. prompt ``"The clock shows 7:40. <boi>"`` (and other times), sample the completion with the
   grammar of an image span enforced (grid marker, ``h*w`` image tokens, ``<eoi>``), turn the
   decoded text back into ids (``text_to_ids``) and pictures, save a captioned grid;
5. with a clock reader (``--reader-model DIR`` for a saved ``ClockReader``, ``--reader
   module:function`` or ``main(reader=...)``, a callable
   ``list[PIL.Image] -> list[(hour, minute)]``), report how often the time is read right
   (circular error of at most 3 minutes on the 12-hour dial).

    python examples/llm_tokens.py --tokenizer TOKENIZER_DIR --out out/llm_tokens --minutes 5
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import time
from pathlib import Path

import datasets
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList

from pipelines.llm_tokens import (EOI, ImageTokenMap, extend_tokenizer, grid_token, ids_to_text,
                                  resize_embeddings, text_to_ids, train_text_tokenizer)
from pipelines.token_export import export_tokens
from shared.tokens import read_tokens as load_tokens
from shared.data import build_clock_dataset, load_images
from shared.images import make_grid, to_pil
from shared.time_prompts import parse_time
from stage1_vqvae import load_tokenizer  # float32 whatever the stored dtype (strict: shared.loading)

EOS = "<|endoftext|>"
DEFAULT_TIMES = ["7:40", "3:15", "12:00", "9:30", "1:05", "10:50", "6:20", "4:45"]


def caption(hour: int, minute: int) -> str:
    """``The clock shows 3:15.`` (hour 0 is written 12)."""
    return f"The clock shows {hour % 12 or 12}:{minute:02d}."


def build_texts(tokens: datasets.Dataset, grid_shape, row_separators: bool = False) -> list[str]:
    """One training text per row: caption, a space, the image span, end of text."""
    h, w = grid_shape
    return [f"{caption(hour, minute)} {ids_to_text(torch.tensor(ids).view(h, w), row_separators)}{EOS}"
            for ids, hour, minute in zip(tokens["ids"], tokens["hour"], tokens["minute"])]


def build_lm(vocab_size: int, n_positions: int, width: int = 192, layers: int = 4, heads: int | None = None,
             eos_token_id: int | None = None) -> GPT2LMHeadModel:
    """A GPT-2 from scratch (random init); ``heads`` defaults to ``width // 32``."""
    config = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=width, n_layer=layers,
                        n_head=heads or max(1, width // 32), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=eos_token_id, eos_token_id=eos_token_id, pad_token_id=eos_token_id)
    return GPT2LMHeadModel(config)


def train_lm(lm, tok, texts: list[str], minutes: float, batch_size: int = 32, lr: float = 1e-3,
             max_steps: int | None = None, seed: int = 0) -> dict:
    """Plain next-token training on ``texts`` until the time (or step) budget runs out."""
    enc = tok(texts, padding=True, return_tensors="pt")
    input_ids, mask = enc.input_ids, enc.attention_mask
    labels = input_ids.masked_fill(mask == 0, -100)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(lm.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    lm.train()
    start, step, seen, loss_avg = time.perf_counter(), 0, 0, None
    deadline = start + minutes * 60
    while time.perf_counter() < deadline and (max_steps is None or step < max_steps):
        for idx in torch.randperm(len(texts), generator=gen).split(batch_size):
            if time.perf_counter() >= deadline or (max_steps is not None and step >= max_steps):
                break
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / 100)
            loss = lm(input_ids=input_ids[idx], attention_mask=mask[idx], labels=labels[idx]).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
            opt.step()
            step += 1
            seen += len(idx)
            loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
            if step % 50 == 0:
                print(f"step {step}  loss {loss_avg:.3f}  {seen / (time.perf_counter() - start):.0f} seq/s", flush=True)
    lm.eval()
    return {"steps": step, "sequences": seen, "epochs": seen / len(texts), "loss": loss_avg,
            "seconds": time.perf_counter() - start}


class ImageSpanGrammar(LogitsProcessor):
    """After the prompt's ``<boi>``: the grid marker, then ``h*w`` image tokens, then ``<eoi>``."""

    def __init__(self, prompt_len: int, mapping: ImageTokenMap, grid_shape):
        self.prompt_len = prompt_len
        self.mapping = mapping
        self.marker = mapping.markers[grid_token(*grid_shape)]
        self.count = grid_shape[0] * grid_shape[1]
        self.eoi = mapping.markers[EOI]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_len
        allowed = torch.full_like(scores, float("-inf"))
        if step == 0:
            allowed[:, self.marker] = 0
        elif step <= self.count:
            ids = self.mapping.image_token_ids
            allowed[:, ids.start:ids.stop] = 0
        else:
            allowed[:, self.eoi] = 0
        return scores + allowed


@torch.no_grad()
def completion_images(lm, tok, mapping: ImageTokenMap, vq, times, samples_per_time: int = 4,
                      temperature: float = 1.0, top_k: int | None = None, seed: int = 0):
    """Prompt ``"The clock shows H:MM. <boi>"`` for each ``(hour, minute)``; return
    ``(images, texts)``: PIL images (``samples_per_time`` per time, in order) and the decoded
    completions they were parsed from with ``text_to_ids``."""
    size = vq.config.image_size
    grid = tuple(vq.grid_shape(size, size))
    images, texts = [], []
    torch.manual_seed(seed)
    for hour, minute in times:
        prompt = tok(f"{caption(hour, minute)} <boi>", return_tensors="pt")
        n = prompt.input_ids.shape[1]
        out = lm.generate(input_ids=prompt.input_ids.repeat(samples_per_time, 1),
                          attention_mask=prompt.attention_mask.repeat(samples_per_time, 1),
                          max_new_tokens=grid[0] * grid[1] + 2, do_sample=True, temperature=temperature,
                          top_k=top_k or 0, logits_processor=LogitsProcessorList([ImageSpanGrammar(n, mapping, grid)]),
                          pad_token_id=tok.pad_token_id)
        for row in out:
            text = tok.decode(row)
            ids = text_to_ids(text, codebook_size=vq.config.codebook_size)
            images += to_pil(vq.decode(ids[None].to(vq.device)))
            texts.append(text)
    return images, texts


def circular_error(a: tuple[int, int], b: tuple[int, int]) -> int:
    d = abs((a[0] % 12 * 60 + a[1]) - (b[0] % 12 * 60 + b[1])) % 720
    return min(d, 720 - d)


def load_reader(spec: str):
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"--reader must be module:function, got {spec!r}")
    return getattr(importlib.import_module(module), name)


def reader_from_folder(path: str):
    """A callback around a saved ``pipelines.reader.ClockReader`` folder."""
    from pipelines.reader import load_reader as load_reader_folder
    from shared.images import to_tensor

    model = load_reader_folder(path)

    def read(images):
        x = to_tensor(images, size=model.config.image_size)
        hours, minutes = model.read(x)
        return list(zip(hours.tolist(), minutes.tolist()))

    return read


def main(argv: list[str] | None = None, reader=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", required=True, help="trained stage-1 tokenizer folder")
    p.add_argument("--data", default=None, help="clock dataset folder (default: render --train-size clocks)")
    p.add_argument("--train-size", type=int, default=7200)
    p.add_argument("--out", default="out/llm_tokens")
    p.add_argument("--minutes", type=float, default=5.0, help="LM training time budget")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--row-separators", action="store_true")
    p.add_argument("--times", nargs="+", default=DEFAULT_TIMES, help="prompt times, H:MM")
    p.add_argument("--samples", type=int, default=4, help="completions per time")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--reader", default=None, help="module:function reading times from PIL images")
    p.add_argument("--reader-model", default=None, help="a saved ClockReader folder (pipelines.reader)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if reader is None and args.reader:
        reader = load_reader(args.reader)
    if reader is None and args.reader_model:
        reader = reader_from_folder(args.reader_model)
    times = [parse_time(t) for t in args.times]

    vq = load_tokenizer(args.tokenizer)
    size = vq.config.image_size
    if args.data:
        data = load_images(args.data)
    else:
        train = max(720, args.train_size)
        data = build_clock_dataset(train=train, val=720, test=720, size=size, seed=args.seed)
        data = datasets.DatasetDict({"train": data["train"]})
    export_tokens(vq, datasets.DatasetDict({"train": data["train"]}), out / "tokens", format="arrow")
    tokens, meta = load_tokens(out / "tokens")
    grid = tuple(meta["grid_shape"])
    texts = build_texts(tokens["train"], grid, args.row_separators)
    print(f"{len(texts)} texts, e.g. {texts[0][:90]}...")

    captions = [caption(h, m) for h in range(12) for m in range(60)]
    tok = train_text_tokenizer(captions + [" <boi>"], vocab_size=320)
    base_vocab = len(tok)
    mapping = extend_tokenizer(tok, meta["codebook_size"], grid_shapes=[grid], save_dir=out / "text_tokenizer")
    seq_len = max(len(ids) for ids in tok(texts[:64]).input_ids) + 8
    lm = build_lm(base_vocab, n_positions=64 * math.ceil(seq_len / 64), width=args.width, layers=args.layers,
                  eos_token_id=tok.eos_token_id)
    vocab = resize_embeddings(lm, tok, pad_to_multiple_of=64)
    print(f"text vocab {base_vocab} + {meta['codebook_size']} image tokens + {len(mapping.markers)} markers "
          f"-> embeddings {vocab}; LM {sum(q.numel() for q in lm.parameters()) / 1e6:.2f} M parameters")

    stats = train_lm(lm, tok, texts, args.minutes, args.batch_size, args.lr, args.max_steps, args.seed)
    print(f"trained {stats['steps']} steps ({stats['epochs']:.2f} epochs) in {stats['seconds']:.0f} s, "
          f"loss {stats['loss']:.3f}")
    lm.save_pretrained(str(out / "lm"))

    images, completions = completion_images(lm, tok, mapping, vq, times, args.samples, args.temperature,
                                            args.top_k, args.seed)
    labels = [f"{h % 12 or 12}:{m:02d}" for h, m in times for _ in range(args.samples)]
    result = {"train": stats, "grid_shape": list(grid), "codebook_size": meta["codebook_size"],
              "prompts": len(times), "samples_per_time": args.samples, "example_completion": completions[0]}
    captions_out = labels
    if reader is not None:
        read = reader(images)
        wanted = [t for t in times for _ in range(args.samples)]
        right = [circular_error(a, b) <= 3 for a, b in zip(read, wanted)]
        result["readable"] = sum(right) / len(right)
        captions_out = [f"{lab} read {h % 12 or 12}:{m:02d}" for lab, (h, m) in zip(labels, read)]
        print(f"clock reader: {sum(right)}/{len(right)} completions read right ({100 * result['readable']:.0f}%)")
    make_grid(images, captions_out, ncols=args.samples, title="The clock shows H:MM. <boi> ...").save(out / "completions.png")
    (out / "results.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'completions.png'} and {out / 'results.json'}")
    return result


if __name__ == "__main__":
    main()
