import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/tiny_models.py, tests/clock_renderer_b.py, tests/scripts.py
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def clocks(tmp_path_factory):
    """A saved 32 px clock dataset (720 images per split: every time once; 16 styles, so that tiny models
    learn something in a few steps)."""
    from shared.data import build_clock_dataset

    path = tmp_path_factory.mktemp("data") / "clocks"
    build_clock_dataset(train=720, val=720, test=720, size=32, num_styles=16, num_proc=1, progress=False).save_to_disk(
        str(path)
    )
    return path


@pytest.fixture(scope="session")
def tokens(tmp_path_factory):
    """A toy token folder (K=16, 4x4 grids) whose code is a function of the hour: easy to learn."""
    from stage2_prior import write_token_folder

    g = torch.Generator().manual_seed(0)
    n = 160
    hours, minutes = torch.randint(0, 12, (n,), generator=g), torch.randint(0, 60, (n,), generator=g)
    grids = ((hours * 3) % 16)[:, None, None].expand(n, 4, 4).clone()
    return write_token_folder(tmp_path_factory.mktemp("tok") / "tokens", grids, {"hour": hours, "minute": minutes}, 16)
