"""The ``qvae`` command line. Each subcommand lives in the module that does the work; modules
load only when used, so ``qvae --help`` stays fast. A trainer declares its settings once, as
dataclasses in ``ARGUMENTS`` (parsed by ``transformers.HfArgumentParser``) and takes them in
``run(*arguments)``; the other commands expose ``add_arguments(parser)`` and ``run(args)``.

A user's mistake (bad time, missing folder, wrong image) prints one line and exits 2;
set ``QVAE_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from shared.errors import UserError

COMMANDS = {
    "data": ("shared.data_cli", "render the clock dataset (train/validation/test) to a folder"),
    "train-tokenizer": ("stage1_vqvae.train", "train the stage-1 tokenizer (vqvae) or a baseline (ae, vae, cvae)"),
    "train-prior": ("stage2_prior.train", "train the stage-2 prior on exported tokens"),
    "train-reader": ("pipelines.reader", "train the clock reader, or a reader of a labelled image folder"),
    "tokenize": ("pipelines.token_export", "turn a dataset or image folder into code ids (arrow, parquet, jsonl)"),
    "train": ("pipelines.train", "the whole chain: data (clocks, or --data yours), tokenizer, tokens, prior, pipeline"),
    "generate": ("pipelines.generate", "draw prompts (a time, style words) or --condition FIELD=VALUE into a grid"),
    "evaluate": ("pipelines.evaluate", "measure a pipeline folder with its reader: the time it draws, or each field"),
    "serve": ("pipelines.serve", "a local web page to type a time and see clocks (needs the web extra)"),
}

USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError, UserError)


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s module is imported, to add its options."""
    parser = argparse.ArgumentParser(
        prog="qvae", description="VQ-VAE tokenizer + autoregressive prior that draws clocks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module)
            module.add_arguments(p)
            p.set_defaults(run=module.run)
    return parser


def command_call(argv: list[str]):
    """``(command, call)``: what ``argv`` asks for, as a function of no arguments to run."""
    command = argv[0] if argv and argv[0] in COMMANDS else None
    module = importlib.import_module(COMMANDS[command][0]) if command else None
    if module is not None and hasattr(module, "ARGUMENTS"):
        from transformers import HfArgumentParser

        parser = HfArgumentParser(module.ARGUMENTS, prog=f"qvae {command}", description=COMMANDS[command][1])
        return command, lambda: module.run(*parser.parse_args_into_dataclasses(argv[1:], look_for_args_file=False))
    args = build_parser(command).parse_args(argv)
    return args.command, lambda: args.run(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command, call = command_call(argv)
    try:
        call()
    except USER_ERRORS as e:
        if os.environ.get("QVAE_DEBUG"):
            raise
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"qvae {command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qvae {command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
