"""Convolutional encoder / decoder shared by the VQ-VAE and the AE / VAE / CVAE baselines.

Cheap on a CPU: a strided stem halves the resolution first, residual blocks run only at
H/4 and below, and the decoder ends with a sub-pixel conv at H/2 (no full-resolution conv).
"""

from __future__ import annotations

import math

from torch import nn


def _norm(c: int) -> nn.Module:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            _norm(c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1), _norm(c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1)
        )

    def forward(self, x):
        return x + self.body(x)


class Attention(nn.Module):
    """Single-head self-attention over the positions of a feature map."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = _norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=-1)
        y = nn.functional.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.out(y.transpose(1, 2).reshape(b, c, h, w))


def _levels(downsample: int, channels) -> list[int]:
    n = int(math.log2(downsample))
    if 2**n != downsample or n < 1:
        raise ValueError(f"downsample must be a power of two (4 or 8), got {downsample}")
    channels = list(channels)
    if len(channels) < n:
        channels += [channels[-1]] * (n - len(channels))
    return channels[:n]


class _Stack(nn.Module):
    """``net``: the layers that the subclass's ``build`` lays out for the channels of each level."""

    def __init__(
        self, in_channels: int, out_channels: int, channels, downsample: int, num_res_blocks: int, attention: bool
    ):
        super().__init__()
        ch = _levels(downsample, channels)
        self.net = nn.Sequential(*self.build(in_channels, out_channels, ch, num_res_blocks, attention))

    def forward(self, x):
        return self.net(x)


class Encoder(_Stack):
    """``[B, in, H, W]`` -> ``[B, out, H/f, W/f]``: strided stem, then res blocks + strided convs."""

    @staticmethod
    def build(in_channels: int, out_channels: int, ch: list[int], num_res_blocks: int, attention: bool) -> list:
        layers = [nn.Conv2d(in_channels, ch[0], 4, 2, 1), nn.SiLU()]
        for i in range(1, len(ch)):
            layers.append(nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1))
            layers += [ResBlock(ch[i]) for _ in range(num_res_blocks)]
        if attention:
            layers += [Attention(ch[-1]), ResBlock(ch[-1])]
        return layers + [_norm(ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], out_channels, 1)]


class Decoder(_Stack):
    """``[B, in, h, w]`` -> ``[B, 3, h*f, w*f]``, mirroring the encoder (optionally wider)."""

    @staticmethod
    def build(in_channels: int, out_channels: int, ch: list[int], num_res_blocks: int, attention: bool) -> list:
        layers = [nn.Conv2d(in_channels, ch[-1], 3, padding=1)]
        layers += [ResBlock(ch[-1]) for _ in range(num_res_blocks)]
        if attention:
            layers += [Attention(ch[-1]), ResBlock(ch[-1])]
        for i in range(len(ch) - 1, 0, -1):
            layers.append(nn.ConvTranspose2d(ch[i], ch[i - 1], 4, 2, 1))
            if i > 1:  # no residual blocks at the stem's resolution (H/2): they dominate the cost
                layers += [ResBlock(ch[i - 1]) for _ in range(num_res_blocks)]
        # sub-pixel output: a conv at H/2 predicts 2x2 pixels each (no full-resolution conv: cheap + sharp)
        return layers + [_norm(ch[0]), nn.SiLU(), nn.Conv2d(ch[0], 4 * out_channels, 3, padding=1), nn.PixelShuffle(2)]
