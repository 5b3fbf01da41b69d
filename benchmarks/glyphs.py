"""A dataset that is not clocks, end to end with the user's commands: glyphs of the installed fonts,
labelled (character, font), trained with ``qvae train --data`` and measured by a reader trained
with ``qvae train-reader --data`` on the same folder's train split.

    python benchmarks/glyphs.py --out runs/glyphs

does, under ``--out``:
1. ``glyphs/``: ``shared.glyphs.build_glyph_dataset`` (26 capitals x 8 fonts, ``--per-pair``
   images each, train / validation / test);
2. ``qvae train --data glyphs --conditions character,font --out run`` (steps from the options);
3. ``qvae train-reader --data glyphs --columns character,font --out reader``;
4. the reader on the real test glyphs (its own accuracy), then on ``--n`` generated images per
   (character, font) pair asked together, and per character and per font asked alone: how often
   each asked field is honoured (``pipelines.evaluate.fields_honoured``);
5. ``report.json``, ``report.md`` and ``glyphs.png`` (real test glyphs over generated ones, a
   row per font).
A finished step is skipped when run again (as ``qvae train`` skips its finished stages).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipelines.cli import main as qvae


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/glyphs")
    p.add_argument("--size", type=int, default=32, help="image side")
    p.add_argument("--per-pair", type=int, default=100, help="images per (character, font) pair")
    p.add_argument("--tokenizer-steps", type=int, default=1500)
    p.add_argument("--tokenizer-config", default='{"downsample": 4}', help="f4: an 8x8 grid at 32 px")
    p.add_argument("--prior-steps", type=int, default=1500)
    p.add_argument("--reader-steps", type=int, default=1500)
    p.add_argument("--n", type=int, default=4, help="generated images per request")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def step(name: str, done: bool, argv: list[str], timings: dict) -> None:
    if done:
        print(f"== {name}: done before, skipped")
        return
    print(f"== {name}: qvae {' '.join(argv)}")
    start = time.perf_counter()
    if qvae(argv) != 0:
        raise SystemExit(f"{name} failed")
    timings[name] = round(time.perf_counter() - start, 1)


def measure(pipe, reader, test: dict, n: int, seed: int) -> dict:
    """The reader on real test glyphs, then on generated ones as drawn: each asked field honoured, by
    request kind (every (character, font) pair, each character alone, each font alone)."""
    from pipelines.evaluate import fields_honoured
    from pipelines.reader import measure_reader

    out = {"real test glyphs": {k.removeprefix("field/"): v for k, v in measure_reader(reader, test).items()}}
    return out | fields_honoured(pipe, reader, n, seed, verifier=None)


def picture(pipe, test: dict, reader_fields: dict, path: Path, seed: int) -> None:
    """A row per font: 8 real test glyphs, then the same (character, font) drawn by the pipeline."""
    import torch

    from pipelines.generate import make_grid

    chars, fonts = reader_fields["character"], reader_fields["font"]
    shown = chars[:: max(1, len(chars) // 8)][:8]
    images, captions = [], []
    for f in fonts:
        for c in shown:
            mask = (test["fields"][:, 0] == chars.index(c)) & (test["fields"][:, 1] == fonts.index(f))
            images.append(test["images"][mask.nonzero()[0, 0]] if mask.any() else torch.zeros_like(test["images"][0]))
            captions.append(f"{c} {f}"[:12])
        drawn = pipe.draw([{"character": c, "font": f} for c in shown], 1, seed=seed, verifier=None)
        images += list(drawn)
        captions += ["drawn"] * len(shown)
    from shared.images import to_pil

    make_grid(to_pil(torch.stack(images)), captions, ncols=2 * len(shown), scale=3).save(path)


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    data = out / "glyphs"
    timings: dict = {}
    if not data.exists():
        from shared.glyphs import build_glyph_dataset

        start = time.perf_counter()
        build_glyph_dataset(data, size=args.size, per_pair=args.per_pair, seed=args.seed)
        timings["glyph folder"] = round(time.perf_counter() - start, 1)
    step(
        "qvae train",
        (out / "run" / "summary.json").exists(),
        ["train", "--data", str(data), "--conditions", "character,font", "--out", str(out / "run")]
        + [
            "--seed",
            str(args.seed),
            "--tokenizer-steps",
            str(args.tokenizer_steps),
            "--tokenizer-config",
            args.tokenizer_config,
        ]
        + ["--prior-steps", str(args.prior_steps)]
        + ["--reader-steps", "0"],  # the reader is trained apart below, with its own steps
        timings,
    )
    reader_dir = out / "reader"
    step(
        "qvae train-reader",
        (reader_dir / "model").exists(),
        ["train-reader", "--data", str(data), "--columns", "character,font", "--out", str(reader_dir)]
        + ["--steps", str(args.reader_steps), "--image_size", str(args.size), "--seed", str(args.seed)],
        timings,
    )

    from pipelines.pipeline import ClockPipeline
    from pipelines.reader import LabelledImages, load_reader
    from shared.data import load_images

    pipe, reader = ClockPipeline.from_pretrained(out / "run" / "pipeline"), load_reader(reader_dir / "model")
    test = LabelledImages(load_images(data)["test"], reader.fields, args.size).batch()
    report = {"timings_s": timings, "accuracy": measure(pipe, reader, test, args.n, args.seed)}
    picture(pipe, test, reader.fields, out / "glyphs.png", args.seed)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    def cell(acc: dict, name: str) -> str:
        return f"{acc[name]:.1%}" if name in acc else "not asked"

    rows = [f"| {kind} | {cell(acc, 'character')} | {cell(acc, 'font')} |" for kind, acc in report["accuracy"].items()]
    md = "| images (read by the glyph reader) | character honoured | font honoured |\n|---|---|---|\n" + "\n".join(rows)
    (out / "report.md").write_text(md + "\n")
    print(md)
    print(f"timings: {timings}\npicture: {out / 'glyphs.png'}")


if __name__ == "__main__":
    main()
