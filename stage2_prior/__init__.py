"""Stage 2: a conditional autoregressive prior over VQ code tokens (sees token ids only)."""

from .data import bits_per_token, load_tokens, make_batch, write_token_folder
from .model import PRESETS, build_prior, load_prior
from .sampling import GuidedCodeSampler, sample
from .vocab import Vocab, prior_vocab

__all__ = [
    "PRESETS",
    "bits_per_token",
    "GuidedCodeSampler",
    "Vocab",
    "build_prior",
    "load_tokens",
    "make_batch",
    "prior_vocab",
    "sample",
    "write_token_folder",
    "train_prior",
    "load_prior",
]


def train_prior(*args, **kwargs):
    from .train import train_prior as _train_prior

    return _train_prior(*args, **kwargs)
