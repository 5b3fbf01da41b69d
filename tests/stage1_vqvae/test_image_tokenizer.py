"""The shipped image tokenizer (pipelines/weights/image_tokenizer): images it never saw come back
better than through a 16x16 thumbnail, at half the thumbnail's bits."""

import random

import pytest
import torch
from clock_renderer_b import draw_clock

from pipelines.reader import RenderedClocks
from shared.clocks import HELD_OUT_STYLE
from shared.image_mix import held_out_files, render_example
from shared.images import psnr, thumbnail, to_tensor
from stage1_vqvae import load_tokenizer

PATH = "pipelines/weights/image_tokenizer"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(PATH)


def test_it_is_f4_with_4096_codes_and_computes_in_float32(tokenizer):
    assert tokenizer.dtype == torch.float32  # stored as float16
    assert (tokenizer.config.downsample, tokenizer.config.codebook_size, tokenizer.config.image_size) == (4, 4096, 64)


@torch.inference_mode()
def test_unseen_images_beat_the_thumbnail(tokenizer):
    rng = random.Random(0)
    sets = {
        "held-out clock style": RenderedClocks(24, "test-image-tokenizer", **HELD_OUT_STYLE).batch()["images"],
        "another renderer": to_tensor([draw_clock(rng.randrange(12), rng.randrange(60), 64, i) for i in range(24)]),
    }
    files = held_out_files()  # emoji and other clocks: never in its training
    if files:
        sets["held-out files"] = to_tensor([render_example("icons", files[i % len(files)], 64, rng) for i in range(24)])
    for name, x in sets.items():  # images in [-1, 1]
        ids = tokenizer.encode(x)
        assert ids.shape[1:] == (16, 16)
        ours, thumb = psnr(tokenizer.decode(ids).clamp(-1, 1), x).mean(), psnr(thumbnail(x), x).mean()
        assert ours > thumb + 2, (name, ours, thumb)
        if "clock" in name or "renderer" in name:
            assert ours > 26, (name, ours)
