"""The seed's baselines on the same encoder / decoder blocks: AE, (beta-)VAE, conditional VAE.

The VAE loss is ``recon + beta * KL / pixels``: the closed-form Gaussian KL of the whole
latent grid, per image, divided by the number of image values so it is on the scale of
the per-pixel reconstruction error (an ELBO with a fixed decoder variance).
"""

from __future__ import annotations

import math

import torch

from .blocks import Decoder, Encoder
from .modeling import TokenizerConfigBase, TokenizerOutput, TokenizerPreTrainedModel


class AutoencoderConfig(TokenizerConfigBase):
    model_type = "qvae_autoencoder"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)


class VAEConfig(TokenizerConfigBase):
    model_type = "qvae_vae"

    def __init__(self, beta: float = 1.0, latent_dim: int = 8, **kwargs):
        self.beta = beta
        super().__init__(latent_dim=latent_dim, **kwargs)


class ConditionalVAEConfig(VAEConfig):
    model_type = "qvae_cvae"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)


def time_features(hour, minute) -> torch.Tensor:
    """``[B, 4]``: sin / cos of the hour-hand and minute-hand angles."""
    hour = torch.as_tensor(hour, dtype=torch.float32).reshape(-1)
    minute = torch.as_tensor(minute, dtype=torch.float32).reshape(-1)
    a_hour = ((hour % 12) + minute / 60) / 12 * 2 * math.pi
    a_min = minute / 60 * 2 * math.pi
    return torch.stack([a_hour.sin(), a_hour.cos(), a_min.sin(), a_min.cos()], dim=1)


def _blocks(c: TokenizerConfigBase, enc_out: int, enc_in_extra: int = 0, dec_in_extra: int = 0):
    enc = Encoder(c.in_channels + enc_in_extra, enc_out, c.channels, c.downsample, c.num_res_blocks, c.attention)
    dec = Decoder(
        c.latent_dim + dec_in_extra, c.in_channels, c.decoder_channels, c.downsample, c.decoder_res_blocks, c.attention
    )
    return enc, dec


class AutoencoderModel(TokenizerPreTrainedModel):
    """Plain autoencoder: continuous latent grid, reconstruction loss only, no sampling."""

    config_class = AutoencoderConfig

    def __init__(self, config):
        super().__init__(config)
        self.encoder, self.decoder = _blocks(config, config.latent_dim)
        self.post_init()

    @torch.no_grad()
    def encode(self, images):
        self.check_images(images)
        return self.encoder(images)

    @torch.no_grad()
    def decode(self, z):
        return self.decoder(z).float().clamp(-1, 1)

    def forward(self, images, **kwargs):
        self.check_images(images)
        recon = self.decoder(self.encoder(images))
        rec = self.recon_loss(recon, images)
        return TokenizerOutput(loss=rec, reconstruction=recon, recon_loss=rec.detach())


class VAEModel(TokenizerPreTrainedModel):
    """VAE with a Gaussian latent grid; ``config.beta`` > 1 makes it a beta-VAE."""

    config_class = VAEConfig
    cond_dim = 0

    def __init__(self, config):
        super().__init__(config)
        self.encoder, self.decoder = _blocks(config, 2 * config.latent_dim, self.cond_dim, self.cond_dim)
        self.post_init()

    def _cond_map(self, cond, like):
        return cond.to(like)[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])

    def _encode(self, images, cond=None):
        x = images if cond is None else torch.cat([images, self._cond_map(cond, images)], 1)
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def _decode(self, z, cond=None):
        if cond is not None:
            z = torch.cat([z, self._cond_map(cond, z)], 1)
        return self.decoder(z)

    @torch.no_grad()
    def encode(self, images, cond=None):
        """The posterior mean ``[B, latent_dim, h, w]``."""
        self.check_images(images)
        return self._encode(images, cond)[0]

    @torch.no_grad()
    def decode(self, z, cond=None):
        return self._decode(z, cond).float().clamp(-1, 1)

    def latent_shape(self, n: int) -> tuple[int, ...]:
        h, w = self.grid_shape(self.config.image_size, self.config.image_size)
        return (n, self.config.latent_dim, h, w)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None, cond=None) -> torch.Tensor:
        z = torch.randn(self.latent_shape(n), generator=generator).to(self.device)
        return self.decode(z, cond)

    def _forward(self, images, cond=None):
        self.check_images(images)
        mu, logvar = self._encode(images, cond)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        recon = self._decode(z.to(images.dtype) if images.dtype != torch.float32 else z, cond)
        rec = self.recon_loss(recon, images)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1).mean()
        kl_scaled = kl / images[0].numel()
        loss = rec + self.config.beta * kl_scaled
        return TokenizerOutput(loss=loss, reconstruction=recon, recon_loss=rec.detach(), kl=kl.detach())

    def forward(self, images, **kwargs):
        return self._forward(images)


class ConditionalVAEModel(VAEModel):
    """VAE with the time (sin / cos of both hand angles) fed to encoder and decoder."""

    config_class = ConditionalVAEConfig
    cond_dim = 4

    def forward(self, images, hour=None, minute=None, **kwargs):
        if hour is None or minute is None:
            raise ValueError("the conditional VAE needs hour and minute for every image")
        return self._forward(images, time_features(hour, minute).to(images.device))

    @torch.no_grad()
    def sample(self, hour, minute, n: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` clocks per (hour, minute) drawn from N(0, I): ``[len(hour) * n, 3, H, W]`` in ``[-1, 1]``."""
        cond = time_features(hour, minute).repeat_interleave(n, dim=0).to(self.device)
        return self.sample_prior(cond.shape[0], generator, cond)
