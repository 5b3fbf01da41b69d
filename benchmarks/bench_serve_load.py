"""The web server under load: many clients at once against ``qvae serve`` in its own process.

    python benchmarks/bench_serve_load.py --requests 500 --clients 32 --images 4

Starts ``python -m pipelines.cli serve`` (shipped weights, loopback, a free port, plus any
``--serve-args``), then ``--clients`` threads, each with its own ``gradio_client.Client``,
send ``--requests`` requests in all, each for a different time, one after another as the
answers come back; a client told "busy" (the queue is full) waits ``--retry-after`` seconds
before its next request, as the message asks. Prints the requests, the concurrency, how
many were answered with their clocks, refused as busy or failed, the latency from sending
to the answer (queue wait included), and the server's resident memory (``VmRSS`` in
/proc) after start-up, after a first request, every 100 requests and at the end. Then it
stops the server.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return f"{model}, {os.cpu_count()} cores, avx512_bf16 {'yes' if ' avx512_bf16' in info else 'no'}"


def start_server(serve_args: list[str], log) -> tuple[subprocess.Popen, str]:
    """``qvae serve`` in a subprocess on a free loopback port; returns it and its URL once it answers."""
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port), *serve_args]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}/", time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            Client(url, verbose=False)
            return proc, url
        except Exception:  # not up yet
            time.sleep(0.5)
    proc.kill()
    sys.exit(f"qvae serve did not come up (exit {proc.poll()}); its log: {log.name}")


def percentile(values: list[float], q: int) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}s" if values else "-"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[q - 1]:.2f}s"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--images", type=int, default=4, help="clocks per request")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds a client told 'busy' waits")
    p.add_argument("--serve-args", default="", help='more qvae serve options, e.g. "--queue-size 8"')
    args = p.parse_args(argv)

    from gradio_client import Client
    from gradio_client.utils import QueueError

    from shared.time_prompts import format_time

    print(f"CPU: {cpu()}")
    log = tempfile.NamedTemporaryFile("w", prefix="qvae-serve-", suffix=".log", delete=False)
    t = time.perf_counter()
    proc, url = start_server(args.serve_args.split(), log)
    print(f"server up in {time.perf_counter() - t:.1f}s, resident memory {rss_mib(proc.pid):.0f} MiB after start-up")
    try:
        Client(url, verbose=False).predict("noon", args.images, args.guidance, 0, api_name="/generate")
        memory = [("after one request", rss_mib(proc.pid))]
        numbers, lock = itertools.count(), threading.Lock()
        outcomes: list[tuple[str, float]] = []
        failures = Counter()

        def client_loop(_) -> None:
            client = Client(url, verbose=False)
            while (i := next(numbers)) < args.requests:
                prompt = format_time(*divmod(i * 37 % 720, 60))
                t, failure = time.perf_counter(), None
                try:
                    clocks = client.predict(prompt, args.images, args.guidance, i, api_name="/generate")
                    outcome = "answered" if len(clocks) == args.images else "error"
                except QueueError:
                    outcome = "refused"
                except Exception as e:  # counted and shown below: a well-formed request must not fail
                    outcome, failure = "error", f"{type(e).__name__}: {str(e)[:120]}"
                with lock:
                    outcomes.append((outcome, time.perf_counter() - t))
                    if failure:
                        failures[failure] += 1
                    if len(outcomes) % 100 == 0:
                        memory.append((f"after {len(outcomes)}", rss_mib(proc.pid)))
                if outcome == "refused":
                    time.sleep(args.retry_after)

        t = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client_loop, range(args.clients)))
        wall = time.perf_counter() - t
        memory.append(("at the end", rss_mib(proc.pid)))
    finally:
        proc.terminate()
        proc.wait(30)

    counts = Counter(outcome for outcome, _ in outcomes)
    print(
        f"{args.requests} requests of {args.images} clock(s) from {args.clients} clients at once "
        f"(qvae serve {args.serve_args or 'defaults'}): {wall:.0f}s, "
        f"{counts['answered']} answered, {counts['refused']} refused (busy), {counts['error']} errors"
    )
    for kind in ("answered", "refused"):
        seconds = [s for outcome, s in outcomes if outcome == kind]
        if seconds:
            print(
                f"  latency {kind}: p50 {percentile(seconds, 50)}, p95 {percentile(seconds, 95)}, "
                f"max {max(seconds):.2f}s"
            )
    print("  server resident memory (MiB): " + ", ".join(f"{when} {mib:.0f}" for when, mib in memory))
    for failure, n in failures.items():
        print(f"  error x{n}: {failure}")
    print(f"server log: {log.name}")


if __name__ == "__main__":
    main()
