"""Stage 2 sampling speed, in one run: tokens/s with vs without the KV cache, and batched
classifier-free guidance vs unguided sampling, at the same batch.

    python benchmarks/bench_sampling.py --preset small --batch 64

The prior is randomly initialised (speed does not depend on the weights). Tokens/s counts
generated code tokens of the B output grids (the unconditional twin rows are not counted).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stage2_prior import build_prior, sample


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="small")
    p.add_argument("--family", default="llama")
    p.add_argument("--codebook-size", type=int, default=512)
    p.add_argument("--grid", type=int, nargs=2, default=[8, 8])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--guided-no-cache", action="store_true", help="also time guidance without the cache (slow)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    prior = build_prior(a.codebook_size, tuple(a.grid), preset=a.preset, family=a.family).to(a.device).eval()
    conditions = [{"hour": i % 12, "minute": (7 * i) % 60} for i in range(a.batch)]
    tokens = a.batch * a.grid[0] * a.grid[1]

    def run(**kw):
        out = sample(prior, conditions, seed=0, **kw)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    t_cache = timed(lambda: run(), a.repeats)
    t_nocache = timed(lambda: run(use_cache=False), a.repeats)
    t_guided = timed(lambda: run(guidance_scale=a.guidance), a.repeats)
    t_guided_nocache = timed(lambda: run(guidance_scale=a.guidance, use_cache=False), 1) if a.guided_no_cache else None
    params = sum(x.numel() for x in prior.parameters()) / 1e6
    print(
        f"device {a.device} ({torch.get_num_threads()} threads), {a.family}/{a.preset} ({params:.2f} M params), "
        f"K={a.codebook_size}, grid {a.grid[0]}x{a.grid[1]}, batch {a.batch}, median of {a.repeats}"
    )
    print("| mode | seconds / batch | code tokens / s |")
    print("|---|---|---|")
    for name, t in [
        ("unguided, KV cache", t_cache),
        ("unguided, no cache", t_nocache),
        (f"guidance {a.guidance:g} (batched 2B), KV cache", t_guided),
        (f"guidance {a.guidance:g} (batched 2B), no cache", t_guided_nocache),
    ]:
        if t is not None:
            print(f"| {name} | {t:.3f} | {tokens / t:,.0f} |")
    print(
        f"KV cache speed-up (unguided): {t_nocache / t_cache:.1f}x (goal >= 5x)"
        + (f"; with guidance: {t_guided_nocache / t_guided:.1f}x" if t_guided_nocache else "")
    )
    print(f"guidance cost vs unguided (KV cache): {t_guided / t_cache:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
