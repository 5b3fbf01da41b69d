"""The web demo measured through its API, in one run: start-up, request latency against the
same work done in-process (the cost of the server), two requests at once, and how many
clocks come back showing the asked time for prompts written in every phrasing style.

    python benchmarks/bench_serve.py --prompts 120 --images 4

The server is ``pipelines.serve.build_demo`` on the shipped weights, launched in this
process on a free loopback port and called with ``gradio_client``; a clock counts as right
when the shipped clock reader's caption is marked ✓ (within 3 minutes).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=120, help="random times, each in a random phrasing style")
    p.add_argument("--images", type=int, default=4, help="images per prompt")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    start = time.perf_counter()
    from gradio_client import Client

    from pipelines.evaluate import load_reader
    from pipelines.pipeline import ClockPipeline
    from pipelines.serve import build_demo, caption
    from shared.time_prompts import STYLES, format_time, parse_time

    pipe, reader = ClockPipeline.from_pretrained(), load_reader()
    demo = build_demo(pipe, reader)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    print(f"start-up (imports, weights, server, client): {time.perf_counter() - start:.1f}s")

    print("| images | through the API | in-process (pipeline + captions) | ratio |")
    print("|---|---|---|---|")
    for n in (1, 8, 64):
        api = median_time(lambda: client.predict("quarter past three", n, args.guidance, 0, api_name="/generate"),
                          args.repeats)
        local = median_time(lambda: caption(reader, pipe("quarter past three", n, args.guidance, seed=0), 3, 15),
                            args.repeats)
        print(f"| {n} | {api:.2f}s | {local:.2f}s | {api / local:.2f}x |")

    one = median_time(lambda: client.predict("10:10", 8, args.guidance, 0, api_name="/generate"), args.repeats)
    with ThreadPoolExecutor(2) as pool:
        t = time.perf_counter()
        jobs = [pool.submit(client.predict, prompt, 8, args.guidance, 0, api_name="/generate")
                for prompt in ("10:10", "ten past ten")]
        counts = [len(j.result()) for j in jobs]
        both = time.perf_counter() - t
    print(f"two requests of 8 at once: {both:.2f}s for both (images {counts}), one alone {one:.2f}s, "
          f"ratio {both / one:.2f}x")

    rng = random.Random(args.seed)
    right = total = parsed_right = 0
    misses = []
    for i in range(args.prompts):
        hour, minute = rng.randrange(12), rng.randrange(60)
        prompt = format_time(hour, minute, rng.choice(STYLES))
        parsed_right += parse_time(prompt) == (hour, minute)
        result = client.predict(prompt, args.images, args.guidance, i, api_name="/generate")
        marks = [item["caption"].endswith("✓") for item in result]
        right, total = right + sum(marks), total + len(marks)
        misses += [f"{prompt!r}: {item['caption']}" for item, ok in zip(result, marks) if not ok]
    print(f"prompts parsed to the intended time: {parsed_right}/{args.prompts}")
    print(f"clocks read as the asked time (guidance {args.guidance}): {right}/{total} = {right / total:.1%}")
    for miss in misses[:10]:
        print("  miss:", miss)
    demo.close()


if __name__ == "__main__":
    main()
