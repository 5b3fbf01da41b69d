"""The prior: a ``transformers`` causal LM (Llama by default, GPT-2 accepted), random init."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig, GPT2Config, LlamaConfig, PreTrainedModel

from shared.loading import load_pretrained

from .dial import DialPrior, DialPriorConfig, hand_turns
from .vocab import CONFIG_KEY, TIME_FIELDS, Vocab, prior_vocab

AutoConfig.register(DialPriorConfig.model_type, DialPriorConfig)
AutoModelForCausalLM.register(DialPriorConfig, DialPrior)

# width, layers, heads, MLP width (Llama SwiGLU; GPT-2 uses 4x width)
PRESETS = {
    "tiny": dict(hidden=64, layers=2, heads=4, mlp=192),
    "small": dict(hidden=256, layers=6, heads=8, mlp=704),
    "base": dict(hidden=512, layers=12, heads=8, mlp=1408),
}
FAMILIES = ("llama", "gpt2")


def build_config(vocab: Vocab, preset: str = "small", family: str = "llama", dial: bool = False, **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}: choose one of {', '.join(FAMILIES)}")
    p = PRESETS[preset]
    common = dict(
        vocab_size=vocab.size, pad_token_id=vocab.pad, bos_token_id=None, eos_token_id=None, tie_word_embeddings=False
    )
    if family == "llama":
        kw = dict(
            hidden_size=p["hidden"],
            num_hidden_layers=p["layers"],
            num_attention_heads=p["heads"],
            num_key_value_heads=p["heads"],
            intermediate_size=p["mlp"],
            max_position_embeddings=vocab.seq_len,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            attention_dropout=0.0,
            **common,
        )
        kw.update(overrides)
        config = (DialPriorConfig if dial else LlamaConfig)(**kw)
    else:
        kw = dict(
            n_embd=p["hidden"],
            n_layer=p["layers"],
            n_head=p["heads"],
            n_inner=4 * p["hidden"],
            n_positions=vocab.seq_len,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **common,
        )
        kw.update(overrides)
        config = GPT2Config(**kw)
    setattr(config, CONFIG_KEY, vocab.to_dict())
    return config


def generation_config(vocab: Vocab) -> GenerationConfig:
    return GenerationConfig(
        max_new_tokens=vocab.num_codes,
        min_new_tokens=vocab.num_codes,
        do_sample=False,
        pad_token_id=vocab.pad,
        bos_token_id=None,
        eos_token_id=None,
        use_cache=True,
    )


def build_prior(
    codebook_size: int,
    grid_shape=(8, 8),
    preset: str = "small",
    family: str = "llama",
    fields=TIME_FIELDS,
    dial: bool = True,
    **overrides,
) -> PreTrainedModel:
    """A randomly initialised causal LM over the vocabulary of ``codebook_size`` codes and the
    condition ``fields`` (stored in ``config.qvae_vocab``). With ``dial`` and numeric ``hour`` and
    ``minute`` fields, a Llama prior is the dial prior (``stage2_prior.dial``)."""
    vocab = Vocab(codebook_size, tuple(grid_shape), tuple(fields))
    model = AutoModelForCausalLM.from_config(
        build_config(vocab, preset, family, uses_dial(vocab, family, dial), **overrides)
    )
    model.generation_config = generation_config(vocab)
    return model


def uses_dial(vocab: Vocab, family: str, dial: bool = True) -> bool:
    """Whether ``build_prior`` makes the dial prior: asked, Llama, numeric hour and minute fields."""
    return dial and family == "llama" and hand_turns(vocab) is not None


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def load_prior(path, dtype=torch.float32, device=None) -> PreTrainedModel:
    """A saved prior folder (``OUT/model``, or a pipeline's ``prior/``) -> the causal LM in eval mode, its
    vocabulary checked, computing in ``dtype`` (float32 unless asked) on ``device``. Strict: see ``shared.loading``."""
    model = load_pretrained(AutoModelForCausalLM, path, dtype=dtype, device=device, what="prior")
    try:
        vocab = prior_vocab(model)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{str(path)!r} is not a stage-2 prior: {e}") from e
    if model.config.vocab_size != vocab.size:
        raise ValueError(
            f"the prior at {str(path)!r} disagrees with itself: its config.json has vocab_size="
            f"{model.config.vocab_size} but its vocabulary ({CONFIG_KEY}) has {vocab.size} tokens"
        )
    return model
