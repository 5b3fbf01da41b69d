"""The web demo measured through its API, in one run: start-up, request latency against the
same work done in-process (the cost of the server), two requests at once, and how many
clocks come back showing the asked time for prompts written in every phrasing style, with
the page's "redraw clocks the reader doubts" off and on.

    python benchmarks/bench_serve.py --prompts 120 --images 4 --judge runs/judge_reader

The server is ``pipelines.serve.build_demo`` on the shipped weights, launched in this
process on a free loopback port and called with ``gradio_client``. The returned images are
read by ``--judge``, a clock reader (default: the shipped one); the server verifies with the
shipped reader, so judge with a different one (``train_reader(seed=1, width=48)``, see
benchmarks/RESULTS.md) for an honest number. Right means within 3 minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from bench_sampling import timed  # median of repeats after a warm-up (benchmarks/ is on sys.path)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=120, help="random times, each in a random phrasing style")
    p.add_argument("--images", type=int, default=4, help="images per prompt")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge", help="clock reader folder that judges the returned images (default: the shipped one)")
    args = p.parse_args(argv)

    start = time.perf_counter()
    from gradio_client import Client
    from PIL import Image

    from pipelines.evaluate import load_reader
    from pipelines.pipeline import ClockPipeline
    from pipelines.reader import TOLERANCE, circular_error
    from pipelines.serve import build_demo, caption
    from shared.images import to_tensor
    from shared.time_prompts import STYLES, format_time, parse_time

    pipe, reader = ClockPipeline.from_pretrained(), load_reader()
    demo = build_demo(pipe, reader)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    print(f"start-up (imports, weights, server, client): {time.perf_counter() - start:.1f}s")

    print("| images | through the API | in-process (pipeline with verify, captions) | ratio |")
    print("|---|---|---|---|")
    for n in (1, 8, 64):
        api = timed(
            lambda: client.predict("quarter past three", n, args.guidance, 0, api_name="/generate"), args.repeats
        )
        local = timed(
            lambda: caption(
                reader,
                pipe.draw([{"hour": 3, "minute": 15}], n, seed=0, verifier=reader, guidance_scale=args.guidance),
                3,
                15,
            ),
            args.repeats,
        )
        print(f"| {n} | {api:.2f}s | {local:.2f}s | {api / local:.2f}x |")

    one = timed(lambda: client.predict("10:10", 8, args.guidance, 0, api_name="/generate"), args.repeats)
    with ThreadPoolExecutor(2) as pool:
        t = time.perf_counter()
        jobs = [
            pool.submit(client.predict, prompt, 8, args.guidance, 0, api_name="/generate")
            for prompt in ("10:10", "ten past ten")
        ]
        counts = [len(j.result()) for j in jobs]
        both = time.perf_counter() - t
    print(
        f"two requests of 8 at once: {both:.2f}s for both (images {counts}), one alone {one:.2f}s, "
        f"ratio {both / one:.2f}x"
    )

    judge = load_reader(args.judge)
    rng = random.Random(args.seed)
    prompts = []
    for _ in range(args.prompts):
        hour, minute = rng.randrange(12), rng.randrange(60)
        prompts.append((format_time(hour, minute, rng.choice(STYLES)), hour, minute))
    parsed = sum(parse_time(prompt) == (h, m) for prompt, h, m in prompts)
    print(f"prompts parsed to the intended time: {parsed}/{args.prompts}")
    temperature = pipe.sampling["temperature"]
    for verify in (False, True):
        right = total = 0
        misses = []
        t = time.perf_counter()
        for i, (prompt, hour, minute) in enumerate(prompts):
            result = client.predict(prompt, args.images, args.guidance, i, temperature, verify, api_name="/generate")
            errors = circular_error(
                *judge.read(to_tensor([Image.open(item["image"]) for item in result])), hour, minute
            )
            right, total = right + int((errors <= TOLERANCE).sum()), total + len(result)
            misses += [f"{prompt!r}: {item['caption']}" for item, e in zip(result, errors) if e > TOLERANCE]
        print(
            f"redraw misread {'on ' if verify else 'off'}: {right}/{total} = {right / total:.1%} read right by "
            f"{args.judge or 'the shipped reader'} ({time.perf_counter() - t:.1f}s); misses, with the server's caption:"
        )
        for miss in misses[:10]:
            print("  ", miss)
    demo.close()


if __name__ == "__main__":
    main()
