"""The LLM example's drawings redrawn from its saved LMs: sampling seeds against beam widths.

    python benchmarks/llm_redraw.py RUN [RUN ...] [--seeds 4] [--temperature 0.2] [--beams 1 8]

For each run folder of ``examples/llm_tokens.py`` (its ``model/``, ``tokens/`` and
``results.json``), the example's own draw requests (``draw_times`` spread across the dial,
``samples_per_time`` each, in the styles of its held-out clocks), drawn in float32 by
``draw_grids``: sampled at ``--temperature`` with seeds 0..N-1, and by a beam search of each
width in ``--beams`` (1: no beam search); decoded by the run's tokenizer, read by the shipped
clock reader. One evaluation of a run draws with one seed, so its figure carries the seed's
noise; this puts it beside other seeds and beside deterministic decodings. Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import llm_tokens  # noqa: E402

from pipelines.llm_tokens import draw_grids, load_lm_folder  # noqa: E402
from pipelines.reader import load_reader  # noqa: E402
from shared.tokens import read_tokens  # noqa: E402
from stage1_vqvae import load_tokenizer  # noqa: E402


def redraw(run: Path, reader, seeds: int, temperature: float, beams: list[int]) -> dict[str, float]:
    """The share of the run's draw requests read at the asked time, per decoding."""
    result = json.loads((run / "results.json").read_text())
    lm, tok, mapping = load_lm_folder(run / "model")
    tokens, meta = read_tokens(run / "tokens")
    grid = tuple(meta["grid_shape"])
    test = tokens["test"].select(range(result["read_images"]))
    labels = llm_tokens.style_labels(test, result["style_words"])
    wanted, _, prompts = llm_tokens.draw_requests(result["draw_times"], result["samples_per_time"], labels)
    vq = load_tokenizer(result["tokenizer"])

    def accuracy(**decoding) -> float:
        grids = draw_grids(lm, tok, mapping, prompts, grid, **decoding)
        return llm_tokens.reader_accuracy(reader, llm_tokens.decode(vq, grids), wanted)

    shares = {f"seed {s}": accuracy(seed=s, temperature=temperature) for s in range(seeds)}
    if seeds:
        shares[f"mean of {seeds} seeds"] = sum(shares.values()) / seeds
    shares.update({f"{b} beams": accuracy(num_beams=b) for b in beams if b > 1})
    return shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of examples/llm_tokens.py")
    parser.add_argument("--seeds", type=int, default=4, help="sampling seeds 0..N-1 (0: none)")
    parser.add_argument("--temperature", type=float, default=0.2, help="sampling temperature")
    parser.add_argument("--beams", type=int, nargs="*", default=[8], help="beam widths (1: none)")
    parser.add_argument("--reader", default=None, help="clock reader folder (default: the shipped one)")
    args = parser.parse_args(argv)
    reader = load_reader(args.reader)
    rows = {str(run): redraw(run, reader, args.seeds, args.temperature, args.beams) for run in args.runs}
    columns = list(next(iter(rows.values())))
    print(f"| run | {' | '.join(columns)} |\n|---|{'---|' * len(columns)}")
    for run, shares in rows.items():
        print(f"| `{run}` | {' | '.join(f'{shares[c]:.1%}' for c in columns)} |", flush=True)


if __name__ == "__main__":
    main()
