"""Test helper (not collected): run ``qvae`` exactly as a user would (``pipelines.cli``), then
have EVERY process dump the state dict it ended with to ``OUT/rank{N}.safetensors``, so a test can
check that all ranks hold bit-identical weights, codebooks and EMA buffers.

    accelerate launch [...] tests/distributed_run.py train-tokenizer --out OUT ...

``QVAE_TEST_STEP_DELAY=0.2`` sleeps that many seconds per micro step, so that a test can
SIGKILL a tiny run mid-epoch at a known point.
"""

import os
import sys
import time
from pathlib import Path

from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shared.training as training  # noqa: E402
from pipelines.cli import main  # noqa: E402


def _dumping(fit):
    def wrapped(args, *rest, **kwargs):
        model, metrics = fit(args, *rest, **kwargs)
        rank = int(os.environ.get("RANK", "0"))
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        save_file(state, Path(args.out) / f"rank{rank}.safetensors")
        return model, metrics

    return wrapped


def _slowed(micro_batches, delay: float):
    def wrapped(*args, **kwargs):
        for item in micro_batches(*args, **kwargs):
            time.sleep(delay)
            yield item

    return wrapped


if float(os.environ.get("QVAE_TEST_STEP_DELAY", "0")) > 0:
    training.micro_batches = _slowed(training.micro_batches, float(os.environ["QVAE_TEST_STEP_DELAY"]))
training.fit = _dumping(training.fit)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
