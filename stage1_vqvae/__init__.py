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
from .modeling import TokenizerOutput, VQVAEConfig, VQVAEModel, load_tokenizer
from .quantizer import VectorQuantizer

for _config, _model in (
    (VQVAEConfig, VQVAEModel),
    (AutoencoderConfig, AutoencoderModel),
    (VAEConfig, VAEModel),
    (ConditionalVAEConfig, ConditionalVAEModel),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)

__all__ = [
    "VectorQuantizer",
    "FSQ",
    "VQVAEConfig",
    "VQVAEModel",
    "TokenizerOutput",
    "AutoencoderConfig",
    "AutoencoderModel",
    "VAEConfig",
    "VAEModel",
    "ConditionalVAEConfig",
    "ConditionalVAEModel",
    "time_features",
    "load_tokenizer",
]
