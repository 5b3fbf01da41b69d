"""``qvae evaluate``: how often generated clocks show the asked time, read by the clock reader.

Measures, for a pipeline folder: accuracy over all 720 times at several guidance scales
(per hour and mean error too), diversity among samples of one prompt (distinct grids, and
distinct face colours as the reader reads them), with a style field asked beside the time
how often the time is still right and each asked field honoured, the tokenizer's
PSNR and codebook usage on real test clocks, the prior's bits per token, and, side by
side, the conditional-VAE baseline measured the same way. Writes ``report.json``,
``report.md`` and image grids.

A pipeline that does not tell the time (a user's own labels, ``qvae train --data``) is measured
by its reader instead (``evaluate_fields``): how often each asked field is read back as asked,
with all fields asked together and each alone, beside the reader's accuracy on real test images.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pipelines.reader import TOLERANCE, ClockReader, circular_error, field_accuracy, load_reader, reader_accuracy
from shared.images import make_grid, psnr, to_pil, to_tensor
from shared.time_prompts import TIME_FIELDS

ALL_TIMES = [(h, m) for h in range(12) for m in range(60)]
DIVERSITY_TIMES = [(3, 15), (10, 10), (7, 40), (0, 0), (6, 30), (9, 45), (1, 5), (4, 50)]


def time_accuracy(
    draw: Callable[[list[int], list[int]], torch.Tensor],
    reader: ClockReader,
    times=ALL_TIMES,
    batch: int = 240,
    desc: str = "generating",
) -> tuple[dict, torch.Tensor]:
    """Draw one image per time with ``draw(hours, minutes) -> images``, read them, score them."""
    images, read_h, read_m = [], [], []
    for i in tqdm(range(0, len(times), batch), desc=desc, leave=False):
        hours = [h for h, _ in times[i : i + batch]]
        minutes = [m for _, m in times[i : i + batch]]
        x = draw(hours, minutes).float().cpu()
        ph, pm = reader.read(x)
        images.append(x)
        read_h.append(ph)
        read_m.append(pm)
    hours = torch.tensor([h for h, _ in times])
    minutes = torch.tensor([m for _, m in times])
    err = circular_error(torch.cat(read_h), torch.cat(read_m), hours, minutes).float()
    ok = err <= TOLERANCE
    per_hour = {str(h or 12): ok[hours == h].float().mean().item() for h in range(12) if (hours == h).any()}
    return {
        "accuracy": ok.float().mean().item(),
        "mean_error_minutes": err.mean().item(),
        "per_hour": per_hour,
        "n": len(times),
    }, torch.cat(images)


def time_conditions(hours, minutes) -> list[dict]:
    return [{"hour": int(h), "minute": int(m)} for h, m in zip(hours, minutes)]


def diversity(images: torch.Tensor, n_per: int, ids: torch.Tensor | None = None) -> dict:
    """Mean pairwise pixel distance (mean |a-b| in [0, 2] units) and distinct id grids, per prompt."""
    groups = images.float().reshape(-1, n_per, *images.shape[1:]).flatten(2)
    dist = torch.cdist(groups, groups, p=1) / groups.shape[-1]
    pairs = n_per * (n_per - 1)
    out = {"mean_pairwise_pixel_distance": (dist.sum((1, 2)) / pairs).mean().item()}
    if ids is not None:
        grids = ids.reshape(-1, n_per, ids[0].numel())
        out["distinct_grids"] = sum(len({tuple(g.tolist()) for g in group}) for group in grids) / grids.shape[0] / n_per
    return out


@torch.inference_mode()
def encode_decode(tokenizer, images: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Code ids and reconstructions of real images in [-1, 1], in batches."""
    ids = torch.cat([tokenizer.encode(x) for x in images.split(batch)])
    return ids, torch.cat([tokenizer.decode(i) for i in ids.split(batch)])


def tokenizer_metrics(codebook_size: int, images: torch.Tensor, ids: torch.Tensor, recon: torch.Tensor) -> dict:
    """PSNR of the reconstructions and the share of codes used."""
    used = torch.zeros(codebook_size, dtype=torch.bool)
    used[ids.flatten().unique()] = True
    return {"psnr_db": psnr(recon, images).mean().item(), "codebook_usage": used.float().mean().item()}


def _time_grid(images: torch.Tensor, times):
    """At most 60 of the generated clocks, spread over the dial, captioned with the asked time."""
    k = max(1, len(times) // 60)
    return make_grid(to_pil(images[::k][:60]), [f"{h or 12}:{m:02d}" for h, m in times[::k][:60]], ncols=10)


def _markdown(report: dict) -> str:
    lines = [
        "# qvae evaluation",
        "",
        f"Model: `{report['model']}`  ",
        f"Clock reader: `{report['reader']}` "
        f"(reads {report['reader_accuracy_on_real_clocks']:.1%} of real test clocks within {TOLERANCE} min)",
        "",
        f"| generator | setting | time accuracy ({report['rows'][0]['n'] if report['rows'] else 0} prompts, one per time) "
        "| mean error (min) | pixel diversity | distinct grids | face colours in 8 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        div = row.get("diversity", {})
        lines.append(
            f"| {row['generator']} | {row['setting']} | {row['accuracy']:.1%} | {row['mean_error_minutes']:.1f} | "
            f"{div.get('mean_pairwise_pixel_distance', float('nan')):.3f} | "
            f"{div.get('distinct_grids', float('nan')):.2f} | {div.get('face_colors', float('nan')):.1f} |"
        )
    for key in ("tokenizer", "prior"):
        if key in report:
            lines += [
                "",
                f"**{key}**: "
                + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in report[key].items()),
            ]
    if "styles_asked" in report:
        st = report["styles_asked"]
        lines += [
            "",
            f"**A style asked beside the time** ({st['n']} prompts, one field each, default sampling"
            f"{', redrawn as above' if report.get('verifier') else ''}): "
            f"time read right {st['time_accuracy']:.1%}; each asked field honoured (read back by the reader): "
            + ", ".join(f"{k} {v:.1%}" for k, v in st["honoured"].items()),
        ]
    best = max((r for r in report["rows"] if r["generator"] == "qvae"), key=lambda r: r["accuracy"], default=None)
    if best:
        lines += [
            "",
            f"Per hour (qvae, {best['setting']}): " + ", ".join(f"{h}: {a:.0%}" for h, a in best["per_hour"].items()),
        ]
    return "\n".join(lines) + "\n"


def real_test_split(data):
    """The split of the dataset folder ``data`` that holds its real test images: ``test``, else its last."""
    from shared.data import load_images

    splits = load_images(data)
    return splits["test"] if "test" in splits else splits[list(splits)[-1]]


def real_clocks(data=None) -> tuple[torch.Tensor, list[int], list[int]]:
    """The real clocks to compare with: a saved dataset's test split, or one rendered clock per time."""
    if data:
        test = real_test_split(data)
        return to_tensor(list(test["image"])), list(test["hour"]), list(test["minute"])
    from shared.clocks import render_clock  # a style of its own per clock, as in the default data

    images = to_tensor([render_clock(h, m, style=i, seed=i) for i, (h, m) in enumerate(ALL_TIMES)])
    return images, [h for h, _ in ALL_TIMES], [m for _, m in ALL_TIMES]


def stage_metrics(pipe, reader: ClockReader, real: torch.Tensor, hours, minutes) -> dict:
    """How well the reader reads real clocks, the tokenizer's reconstructions, the prior's bits per token."""
    from stage2_prior import bits_per_token

    ids, recon = encode_decode(pipe.tokenizer, real)  # once, for all three measurements
    tokenizer = tokenizer_metrics(pipe.codebook_size, real, ids, recon)
    tokenizer["readable_after_reconstruction"] = reader_accuracy(reader, recon, hours, minutes)["accuracy"]
    return {
        "reader_accuracy_on_real_clocks": reader_accuracy(reader, real, hours, minutes)["accuracy"],
        "tokenizer": tokenizer,
        "prior": {"bits_per_token": bits_per_token(pipe.prior, ids, time_conditions(hours, minutes))},
    }


def qvae_row(
    pipe,
    reader: ClockReader,
    out: Path,
    guidance: float,
    times,
    seed: int,
    n_diversity: int,
    verifier: ClockReader | None = None,
    verifier_name: str = "",
    **sampling,
) -> dict:
    """Time accuracy and diversity of the pipeline at one guidance scale; writes its two grids."""
    start = time.perf_counter()
    row, images = time_accuracy(
        lambda h, m: pipe.handed_out(
            pipe.draw(time_conditions(h, m), seed=seed, guidance_scale=guidance, verifier=verifier, **sampling)
        ),
        reader,
        times,
        desc=f"qvae guidance {guidance}",
    )
    setting = [f"guidance {guidance}"] + [
        f"{k} {v}" for k, v in {**pipe.sampling, **sampling}.items() if k != "guidance_scale" and v is not None
    ]
    if verifier is not None:
        from pipelines.pipeline import MAX_REDRAWS, MIN_CONFIDENCE

        setting.append(f"redrawn when {verifier_name} is < {MIN_CONFIDENCE} sure (at most {MAX_REDRAWS} times)")
    row.update(generator="qvae", setting=", ".join(setting), seconds=time.perf_counter() - start)
    hours, minutes = [h for h, _ in DIVERSITY_TIMES], [m for _, m in DIVERSITY_TIMES]
    ids = pipe.generate_ids(
        time_conditions(hours, minutes),
        num_images_per_prompt=n_diversity,
        seed=seed + 1,
        guidance_scale=guidance,
        **sampling,
    )
    samples = pipe.decode(ids)
    row["diversity"] = diversity(samples, n_diversity, ids)
    if "face_color" in reader.fields:
        row["diversity"]["face_colors"] = face_colors(reader, samples.float().cpu(), n_diversity)
    _time_grid(images, times).save(out / f"qvae_guidance_{guidance:g}.png")
    make_grid(
        to_pil(samples),
        [f"{h or 12}:{m:02d}" for h, m in DIVERSITY_TIMES for _ in range(n_diversity)],
        ncols=n_diversity,
    ).save(out / f"qvae_diversity_guidance_{guidance:g}.png")
    return row


def style_fields(pipe, reader: ClockReader) -> list[str]:
    """The pipeline's condition fields that the reader can read (beyond the time)."""
    return [f for f in pipe.fields if f in reader.fields and f not in TIME_FIELDS]


def styled_requests(pipe, fields: list[str], times, rng) -> list[dict]:
    """One request per ``(hour, minute)`` of ``times``, each with one of ``fields`` (taking turns) at a
    value ``rng`` draws from the pipeline's values of that field."""
    return [
        {"hour": h, "minute": m, fields[i % len(fields)]: rng.choice(pipe.fields[fields[i % len(fields)]])}
        for i, (h, m) in enumerate(times)
    ]


def styled_rows(pipe, reader: ClockReader, out: Path, seed: int, n: int = 720, batch: int = 240, **sampling) -> dict:
    """With a style asked beside the time: how often the time is still read right, and how often each
    asked field is honoured (its value read back by the reader). ``n`` prompts, each a random time
    and one field at a random value, the fields taking turns."""
    import random

    fields = style_fields(pipe, reader)
    if not fields:
        return {}
    rng = random.Random(seed)
    conditions = styled_requests(pipe, fields, rng.choices(ALL_TIMES, k=n), rng)
    images = torch.cat(
        [
            pipe.handed_out(pipe.draw(conditions[i : i + batch], seed=seed + i, **sampling)).float().cpu()
            for i in tqdm(range(0, n, batch), desc="qvae, styles asked", leave=False)
        ]
    )
    time_row = reader_accuracy(reader, images, [c["hour"] for c in conditions], [c["minute"] for c in conditions])
    captions = [", ".join(f"{v}" for k, v in c.items() if k not in TIME_FIELDS) for c in conditions[:60]]
    make_grid(to_pil(images[:60]), captions, ncols=10).save(out / "qvae_styles_asked.png")
    return {"n": n, "time_accuracy": time_row["accuracy"], "honoured": field_accuracy(reader, images, conditions)}


def face_colors(reader: ClockReader, images: torch.Tensor, n_per: int) -> float:
    """Mean number of distinct face colours (as the reader reads them) among ``n_per`` samples of a prompt."""
    words = [r.get("face_color") for r in reader.read_fields(images)]
    groups = [set(words[i : i + n_per]) for i in range(0, len(words), n_per)]
    return sum(len(g) for g in groups) / len(groups)


@torch.inference_mode()
def cvae_row(cvae_path, reader: ClockReader, out: Path, times, seed: int, n_diversity: int) -> dict:
    """The one-stage baseline: a conditional VAE decoding N(0, I) samples; writes its grid."""
    from shared.loading import load_pretrained
    from stage1_vqvae import ConditionalVAEModel

    cvae = load_pretrained(ConditionalVAEModel, cvae_path, what="conditional VAE")
    torch.manual_seed(seed)

    def draw(hours, minutes):
        return torch.cat([cvae.sample(h, m, 1) for h, m in zip(hours, minutes)])

    row, images = time_accuracy(draw, reader, times, desc="conditional VAE")
    samples = torch.cat([cvae.sample(h, m, n_diversity) for h, m in DIVERSITY_TIMES])
    row.update(generator="conditional VAE", setting="N(0, I)", diversity=diversity(samples, n_diversity))
    _time_grid(images, times).save(out / "cvae.png")
    return row


def evaluate_pipeline(
    model: str | Path | None,
    out: str | Path,
    reader_path=None,
    cvae_path=None,
    data=None,
    guidance_scales=(1.0, 2.0, 3.0),
    n_diversity: int = 8,
    seed: int = 0,
    times=ALL_TIMES,
    verifier_path=None,
    **sampling,
) -> dict:
    """Measure a pipeline folder (and optionally a conditional VAE) and write the report files.

    ``sampling`` (temperature, top_k, top_p, min_p) overrides the pipeline's defaults for every row.
    ``verifier_path``: a clock reader that makes the pipeline redraw the clocks it doubts
    (``ClockPipeline.draw``); judge with a different ``reader_path`` for an honest number.
    """
    from pipelines.pipeline import ClockPipeline

    out = Path(out)
    pipe = ClockPipeline.from_pretrained(model)
    reader = pipe.reader_or_default(reader_path)
    verifier = load_reader(verifier_path) if verifier_path else None
    header = {
        "model": str(model or "shipped default"),
        "reader": str(reader.name_or_path),  # the folder the reader was loaded from, whichever it was
        "verifier": str(verifier_path) if verifier_path else None,
    }
    if not set(TIME_FIELDS) <= set(pipe.fields):
        return evaluate_fields(pipe, reader, out, header, data, seed, verifier, **sampling)
    out.mkdir(parents=True, exist_ok=True)
    report = {**header, **stage_metrics(pipe, reader, *real_clocks(data))}
    report["rows"] = [
        qvae_row(pipe, reader, out, g, times, seed, n_diversity, verifier, str(verifier_path), **sampling)
        for g in guidance_scales
    ]
    if cvae_path:
        report["rows"].append(cvae_row(cvae_path, reader, out, times, seed, n_diversity))
    styled = styled_rows(pipe, reader, out, seed, n=len(times), verifier=verifier, **sampling)
    if styled:
        report["styles_asked"] = styled
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(_markdown(report))
    return report


def readable_fields(pipe, reader: ClockReader) -> dict:
    """The pipeline's fields (with their values) that ``reader`` reads; ValueError where it reads none."""
    fields = {name: values for name, values in pipe.fields.items() if name in reader.fields}
    if not fields:
        raise ValueError(
            f"the reader reads none of the pipeline's fields ({', '.join(pipe.fields)}): give --reader a reader "
            "of them (qvae train-reader --data DIR --columns ...)"
        )
    return fields


def fields_honoured(pipe, reader: ClockReader, n: int = 4, seed: int = 0, max_requests: int = 256, **draw) -> dict:
    """How often each asked field is honoured (its value read back by ``reader``), by kind of request:
    every field the reader reads asked together (each combination of values, or ``max_requests``
    combinations at random where there are more), then each field asked alone (each of its values);
    ``n`` images a request, drawn with ``draw`` (e.g. ``verifier=None``: as drawn)."""
    import itertools
    import math
    import random

    fields = readable_fields(pipe, reader)
    if math.prod(len(v) for v in fields.values()) <= max_requests:
        combos = list(itertools.product(*fields.values()))
    else:
        rng = random.Random(seed)
        combos = [tuple(rng.choice(v) for v in fields.values()) for _ in range(max_requests)]
    kinds = {" and ".join(fields): [dict(zip(fields, c)) for c in combos]} if len(fields) > 1 else {}
    kinds |= {f"{name} alone": [{name: v} for v in values] for name, values in fields.items()}
    out = {}
    for kind, requests in tqdm(kinds.items(), desc="fields asked", leave=False):
        images = pipe.handed_out(pipe.draw(requests, n, seed=seed, max_images=None, **draw))
        out[kind] = field_accuracy(reader, images, [r for r in requests for _ in range(n)])
    return out


def evaluate_fields(
    pipe, reader: ClockReader, out: Path, header: dict, data=None, seed: int = 0, verifier=None, n: int = 4, **sampling
) -> dict:
    """The report of a pipeline that does not tell the time (a user's own labels): the reader on the
    data's real test images, then each field honoured by kind of request (``fields_honoured``)."""
    from pipelines.reader import LabelledImages, measure_reader

    honoured = fields_honoured(pipe, reader, n, seed, verifier=verifier, **sampling)  # (checks the fields first)
    on_real = None
    if data:
        real = LabelledImages(real_test_split(data), reader.fields, reader.config.image_size).batch()
        on_real = {
            k.removeprefix("field/"): v for k, v in measure_reader(reader, real).items() if k.startswith("field/")
        }
    report = {**header, "reader_on_real_images": on_real, "honoured": honoured}
    lines = ["# qvae evaluation", "", f"Model: `{report['model']}`  ", f"Reader: `{report['reader']}`", ""]
    names = [name for name in reader.fields if any(name in row for row in report["honoured"].values())]
    lines += ["| asked | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    rows = {"real test images (the reader alone)": report["reader_on_real_images"] or {}, **report["honoured"]}
    for kind, acc in rows.items():
        lines.append(f"| {kind} | " + " | ".join(f"{acc[name]:.1%}" if name in acc else "-" for name in names) + " |")
    drawn = f"redrawn while {report['verifier']} doubts them" if verifier is not None else "as drawn"
    lines += ["", f"Each field honoured: its value read back by the reader, {n} images a request, {drawn}."]
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="pipeline folder (default: the shipped weights)")
    p.add_argument("--out", default="out/eval", help="folder for report.json, report.md and grids")
    p.add_argument(
        "--reader", help="clock reader folder that judges (default: the pipeline's own reader, else the shipped one)"
    )
    p.add_argument(
        "--verifier",
        help="clock reader folder: the pipeline redraws clocks it doubts (judge with a different --reader)",
    )
    p.add_argument("--cvae", help="a trained conditional VAE folder to measure side by side")
    p.add_argument("--data", help="dataset folder whose test split gives the real clocks")
    p.add_argument("--guidance", default="1,2,3", help="comma-separated guidance scales")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the pipeline's)")
    p.add_argument("--top-k", type=int, help="top-k sampling (default: the pipeline's)")
    p.add_argument("--min-p", type=float, help="min-p on the conditional distribution (default: the pipeline's)")
    p.add_argument("--times", type=int, default=720, help="evaluate every (720 / TIMES)-th time only, for quick sweeps")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> None:
    try:
        scales = tuple(float(g) for g in args.guidance.split(","))
    except ValueError:
        raise ValueError(f"--guidance must be comma-separated numbers, got {args.guidance!r}") from None
    if not 1 <= args.times <= 720 or 720 % args.times:
        raise ValueError(f"--times must divide 720 (e.g. 720, 240, 144, 72), got {args.times}")
    sampling = {
        k: v
        for k, v in (("temperature", args.temperature), ("top_k", args.top_k), ("min_p", args.min_p))
        if v is not None
    }
    evaluate_pipeline(
        args.model,
        args.out,
        args.reader,
        args.cvae,
        args.data,
        scales,
        seed=args.seed,
        times=ALL_TIMES[:: 720 // args.times],
        verifier_path=args.verifier,
        **sampling,
    )
    print((Path(args.out) / "report.md").read_text())
    print(f"report written to {Path(args.out).resolve()}/report.md")
