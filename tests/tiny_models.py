"""Tiny, seeded stage-1 and stage-2 models for tests (not collected: no test_ prefix)."""

import torch

from stage1_vqvae import VQVAEConfig, VQVAEModel
from stage2_prior import build_prior

TINY_TOKENIZER = {
    "channels": [8, 16, 16],
    "decoder_channels": [8, 16, 16],
    "decoder_res_blocks": 1,
    "latent_dim": 8,
    "codebook_size": 16,
    "image_size": 32,
}
"""Config overrides of a tiny tokenizer for training tests (32 px, K = 16)."""


def tiny_tokenizer(codebook_size: int = 64) -> VQVAEModel:
    """32 px images -> 4x4 grids of ``codebook_size`` codes."""
    torch.manual_seed(0)
    config = VQVAEConfig(
        image_size=32,
        downsample=8,
        channels=[8, 16, 16],
        decoder_channels=[8, 16, 16],
        latent_dim=8,
        codebook_size=codebook_size,
        kmeans_init=False,
    )
    return VQVAEModel(config).eval()


def tiny_prior(codebook_size: int = 64, grid=(4, 4), **kwargs):
    torch.manual_seed(0)
    return build_prior(codebook_size, grid_shape=grid, preset="tiny", **kwargs)


class TwoConvs(torch.nn.Module):
    """A stand-in for a reader: two feature maps of an image."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)

    def feature_maps(self, images):
        first = torch.relu(self.a(images))
        return [first, self.b(first)]
