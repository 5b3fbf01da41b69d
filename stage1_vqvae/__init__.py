"""Stage 1: the VQ-VAE image tokenizer and its AE / VAE / CVAE baselines."""

from transformers import AutoConfig, AutoModel

from .baselines import (
    AutoencoderConfig,
    AutoencoderModel,
    ConditionalVAEConfig,
    ConditionalVAEModel,
    VAEConfig,
    VAEModel,
    time_features,
)
from .fsq import FSQ
from .modeling import PerceptualLoss, TokenizerOutput, VQVAEConfig, VQVAEModel, load_tokenizer
from .quantizer import VectorQuantizer

MODELS = {
    "vqvae": (VQVAEConfig, VQVAEModel),
    "ae": (AutoencoderConfig, AutoencoderModel),
    "vae": (VAEConfig, VAEModel),
    "cvae": (ConditionalVAEConfig, ConditionalVAEModel),
}
"""The stage-1 model kinds: name -> (config class, model class), registered with the Auto classes."""

for _config, _model in MODELS.values():
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)

__all__ = [
    "MODELS",
    "VectorQuantizer",
    "FSQ",
    "VQVAEConfig",
    "VQVAEModel",
    "TokenizerOutput",
    "PerceptualLoss",
    "AutoencoderConfig",
    "AutoencoderModel",
    "VAEConfig",
    "VAEModel",
    "ConditionalVAEConfig",
    "ConditionalVAEModel",
    "time_features",
    "load_tokenizer",
]
