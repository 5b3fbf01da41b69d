"""``VQVAEConfig`` / ``VQVAEModel``: the stage-1 image tokenizer as a transformers model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from shared.loading import load_pretrained

from .blocks import Decoder, Encoder
from .fsq import FSQ
from .quantizer import VectorQuantizer


class TokenizerConfigBase(PretrainedConfig):
    """Fields shared by the VQ-VAE and the AE / VAE / CVAE baselines.

    ``channels``: encoder widths at H/2, H/4, H/8 (one per halving); ``decoder_channels``
    the decoder's (wider by default: the decoder must redraw thin clock hands);
    ``edge_weight`` > 0 weights the reconstruction error up where the target has edges.
    """

    def __init__(
        self,
        image_size: int = 64,
        in_channels: int = 3,
        downsample: int = 8,
        channels: list[int] | tuple[int, ...] = (32, 64, 128),
        decoder_channels: list[int] | tuple[int, ...] | None = (64, 128, 256),
        num_res_blocks: int = 1,
        decoder_res_blocks: int | None = 2,
        attention: bool = False,
        latent_dim: int = 64,
        recon_loss: str = "mse",
        edge_weight: float = 0.0,
        **kwargs,
    ):
        if downsample not in (2, 4, 8, 16):
            raise ValueError(f"downsample must be 2, 4, 8 or 16, got {downsample}")
        if recon_loss not in ("mse", "l1"):
            raise ValueError(f"recon_loss must be 'mse' or 'l1', got {recon_loss!r}")
        self.image_size, self.in_channels, self.downsample = image_size, in_channels, downsample
        self.channels = list(channels)
        self.decoder_channels = list(decoder_channels) if decoder_channels else list(channels)
        self.num_res_blocks = num_res_blocks
        self.decoder_res_blocks = num_res_blocks if decoder_res_blocks is None else decoder_res_blocks
        self.attention, self.latent_dim = attention, latent_dim
        self.recon_loss, self.edge_weight = recon_loss, edge_weight
        super().__init__(**kwargs)


class VQVAEConfig(TokenizerConfigBase):
    """``quantizer="fsq"``: ``fsq_levels`` per id and ``fsq_groups`` ids a position (``FSQ``'s groups)."""

    model_type = "qvae_vqvae"

    def __init__(
        self,
        codebook_size: int = 512,
        quantizer: str = "ema",
        code_dim: int | None = None,
        beta: float = 0.25,
        decay: float = 0.99,
        cosine: bool = False,
        kmeans_init: bool = True,
        restart_after: int = 50,
        estimator: str = "ste",
        fsq_levels=(8, 8, 8),
        fsq_groups: int = 1,
        **kwargs,
    ):
        if quantizer not in ("ema", "learned", "fsq"):
            raise ValueError(f"quantizer must be 'ema', 'learned' or 'fsq', got {quantizer!r}")
        self.quantizer, self.code_dim, self.beta, self.decay = quantizer, code_dim, beta, decay
        self.cosine, self.kmeans_init, self.restart_after = cosine, kmeans_init, restart_after
        self.estimator, self.fsq_levels, self.fsq_groups = estimator, list(fsq_levels), fsq_groups
        if quantizer == "fsq":
            codebook_size = 1
            for level in self.fsq_levels:
                codebook_size *= level
        self.codebook_size = codebook_size
        super().__init__(**kwargs)


@dataclass
class TokenizerOutput(ModelOutput):
    loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    recon_loss: torch.Tensor | None = None
    quant_loss: torch.Tensor | None = None
    kl: torch.Tensor | None = None
    indices: torch.Tensor | None = None
    usage: torch.Tensor | None = None
    perplexity: torch.Tensor | None = None
    restarted: torch.Tensor | None = None


def reconstruction_loss(x: torch.Tensor, target: torch.Tensor, kind: str = "mse", edge_weight: float = 0.0):
    """Per-pixel L2 or L1, optionally weighted up where the target has edges (clock hands)."""
    err = x.float() - target.float()
    err = err.pow(2) if kind == "mse" else err.abs()
    if edge_weight <= 0:
        return err.mean()
    t = target.float()
    edges = (t - F.avg_pool2d(t, 3, 1, 1, count_include_pad=False)).abs().mean(1, keepdim=True)
    w = 1 + edge_weight * edges / edges.flatten(1).mean(1).clamp_min(1e-6)[:, None, None, None]
    return (err * w).sum() / (w.sum() * err.shape[1])


class PerceptualLoss(torch.nn.Module):
    """``weight`` x how far a frozen network sees a reconstruction from its original, as LPIPS measures
    it (Zhang et al. 2018, without its learned channel weights): each feature map unit-normalized over
    its channels, the squared differences summed over channels, averaged over positions, summed over
    maps. ``network.feature_maps(images)`` gives the maps (the clock reader has one, so a tokenizer
    learns to keep what a reader of its data looks at: tick marks, the tip of a hand; RESULTS.md)."""

    def __init__(self, network: torch.nn.Module, weight: float):
        super().__init__()
        if weight <= 0:
            raise ValueError(f"a perceptual term's weight is > 0, got {weight}")
        self.network, self.weight = network.eval().requires_grad_(False), weight

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.network.to(x.device)  # (kept beside the model it trains, not prepared with it)
        with torch.no_grad():
            seen = self.network.feature_maps(target)
        maps = self.network.feature_maps(x)
        unit = partial(F.normalize, dim=1)  # over channels, as the quantizer's cosine codes are
        return self.weight * sum(
            (unit(a.float()) - unit(b.float())).pow(2).sum(1).mean() for a, b in zip(maps, seen, strict=True)
        )


class TokenizerPreTrainedModel(PreTrainedModel):
    """Common checks; weights are initialized by the modules themselves (``_init_weights`` keeps them)."""

    base_model_prefix = "tokenizer"
    main_input_name = "images"

    def _init_weights(self, module):  # post_init must not re-initialize (transformers 5)
        pass

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        f = self.config.downsample
        if height % f or width % f:
            raise ValueError(f"image size {height}x{width} is not divisible by the downsampling factor {f}")
        return height // f, width // f

    def check_images(self, images: torch.Tensor) -> None:
        if not torch.is_tensor(images) or images.ndim != 4:
            raise ValueError(
                f"expected images as a float tensor [B, {self.config.in_channels}, H, W], got "
                f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}"
            )
        if images.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected {self.config.in_channels} channels (RGB images [B, 3, H, W] in [-1, 1]), "
                f"got {images.shape[1]} channels in shape {tuple(images.shape)}"
            )
        self.grid_shape(images.shape[2], images.shape[3])

    def recon_loss(self, x, target):
        return reconstruction_loss(x, target, self.config.recon_loss, self.config.edge_weight)


class VQVAEModel(TokenizerPreTrainedModel):
    config_class = VQVAEConfig

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        c = config
        self.encoder = Encoder(c.in_channels, c.latent_dim, c.channels, c.downsample, c.num_res_blocks, c.attention)
        self.decoder = Decoder(
            c.latent_dim, c.in_channels, c.decoder_channels, c.downsample, c.decoder_res_blocks, c.attention
        )
        if c.quantizer == "fsq":
            self.quantizer = FSQ(tuple(c.fsq_levels), c.latent_dim, groups=c.fsq_groups)
        else:
            self.quantizer = VectorQuantizer(
                c.codebook_size,
                c.latent_dim,
                c.code_dim,
                c.beta,
                ema=c.quantizer == "ema",
                decay=c.decay,
                cosine=c.cosine,
                kmeans_init=c.kmeans_init,
                restart_after=c.restart_after,
                estimator=c.estimator,
            )
        self.post_init()

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        h, w = super().grid_shape(height, width)
        return h, w * getattr(self.quantizer, "groups", 1)  # grouped FSQ: its ids side by side

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Float images ``[B, 3, H, W]`` in ``[-1, 1]`` -> code ids ``LongTensor [B, H/f, W/f * groups]``."""
        self.check_images(images)
        return self.quantizer.indices(self.encoder(images))

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Code ids ``[B, h, w]`` -> images ``[B, 3, h*f, w*f]`` in ``[-1, 1]``."""
        if not torch.is_tensor(ids) or ids.ndim != 3 or ids.dtype.is_floating_point:
            raise ValueError(
                f"expected code ids as an integer tensor [B, h, w], got "
                f"{tuple(ids.shape) if torch.is_tensor(ids) else type(ids).__name__}"
            )
        k = self.config.codebook_size
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= k):
            raise ValueError(f"code ids must lie in [0, {k}) (codebook_size), got [{int(ids.min())}, {int(ids.max())}]")
        z = self.quantizer.lookup(ids.long().to(self.device)).permute(0, 3, 1, 2)
        return self.decoder(z).float().clamp(-1, 1)

    def forward(self, images: torch.Tensor, **kwargs) -> TokenizerOutput:
        self.check_images(images)
        quant, indices, quant_loss, stats = self.quantizer(self.encoder(images))
        recon = self.decoder(quant)
        rec = self.recon_loss(recon, images)
        return TokenizerOutput(
            loss=rec + quant_loss,
            reconstruction=recon,
            recon_loss=rec.detach(),
            quant_loss=quant_loss.detach(),
            indices=indices,
            **stats,
        )


def load_tokenizer(path, dtype: torch.dtype | None = torch.float32, device=None) -> VQVAEModel:
    """A saved tokenizer folder -> ``VQVAEModel`` in eval mode, computing in ``dtype`` (float32 unless asked,
    whatever dtype the weights are stored in) on ``device``: the one way every path opens a tokenizer, so
    that ``qvae tokenize``, the pipeline and the examples give the same ids. Strict: see ``shared.loading``."""
    return load_pretrained(VQVAEModel, path, dtype=dtype, device=device, what="tokenizer")
