"""CPU speed by setting (the fp32 path): one training step of each stage, and sampling, per setting.

    python benchmarks/bench_cpu_speed.py [--steps 5] [--no-compile] [--bf16-steps 1] [--profile]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/bench_cpu_speed.py ...      # an AVX2-only CPU, reproduced on a newer one

Builds the models ``qvae train`` builds by default: the tokenizer (``VQVAEConfig()``, batch
64) and the prior (Llama ``small``, 8x8 grid, K of that tokenizer, conditioned on hour,
minute and the renderer's style fields, batch 64), with the optimizer of ``shared.training``
(AdamW, clipping at 1). Each setting times a full training step (forward, backward, clip,
optimizer step) on random data (speed does not depend on the values): the first step apart
(k-means init of the codebook; compilation, from a fresh inductor cache unless
``--warm-compile-cache``), then the median of ``--steps`` steps. The settings: fp32 (what
``--mixed-precision auto`` trains in without native bf16), bf16 autocast, channels_last
(tokenizer), torch.compile (inductor; in fp32 and bf16), AdamW's fused kernel, one thread, other batch sizes
(compare ms / image), and the tokenizer without its GroupNorms (a bound on what fusing or
dropping them could save; another model).

The settings take their steps in turns (one step of each, round after round), so a load that
comes and goes on a shared machine falls on all of them alike; compare ratios within one run.
"CPU share" is the process's CPU time over wall time x threads: well under 100% means other
work held the cores, and then a 2-thread step waits on its slower thread (rerun when idle).
Sampling times ``stage2_prior.sampling.sample`` of 16 images with the pipeline's defaults
(guidance 2, min_p 0.3), fp32 against bf16 weights. ``--profile`` adds where the time of one
fp32 tokenizer step goes (top ops by self CPU time, and the convolutions by shape).

Prints markdown; copy it into benchmarks/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from shared.clocks import STYLE_FIELDS
from shared.training import choose_attention, choose_optimizer, cpu_has_native_bf16, make_optimizer, newton_schulz_dtype
from stage1_vqvae import VQVAEConfig, VQVAEModel
from stage1_vqvae.train import TokenizerTrainingArguments
from stage2_prior import build_prior, sample
from stage2_prior.data import make_batch
from stage2_prior.train import PriorTrainingArguments
from stage2_prior.vocab import TIME_FIELDS, Field, Vocab

ENV_VARS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS")
PRIOR_FIELDS = TIME_FIELDS + tuple(Field(name, values) for name, values in STYLE_FIELDS.items())


def describe_cpu() -> list[str]:
    """The CPU's name and bf16 flag, the ISA the libraries were told to use, and the load."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    env = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in ENV_VARS)
    return [
        f"CPU: {name}, {os.cpu_count()} logical CPUs; avx512_bf16 in /proc/cpuinfo flags: "
        f"{'yes' if 'avx512_bf16' in flags else 'no'}; amx_bf16: {'yes' if 'amx_bf16' in flags else 'no'}",
        f"env: {env}",
        f"torch {torch.__version__}: ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads; native bf16 as `--mixed-precision auto` sees it: "
        f"{'yes' if cpu_has_native_bf16() else 'no'}",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


# -- the two models and their training steps ---------------------------------------------------


def tokenizer_model() -> nn.Module:
    return VQVAEModel(VQVAEConfig())


def tokenizer_inputs(batch: int) -> torch.Tensor:
    return torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1


def tokenizer_loss(model, images, _):
    return model(images).loss


def prior_model() -> nn.Module:
    return build_prior(VQVAEConfig().codebook_size, (8, 8), "small", fields=PRIOR_FIELDS)


def prior_inputs(batch: int):
    vocab = Vocab(VQVAEConfig().codebook_size, (8, 8), PRIOR_FIELDS)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab.codebook_size, (batch, vocab.num_codes), generator=g)
    index = torch.stack([torch.randint(0, len(f.values), (batch,), generator=g) for f in vocab.fields], 1)
    return vocab, ids, index


def prior_loss(model, inputs, generator):
    """As ``stage2_prior.train``'s compute_loss: fields dropped at random, loss on code positions."""
    vocab, ids, index = inputs
    rate = torch.rand(len(ids), 1, generator=generator) * PriorTrainingArguments.field_drop
    drop = torch.rand(index.shape, generator=generator) < rate
    drop |= torch.rand(len(ids), 1, generator=generator) < PriorTrainingArguments.cond_drop
    input_ids, labels = make_batch(vocab, ids, index, drop)
    return model(input_ids=input_ids, labels=labels).loss


def no_norms(model: nn.Module) -> nn.Module:
    """The same network without its GroupNorms: a bound on what fusing or dropping them could save
    (not the same model: it trains differently)."""
    for name, child in model.named_children():
        if isinstance(child, nn.GroupNorm):
            setattr(model, name, nn.Identity())
        else:
            no_norms(child)
    return model


@dataclass
class Setting:
    """One row: a model, a batch size and how the step runs."""

    model: str  # "tokenizer" or "prior"
    name: str
    batch: int
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    fused_adamw: bool = False  # AdamW's fused kernel instead of its per-tensor loop (CPU's default)
    optimizer: str | None = None  # None: what fit chooses on this CPU for the trainer's default
    threads: int | None = None  # None: torch's default
    transform: Callable[[nn.Module], nn.Module] | None = None
    attention: str | None = None  # the prior's attention kernel (None: the one fit chooses for the precision)
    steps: int | None = None  # None: --steps
    times: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)  # CPU time / (wall time x threads) of each timed step
    first: float = 0.0
    error: str = ""


MODELS = {
    "tokenizer": (tokenizer_model, tokenizer_inputs, tokenizer_loss, TokenizerTrainingArguments),
    "prior": (prior_model, prior_inputs, prior_loss, PriorTrainingArguments),
}


def threads(n: int | None):
    """A context that runs with ``n`` torch threads (None: unchanged)."""

    class _Threads:
        def __enter__(self):
            self.before = torch.get_num_threads()
            if n:
                torch.set_num_threads(n)

        def __exit__(self, *exc):
            torch.set_num_threads(self.before)

    return _Threads()


def make_step(s: Setting) -> Callable[[int], None]:
    """A function running one training step of ``s`` (its model, optimizer and batch built once)."""
    build, inputs_for, loss_fn, defaults = MODELS[s.model]
    torch.manual_seed(0)
    model = build().train()
    if s.transform:
        model = s.transform(model)
    if s.attention:
        model.set_attn_implementation(s.attention)
    else:  # the kernel fit chooses for this precision (sets it on the model; the tokenizer has none)
        choose_attention(model, "bf16" if s.bf16 else "no", "cpu")
    if s.channels_last:
        model = model.to(memory_format=torch.channels_last)
    args = defaults(out="unused")  # the trainer's defaults; nothing is written
    chosen = "adamw" if s.fused_adamw else s.optimizer or choose_optimizer(args.optimizer, "cpu")[0]
    optimizer, _ = make_optimizer(model, args, chosen)
    if s.fused_adamw:  # the same groups and settings, one fused kernel per step
        groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in optimizer.param_groups]
        optimizer = torch.optim.AdamW(groups, lr=defaults.lr, betas=optimizer.defaults["betas"], fused=True)
    inputs = inputs_for(s.batch)
    if s.channels_last and torch.is_tensor(inputs):
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    run = torch.compile(model) if s.compile else model

    def step(i: int) -> None:
        g = torch.Generator().manual_seed(i)
        with threads(s.threads), torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16):
            loss = loss_fn(run, inputs, g)
        with threads(s.threads):
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return step


def time_settings(settings: list[Setting], steps: int) -> None:
    """Each setting's first step, then ``steps`` rounds of one timed step per setting."""
    runners = {}
    for s in settings:
        print(f"  first step: {s.model}, {s.name}, batch {s.batch} ...", flush=True)
        try:
            step = make_step(s)
            t = time.perf_counter()
            step(0)
            s.first = time.perf_counter() - t
            runners[id(s)] = step
        except Exception as e:  # a setting that cannot run here is reported, not fatal
            s.error = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    for r in range(steps):
        for s in settings:
            if id(s) in runners and r < (s.steps if s.steps is not None else steps):
                t, cpu = time.perf_counter(), time.process_time()
                runners[id(s)](r + 1)
                s.times.append(time.perf_counter() - t)
                s.shares.append((time.process_time() - cpu) / s.times[-1] / (s.threads or torch.get_num_threads()))
        print(f"  round {r + 1}/{steps} done", flush=True)


def training_table(settings: list[Setting]) -> str:
    rows = [
        "| model | setting | batch | threads | first step (s) | step (s), median | ms / image | per image vs fp32 "
        "| CPU share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {}
    for s in settings:
        if s.times and s.name == "fp32" and s.model not in base:
            base[s.model] = statistics.median(s.times) / s.batch
    for s in settings:
        n = s.threads or torch.get_num_threads()
        if s.error or not s.times:
            rows.append(f"| {s.model} | {s.name} | {s.batch} | {n} | - | {s.error or 'not run'} | - | - | - |")
            continue
        med = statistics.median(s.times)
        per = med / s.batch
        ratio = f"{per / base[s.model]:.2f}x" if s.model in base else "-"
        spread = f" ({min(s.times):.3f}-{max(s.times):.3f}, n={len(s.times)})" if len(s.times) > 1 else " (n=1)"
        rows.append(
            f"| {s.model} | {s.name} | {s.batch} | {n} | {s.first:.2f} | {med:.3f}{spread} | {1000 * per:.1f} | {ratio} "
            f"| {statistics.median(s.shares):.0%} |"
        )
    return "\n".join(rows)


# -- sampling -------------------------------------------------------------------------------------


def sampling_table(images: int, repeats: int, bf16: bool) -> str:
    torch.manual_seed(0)
    prior = prior_model().eval()
    g = torch.Generator().manual_seed(2)
    conditions = [
        {"hour": int(torch.randint(0, 12, (1,), generator=g)), "minute": int(torch.randint(0, 60, (1,), generator=g))}
        for _ in range(images)
    ]
    rows_in = [("fp32", prior, None)]
    if bf16:
        rows_in.append(("bf16 weights (`dtype=torch.bfloat16`)", copy.deepcopy(prior).to(torch.bfloat16), None))
    rows_in.append(("fp32", prior, 1))
    results = []
    for name, model, n in rows_in:
        with threads(n):
            t = time.perf_counter()
            sample(model, conditions, guidance_scale=2.0, min_p=0.3, seed=0)
            first = time.perf_counter() - t
        results.append((name, n or torch.get_num_threads(), first, [], []))
    for _ in range(repeats):  # in turns, as the training steps
        for (name, model, n), (_, used, _, times, shares) in zip(rows_in, results):
            with threads(n):
                t, cpu = time.perf_counter(), time.process_time()
                sample(model, conditions, guidance_scale=2.0, min_p=0.3, seed=0)
                times.append(time.perf_counter() - t)
                shares.append((time.process_time() - cpu) / times[-1] / used)
    out = [
        f"| sampling ({images} images, guidance 2, min_p 0.3) | threads | first call (s) | seconds, median "
        "| vs fp32 | CPU share |",
        "|---|---|---|---|---|---|",
    ]
    base = statistics.median(results[0][3])
    for name, n, first, times, shares in results:
        med = statistics.median(times)
        out.append(
            f"| {name} | {n} | {first:.2f} | {med:.3f} ({min(times):.3f}-{max(times):.3f}) | {med / base:.2f}x "
            f"| {statistics.median(shares):.0%} |"
        )
    return "\n".join(out)


# -- profile ------------------------------------------------------------------------------------------


def profile_tokenizer(batch: int, rows: int, channels_last: bool) -> str:
    from torch.profiler import ProfilerActivity, profile

    s = Setting("tokenizer", "fp32", batch, channels_last=channels_last)
    step = make_step(s)
    step(0)
    step(1)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step(2)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    out = [
        f"one tokenizer step, fp32{' + channels_last' if channels_last else ''}, batch {batch}: "
        f"{total / 1e6:.2f} s of self CPU time",
        "",
        "| op | self CPU (s) | share | calls |",
        "|---|---|---|---|",
    ]
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:rows]:
        out.append(f"| {e.key} | {e.self_cpu_time_total / 1e6:.3f} | {e.self_cpu_time_total / total:.1%} | {e.count} |")
    convs = [
        e
        for e in prof.key_averages(group_by_input_shape=True)
        if e.key in ("aten::convolution_backward", "aten::mkldnn_convolution", "aten::_convolution")
    ]
    out += ["", "| convolution (forward / backward), input and weight shapes | self CPU (s) | share | calls |"]
    out += ["|---|---|---|---|"]
    for e in sorted(convs, key=lambda e: -e.self_cpu_time_total)[:rows]:
        shapes = " ".join(str(x) for x in e.input_shapes[:3] if x)
        kind = "backward" if "backward" in e.key else "forward"
        out.append(
            f"| {kind} {shapes} | {e.self_cpu_time_total / 1e6:.3f} | {e.self_cpu_time_total / total:.1%} | {e.count} |"
        )
    return "\n".join(out)


def settings_for(a) -> list[Setting]:
    one_thread = 1 if torch.get_num_threads() > 1 else None
    out = []
    for model in a.models:
        b = MODELS[model][3].batch_size
        out.append(Setting(model, "fp32", b))
        if a.bf16_steps != 0:
            out.append(Setting(model, "bf16 autocast", b, bf16=True, steps=a.bf16_steps))
        if model == "prior":  # fit attends eagerly in bf16 on the CPU, fused (sdpa) in fp32; the others beside
            out.append(Setting(model, "fp32, eager attention", b, attention="eager"))
            # the prior trains with Muon, its Newton-Schulz steps in bf16 where the CPU has it natively, else fp32
            out.append(Setting(model, "fp32, AdamW", b, optimizer="adamw"))
            ns = "bf16" if newton_schulz_dtype("cpu") == torch.bfloat16 else "fp32"
            out.append(Setting(model, f"fp32, Muon (its Newton-Schulz steps in {ns})", b, optimizer="muon"))
            if a.bf16_steps != 0:
                out.append(Setting(model, "bf16 autocast, AdamW", b, bf16=True, optimizer="adamw", steps=a.bf16_steps))
            if a.bf16_steps != 0:
                out.append(
                    Setting(
                        model,
                        "bf16 autocast, fused attention (sdpa)",
                        b,
                        bf16=True,
                        attention="sdpa",
                        steps=a.bf16_steps,
                    )
                )
        if model == "tokenizer":
            out.append(Setting(model, "fp32 + channels_last", b, channels_last=True))
            if a.bf16_steps != 0:
                out.append(
                    Setting(
                        model, "bf16 autocast + channels_last", b, bf16=True, channels_last=True, steps=a.bf16_steps
                    )
                )
        if a.compile:
            out.append(Setting(model, "fp32 + torch.compile", b, compile=True))
            if a.bf16_steps != 0:
                out.append(
                    Setting(model, "bf16 autocast + torch.compile", b, bf16=True, compile=True, steps=a.bf16_steps)
                )
            if model == "tokenizer":
                out.append(Setting(model, "fp32 + channels_last + torch.compile", b, channels_last=True, compile=True))
        out.append(Setting(model, "fp32 + fused AdamW", b, fused_adamw=True))
        if one_thread:
            out.append(Setting(model, "fp32", b, threads=one_thread))
        for other in a.batch_sizes:
            if other != b:
                out.append(Setting(model, "fp32", other))
        if model == "tokenizer" and a.norm_bound:
            out.append(Setting(model, "fp32, GroupNorms removed (a bound; another model)", b, transform=no_norms))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--steps", type=int, default=5, help="timed steps per setting after its first step")
    p.add_argument(
        "--bf16-steps",
        type=int,
        default=None,
        help="timed bf16 steps (default: --steps, or 1 on a CPU without native bf16, where a step is slow; 0 skips bf16)",
    )
    p.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile (long warm-up)")
    p.add_argument(
        "--warm-compile-cache",
        action="store_true",
        help="reuse inductor's cache of earlier runs (default: a fresh one, so the first step compiles from cold)",
    )
    p.add_argument("--batch-sizes", type=int, nargs="*", default=[32, 128], help="further batch sizes, fp32")
    p.add_argument("--no-norm-bound", dest="norm_bound", action="store_false", help="skip the no-GroupNorm row")
    p.add_argument("--sample-images", type=int, default=16)
    p.add_argument("--sample-repeats", type=int, default=3)
    p.add_argument("--no-sampling", dest="sampling", action="store_false")
    p.add_argument("--profile", action="store_true", help="where one fp32 tokenizer step spends its time")
    p.add_argument("--profile-rows", type=int, default=12)
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads of every row but the 1-thread one (0: default)"
    )
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.bf16_steps is None:
        a.bf16_steps = a.steps if cpu_has_native_bf16() else 1
    if a.compile and not a.warm_compile_cache:
        cache = tempfile.mkdtemp(prefix="bench_cpu_speed_inductor_")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
    header = describe_cpu()
    start = time.perf_counter()
    settings = settings_for(a)
    print("timing training steps:", flush=True)
    time_settings(settings, a.steps)
    sampling = sampling_table(a.sample_images, a.sample_repeats, a.bf16_steps != 0) if a.sampling else ""
    profiles = [profile_tokenizer(64, a.profile_rows, cl) for cl in (False, True)] if a.profile else []
    print()
    print("\n".join(f"- {line}" for line in header))
    print(
        f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"whole run {time.perf_counter() - start:.0f} s"
    )
    print()
    print(training_table(settings))
    if sampling:
        print()
        print(sampling)
    for text in profiles:
        print()
        print(text)


if __name__ == "__main__":
    main()
