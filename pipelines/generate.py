"""``qvae generate``: prompts ("a red clock at ten to six") or ``--condition field=value`` in,
a captioned grid of pictures out."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from shared.images import make_grid

MAX_IMAGES = 1024  # clocks per run unless --max-images says more (= pipelines.pipeline.MAX_IMAGES)
GRID_MAX = 256  # clocks per grid PNG; more go to further pages: clocks.png, clocks-2.png, ...
GRID_COLUMNS = 16  # at most, so that a page is at most 16 x 16 tiles
MAX_SCALE = 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "prompts",
        nargs="*",
        metavar="PROMPT",
        help='what to draw: a time ("quarter past three", "10:10") and/or values of the pipeline\'s '
        'fields ("a red square clock with roman numerals at ten to six")',
    )
    p.add_argument(
        "--condition",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a condition field's value, e.g. --condition face_color=red --condition hour=3; repeat for "
        "more fields; added to every prompt (or drawn alone without a prompt)",
    )
    p.add_argument("--n", type=int, default=8, help="images per prompt")
    p.add_argument(
        "--out",
        default="clocks.png",
        help=f"PNG to write the captioned grid to; a grid holds at most {GRID_MAX} clocks "
        f"({GRID_COLUMNS} a row), more go to OUT-2.png, OUT-3.png, ...",
    )
    p.add_argument(
        "--max-images",
        type=int,
        default=MAX_IMAGES,
        help=f"refuse to draw more clocks than this in all (default: {MAX_IMAGES}; all are held in memory)",
    )
    p.add_argument("--model", help="pipeline folder (default: the weights shipped with qvae)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the pipeline's)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--min-p", type=float, help="keep codes with conditional probability >= MIN_P x the top one's")
    p.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="redraw clocks the clock reader doubts show what was asked, keeping the surest of the attempts "
        "(default: on; ClockPipeline.draw's settings); --no-verify shows the prior's draws as they come",
    )
    p.add_argument(
        "--reader", help="clock reader for --verify (default: the pipeline's own reader, else the shipped one)"
    )
    p.add_argument(
        "--scale", type=int, default=2, help=f"enlarge each tile this many times in the grid (1..{MAX_SCALE})"
    )


def _caption(label: str, conditions: dict, i: int, n: int) -> str:
    time = (
        f"{int(conditions['hour']) or 12}:{int(conditions['minute']):02d}"
        if "hour" in conditions and "minute" in conditions
        else ""
    )
    if n < 4:
        return f"{label[:20]} ({time})" if time else label[:26]
    return label[:24] if i == 0 else (time or label[:12])


def write_grid(
    pipe, requests: list[tuple[str, dict]], n: int, out: str | Path, seed: int = 0, scale: int = 2, **sampling
) -> tuple[Path, float]:
    """Draw ``n`` pictures per ``(label, conditions)`` request and save them as a captioned grid (a row
    per request, wrapped at ``GRID_COLUMNS``); past ``GRID_MAX`` pictures the grid goes on in
    ``out``-2.png, -3.png, ... Returns the first page and the drawing time."""
    start = time.perf_counter()
    images = pipe.generate([c for _, c in requests], n, seed=seed, **sampling)
    took = time.perf_counter() - start
    captions = [_caption(label, c, i, n) for label, c in requests for i in range(n)]
    ncols = min(n if n > 1 else min(len(images), 6), GRID_COLUMNS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for page, at in enumerate(range(0, len(images), GRID_MAX), start=1):
        grid = make_grid(images[at : at + GRID_MAX], captions[at : at + GRID_MAX], ncols=ncols, scale=scale)
        grid.save(out if page == 1 else out.with_name(f"{out.stem}-{page}{out.suffix}"))
    return out, took


def read_requests(pipe, prompts: list[str], condition_args: list[str]) -> list[tuple[str, dict]]:
    """``(label, conditions)`` per prompt (``--condition`` values added), or one for the conditions alone.
    Words a prompt does not use are printed, not dropped silently."""
    given = {}
    for item in condition_args:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"--condition wants FIELD=VALUE, got {item!r}; fields: {', '.join(pipe.fields)}")
        given[name.strip()] = value.strip()
    requests = []
    for p in prompts:
        read = pipe.read_prompt(p)
        if read.unused:
            print(f"words not used from {p!r}: {', '.join(read.unused)}", file=sys.stderr)
        requests.append((p, {**read.conditions, **given}))
    if not prompts:
        requests.append((", ".join(f"{k}={v}" for k, v in given.items()), given))
    return requests


def run(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    total = max(1, len(args.prompts)) * args.n
    if total > args.max_images:
        raise ValueError(
            f"asked for {total} clocks ({len(args.prompts)} prompt(s) x --n {args.n}), more than "
            f"--max-images {args.max_images}; pass --max-images {total} to allow it"
        )
    if not 1 <= args.scale <= MAX_SCALE:
        raise ValueError(f"--scale must be in 1..{MAX_SCALE}, got {args.scale}")
    if Path(args.out).suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise ValueError(f"--out is the picture file to write, ending .png (or .jpg, .webp), got {args.out!r}")
    if not args.prompts and not args.condition:
        raise ValueError('nothing to draw: give a prompt (e.g. "quarter past three") or --condition FIELD=VALUE')
    from pipelines.pipeline import ClockPipeline

    pipe = ClockPipeline.from_pretrained(args.model)
    requests = read_requests(pipe, args.prompts, args.condition)
    pipe.vocab.encode([c for _, c in requests])  # an unknown field or value: one line before drawing
    # it checks the fields it reads, others count as shown
    verifier = pipe.reader_or_default(args.reader) if args.verify else None
    out, took = write_grid(
        pipe,
        requests,
        args.n,
        args.out,
        args.seed,
        args.scale,
        guidance_scale=args.guidance,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        verifier=verifier,
        max_images=args.max_images,
    )
    pages = -(-total // GRID_MAX)
    more = f" (and {pages - 1} more page(s): {out.stem}-2{out.suffix}, ...)" if pages > 1 else ""
    print(f"drew {total} clocks in {took:.2f}s -> {out.resolve()}{more}")
