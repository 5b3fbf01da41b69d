"""``qvae serve``: a local web page to type a time and see clocks (gradio, the ``web`` extra).

The pipeline and the clock reader load once, at start, and every request is one batched
pipeline call. The queue runs one request at a time: the CPU has no room for two, and
the models are shared, so a second request waits its turn rather than failing.

The drawing is also an API endpoint, ``/generate(prompt, num_images, guidance_scale,
seed, temperature=<pipeline default>, verify=True)``, returning the gallery::

    gradio_client.Client("http://127.0.0.1:7860/").predict(
        "quarter past three", 4, 3.0, 0, api_name="/generate")

Each image is captioned with the time the clock reader reads off it. With ``verify`` (on
by default) a clock the reader is less than 0.8 sure of is drawn again, at most twice
(``ClockPipeline.draw``; what it gains, judged by an independent reader, is in
benchmarks/RESULTS.md). The captions then come from the reader that did the choosing, so a ✗ means even the redraws
missed.
"""

from __future__ import annotations

import argparse
import os
import random

from shared.clocks import STYLE_FIELDS
from shared.errors import UserError
from shared.prompts import parse_prompt
from shared.time_prompts import format_time

CLOCK_FIELDS = {"hour": range(12), "minute": range(60), **STYLE_FIELDS}

MAX_IMAGES = 64
EXAMPLES = [
    "quarter past three",
    "ten to six",
    "10:10",
    "half past seven",
    "noon",
    "twenty-five to four",
    "4:40 pm",
    "7h05",
]
# 64 px clocks shown large: keep their pixels sharp instead of letting the browser blur them
CSS = "#gallery img { image-rendering: pixelated; }"


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: the machine may be offline
    try:
        import gradio
    except ImportError as e:
        raise UserError('qvae serve needs gradio, which comes with the web extra: pip install "qvae[web]"') from e
    return gradio


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="pipeline folder (default: the weights shipped with qvae)")
    p.add_argument(
        "--reader", help="clock-reader folder for the captions and the redraw check (default: the shipped reader)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-images", type=int, default=MAX_IMAGES, help="most images one request may ask for")


def caption(reader, images, hour: int, minute: int) -> list[str]:
    """'shows 3:15' per image (a tensor batch in [-1, 1]) as the clock reader reads it, marked against
    the asked time."""
    from pipelines.reader import TOLERANCE, circular_error

    hours, minutes = reader.read(images)
    errors = circular_error(hours, minutes, hour, minute)
    return [
        f"shows {format_time(int(h), int(m))} {'✓' if e <= TOLERANCE else '✗'}"
        for h, m, e in zip(hours, minutes, errors)
    ]


def make_generate(pipe, reader, max_images: int = MAX_IMAGES):
    """The request handler: ``(prompt, num_images, guidance_scale, seed, temperature, verify)`` ->
    ``[(image, caption)]``."""
    gr = _gradio()
    from shared.images import to_pil

    def generate(
        prompt: str,
        num_images: int,
        guidance_scale: float,
        seed: int | None,
        temperature: float = pipe.sampling["temperature"],
        verify: bool = True,
    ):
        try:
            conditions = pipe.read_prompt(prompt or "").conditions
            num_images = int(num_images)
            if not 1 <= num_images <= max_images:
                raise ValueError(f"num_images must be between 1 and {max_images}, got {num_images}")
            images = pipe.draw(
                [conditions],
                num_images,
                seed=int(seed or 0),
                verifier=reader if verify else None,
                guidance_scale=float(guidance_scale),
                temperature=float(temperature),
            )
        except ValueError as e:  # the user's input: show the message in the page, not a traceback
            raise gr.Error(str(e), print_exception=False) from e
        if "hour" not in conditions:  # a style without a time: nothing for the reader to check
            return [(image, "") for image in to_pil(images)]
        return list(zip(to_pil(images), caption(reader, images, conditions["hour"], conditions["minute"])))

    return generate


def prepare(prompt: str, seed, randomize: bool, fields=CLOCK_FIELDS) -> tuple[int, str]:
    """Before drawing: the seed to use (a fresh one if asked) and a line saying what the prompt was read as."""
    seed = random.randrange(2**31) if randomize else int(seed or 0)
    try:
        read = parse_prompt(prompt or "", fields)
    except ValueError as e:
        return seed, f"⚠️ {e}"
    c = read.conditions
    said = [format_time(c["hour"], c["minute"])] if "hour" in c else []
    said += [f"{k.replace('_', ' ')} {v}" for k, v in c.items() if k not in ("hour", "minute")]
    unused = f" (not used: {', '.join(read.unused)})" if read.unused else ""
    return seed, f"**{', '.join(said)}**, read from {prompt.strip()!r}{unused}, seed {seed}"


def build_demo(pipe, reader, max_images: int = MAX_IMAGES):
    """The page: prompt, options, a Draw button and a captioned gallery."""
    gr = _gradio()
    generate = make_generate(pipe, reader, max_images)
    size = pipe.image_size
    with gr.Blocks(title="qvae: clocks from time prompts") as demo:
        gr.Markdown(
            f"# qvae\nType a time, in digits or words, and get clocks that show it "
            f"({size}x{size} px, drawn on the CPU by a VQ-VAE tokenizer + autoregressive prior). "
            "Each caption is the time a separate clock-reading network reads off the picture."
        )
        with gr.Row():
            prompt = gr.Textbox(
                label="Time", placeholder="quarter past three", value="quarter past three", scale=4, elem_id="prompt"
            )
            draw = gr.Button("Draw", variant="primary", scale=1, elem_id="draw")
        gr.Examples(EXAMPLES, inputs=prompt, label="Try")
        with gr.Row():
            num_images = gr.Slider(1, max_images, value=8, step=1, label="Number of images")
            guidance = gr.Slider(
                0, 5, value=pipe.sampling["guidance_scale"], step=0.5, label="Guidance scale (1 = none)"
            )
            temperature = gr.Slider(0.1, 1.5, value=pipe.sampling["temperature"], step=0.05, label="Temperature")
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            with gr.Column():
                randomize = gr.Checkbox(value=False, label="Random seed")
                verify = gr.Checkbox(value=True, label="Redraw clocks the reader doubts (at most twice)")
        status = gr.Markdown(elem_id="status")
        gallery = gr.Gallery(
            label="Clocks", columns=4, height="auto", format="png", elem_id="gallery", object_fit="contain"
        )
        # always_last: a Draw pressed while clocks are being drawn runs next, instead of being dropped
        event = gr.on(
            [draw.click, prompt.submit],
            lambda p, s, r: prepare(p, s, r, pipe.fields),
            [prompt, seed, randomize],
            [seed, status],
            queue=False,
            api_visibility="private",
            trigger_mode="always_last",
        )
        event.then(
            generate,
            [prompt, num_images, guidance, seed, temperature, verify],
            gallery,
            api_name="generate",
            trigger_mode="always_last",
        )
    return demo.queue(default_concurrency_limit=1, max_size=32)


def run(args: argparse.Namespace) -> None:
    _gradio()  # fail before loading the models
    if args.max_images < 1:
        raise ValueError(f"--max-images must be at least 1, got {args.max_images}")
    from pipelines.pipeline import ClockPipeline
    from pipelines.reader import load_reader

    demo = build_demo(ClockPipeline.from_pretrained(args.model), load_reader(args.reader), args.max_images)
    try:
        demo.launch(server_name=args.host, server_port=args.port, show_error=True, css=CSS)
    except OSError as e:  # port taken or address not available
        raise UserError(f"cannot serve on {args.host}:{args.port}: {str(e).splitlines()[0]}") from e
