"""``qvae serve``: a local web page to type a time and see clocks (gradio, the ``web`` extra).

The pipeline and the clock reader load once, at start, and every request is one batched
pipeline call. The queue runs one request at a time: the CPU has no room for two, and
the models are shared, so a second request waits its turn rather than failing. At most
``--queue-size`` (32) wait; one more is refused at once with gradio's busy answer (HTTP
503; the page says "This application is currently busy. Please try again.", gradio_client
raises ``QueueError("Queue is full! Please try again.")``). So a request waits at most
(queue size + 1) x the longest request (``--max-images`` clocks); the load figures are in
benchmarks/RESULTS.md.

The drawing is also an API endpoint, ``/generate(prompt, num_images, guidance_scale,
seed, temperature=<pipeline default>, verify=True)``, returning the gallery::

    gradio_client.Client("http://127.0.0.1:7860/").predict(
        "quarter past three", 4, 3.0, 0, api_name="/generate")

Each image is captioned with the time the clock reader reads off it. With ``verify`` (on
by default) a clock the reader doubts shows what was asked (the time, and any style asked)
is drawn again (``ClockPipeline.draw``'s ``MIN_CONFIDENCE`` and ``MAX_REDRAWS``; what it
gains, judged by an independent reader, is in benchmarks/RESULTS.md). The captions then come
from the reader that did the choosing, so a ✗ means even the redraws missed.

Every argument is checked before any drawing, and a wrong one is an error that names it,
never a crash: a prompt of at most ``MAX_PROMPT_CHARS`` characters, ``num_images`` a whole
number in 1..``--max-images``, ``guidance_scale`` and ``temperature`` finite and within the
page's sliders, ``seed`` a whole number in 0..``MAX_SEED`` (or none: 0), ``verify`` true or false.
"""

from __future__ import annotations

import argparse
import os
import random

from shared.clocks import CLOCK_FIELDS
from shared.errors import UserError
from shared.prompts import parse_prompt
from shared.time_prompts import TIME_FIELDS, format_time

MAX_IMAGES = 64
QUEUE_SIZE = 32
# a prompt names a time and a few style words; parsing a 1 MB one takes seconds of CPU and
# the error would echo it all back
MAX_PROMPT_CHARS = 300
MAX_SEED = 2**31 - 1  # the random seeds are drawn below it, and any seed must fit torch's int64 after offsets
GUIDANCE = (0.0, 5.0)  # the sliders' ranges, which gradio also enforces on API calls
TEMPERATURE = (0.1, 1.5)
EXAMPLES = [
    "quarter past three",
    "ten to six",
    "10:10",
    "half past seven",
    "noon",
    "twenty-five to four",
    "4:40 pm",
    "7h05",
    "a red square clock with roman numerals at 7:40",
    "blue clock, no numerals, 1:50",
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
        "--reader",
        help="clock-reader folder for the captions and the redraw check (default: the pipeline's own reader, "
        "else the shipped one)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-images", type=int, default=MAX_IMAGES, help="most images one request may ask for")
    p.add_argument(
        "--queue-size",
        type=int,
        default=QUEUE_SIZE,
        help="most requests waiting their turn; one more is answered 'busy' at once (default: %(default)s)",
    )


def read_prompt(prompt, fields=CLOCK_FIELDS):
    """``parse_prompt`` for a prompt from the web: a string of at most ``MAX_PROMPT_CHARS`` characters."""
    if not isinstance(prompt, str):
        raise ValueError(f"the prompt must be text, got {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}")
    return parse_prompt(prompt, fields)


def number(name: str, value, low, high, whole: bool = False):
    """``value`` if it is a number in ``[low, high]``, and whole if asked; else a ValueError naming it."""
    # a bool is an int to Python, but true images or a true seed is a mistake; NaN fails low <= value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
    if not ok or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} must be {kind} from {low} to {high}, got {value!r:.40}")
    return int(value) if whole else float(value)


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

    def generate(
        prompt: str,
        num_images: int,
        guidance_scale: float,
        seed: int | None,
        temperature: float = pipe.sampling["temperature"],
        verify: bool = True,
    ):
        try:
            conditions = read_prompt("" if prompt is None else prompt, pipe.fields).conditions
            num_images = number("num_images", num_images, 1, max_images, whole=True)
            options = {
                "seed": number("seed", 0 if seed is None else seed, 0, MAX_SEED, whole=True),
                "guidance_scale": number("guidance_scale", guidance_scale, *GUIDANCE),
                "temperature": number("temperature", temperature, *TEMPERATURE),
            }
            if not isinstance(verify, bool):  # bool("no") is True
                raise ValueError(f"verify must be true or false, got {verify!r:.40}")
            images = pipe.draw([conditions], num_images, verifier=reader if verify else None, **options)
        except ValueError as e:  # the user's input: show the message in the page, not a traceback
            raise gr.Error(str(e), print_exception=False) from e
        if "hour" not in conditions:  # a style without a time: nothing for the reader to check
            return [(image, "") for image in pipe.to_images(images)]
        return list(zip(pipe.to_images(images), caption(reader, images, conditions["hour"], conditions["minute"])))

    return generate


def prepare(prompt: str, seed, randomize: bool, fields=CLOCK_FIELDS) -> tuple[int, str]:
    """Before drawing: the seed to use (a fresh one if asked) and a line saying what the prompt was read as."""
    seed = random.randrange(MAX_SEED + 1) if randomize else int(seed or 0)
    try:
        read = read_prompt(prompt or "", fields)
    except ValueError as e:
        return seed, f"⚠️ {e}"
    c = read.conditions
    said = [format_time(c["hour"], c["minute"])] if "hour" in c else []
    said += [f"{k.replace('_', ' ')} {v}" for k, v in c.items() if k not in TIME_FIELDS]
    unused = f" (not used: {', '.join(read.unused)})" if read.unused else ""
    return seed, f"**{', '.join(said)}**, read from {prompt.strip()!r}{unused}, seed {seed}"


def build_demo(pipe, reader, max_images: int = MAX_IMAGES, queue_size: int = QUEUE_SIZE):
    """The page: prompt, options, a Draw button and a captioned gallery."""
    from pipelines.pipeline import MAX_REDRAWS

    gr = _gradio()
    generate = make_generate(pipe, reader, max_images)
    width, height = pipe.output_size
    style_words = ", ".join(w.replace("_", " ") for w in pipe.fields if w not in TIME_FIELDS) or "none"
    # every clock sent is a PNG in gradio's cache (about 12 KB on disk): drop those an hour old,
    # hourly, or a server that runs for weeks fills the disk
    with gr.Blocks(title="qvae: clocks from time prompts", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            f"# qvae\nType a time, in digits or words, with any style words the model knows "
            f"({style_words}), and get clocks that show it "
            f"({width}x{height} px, drawn on the CPU by a VQ-VAE tokenizer + autoregressive prior). "
            "Each caption is the time a separate clock-reading network reads off the picture."
        )
        with gr.Row():
            prompt = gr.Textbox(
                label="Time",
                placeholder="quarter past three",
                value="quarter past three",
                max_length=MAX_PROMPT_CHARS,
                scale=4,
                elem_id="prompt",
            )
            draw = gr.Button("Draw", variant="primary", scale=1, elem_id="draw")
        gr.Examples(EXAMPLES, inputs=prompt, label="Try")
        with gr.Row():
            num_images = gr.Slider(1, max_images, value=8, step=1, label="Number of images")
            guidance = gr.Slider(
                *GUIDANCE, value=pipe.sampling["guidance_scale"], step=0.5, label="Guidance scale (1 = none)"
            )
            temperature = gr.Slider(*TEMPERATURE, value=pipe.sampling["temperature"], step=0.05, label="Temperature")
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", minimum=0, maximum=MAX_SEED)
            with gr.Column():
                randomize = gr.Checkbox(value=False, label="Random seed")
                verify = gr.Checkbox(value=True, label=f"Redraw clocks the reader doubts (up to {MAX_REDRAWS} redraws)")
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
    return demo.queue(default_concurrency_limit=1, max_size=queue_size)


def run(args: argparse.Namespace) -> None:
    _gradio()  # fail before loading the models
    if args.max_images < 1:
        raise ValueError(f"--max-images must be at least 1, got {args.max_images}")
    if args.queue_size < 1:
        raise ValueError(f"--queue-size must be at least 1, got {args.queue_size}")
    from pipelines.pipeline import ClockPipeline

    pipe = ClockPipeline.from_pretrained(args.model)
    reader = pipe.reader_or_default(args.reader)
    demo = build_demo(pipe, reader, args.max_images, args.queue_size)
    try:
        demo.launch(server_name=args.host, server_port=args.port, show_error=True, css=CSS)
    except OSError as e:  # port taken or address not available
        raise UserError(f"cannot serve on {args.host}:{args.port}: {str(e).splitlines()[0]}") from e
