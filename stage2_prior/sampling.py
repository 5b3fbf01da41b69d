"""Sampling code grids from a prior with ``generate()`` (KV cache), guidance in one batch.

The batch holds the conditional rows and, when ``guidance_scale != 1``, the unconditional
(null-condition) rows after them, all in one forward per step. ``GuidedCodeSampler`` (a
``LogitsProcessor``) mixes the two halves, keeps code ids only, applies temperature /
top-k / top-p, draws the token with its own seeded generator and hands ``generate`` a
one-hot score, so greedy decoding appends the same token to a row and its unconditional twin.
"""

from __future__ import annotations

import math

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from .vocab import prior_vocab


def filter_logits(logits: torch.Tensor, top_k=None, top_p=None) -> torch.Tensor:
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        remove = cum - sorted_logits.softmax(-1) >= top_p  # keep the smallest set with mass >= top_p
        remove[..., 0] = False
        logits = logits.masked_fill(remove.scatter(-1, idx, remove), float("-inf"))
    return logits


class GuidedCodeSampler(LogitsProcessor):
    """Mixes conditional and unconditional rows, keeps code ids, samples (see module docstring).

    ``min_p`` keeps only the codes whose *conditional* probability is at least ``min_p``
    times the most likely one's. Guidance needs it: ``u + s * (c - u)`` hugely favours codes
    the unconditional model finds far less likely than the conditional one, even when both
    find them implausible, and at large scales such codes win (measured in
    benchmarks/RESULTS.md).
    """

    def __init__(
        self,
        codebook_size: int,
        batch: int,
        guidance_scale: float = 1.0,
        temperature: float = 1.0,
        top_k=None,
        top_p=None,
        generator: torch.Generator | None = None,
        min_p=None,
    ):
        self.k, self.batch, self.scale = codebook_size, batch, float(guidance_scale)
        self.temperature, self.top_k, self.top_p, self.generator = temperature, top_k, top_p, generator
        self.min_p = min_p

    def __call__(self, input_ids, scores):
        logits = scores[:, : self.k].float()
        cond = logits[: self.batch]
        if logits.shape[0] == 2 * self.batch:
            uncond = logits[self.batch :]
            logits = uncond + self.scale * (cond - uncond)
        if self.min_p:
            cond = cond.log_softmax(-1)
            logits = logits.masked_fill(cond < cond.max(-1, keepdim=True).values + math.log(self.min_p), float("-inf"))
        if self.temperature <= 0:
            tokens = logits.argmax(-1)
        else:
            logits = filter_logits(logits / self.temperature, self.top_k, self.top_p)
            probs = logits.softmax(-1)
            tokens = torch.multinomial(probs.cpu(), 1, generator=self.generator).squeeze(1).to(scores.device)
        if scores.shape[0] == 2 * self.batch:
            tokens = torch.cat([tokens, tokens])
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, tokens[:, None], 0.0)
        return out


@torch.no_grad()
def sample(
    prior,
    conditions,
    num_per_condition: int = 1,
    temperature: float = 1.0,
    top_k=None,
    top_p=None,
    guidance_scale: float = 1.0,
    seed=None,
    use_cache: bool = True,
    min_p=None,
) -> torch.LongTensor:
    """Code grids ``LongTensor [B, h, w]``, B = len(conditions) * num_per_condition, condition-major.

    ``conditions``: a list of ``{field: value}`` (a field not given is left open and drawn as
    the data has it; an unknown field or value is a ValueError listing what is accepted), or
    an index tensor ``[B, n]`` (-1 = open). ``guidance_scale`` 1 is plain conditional
    sampling; > 1 runs classifier-free guidance, the given fields against all-null, with the
    conditional and unconditional rows in one batched forward. ``temperature`` 0
    is greedy. ``min_p`` restricts sampling to codes whose conditional probability is at
    least ``min_p`` times the top one's (use it with guidance > 1). The same ``seed`` gives
    the same ids.
    """
    vocab = prior_vocab(prior)
    if num_per_condition < 1:
        raise ValueError(f"num_per_condition must be >= 1, got {num_per_condition}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if min_p is not None and not 0 <= min_p < 1:
        raise ValueError(f"min_p must be in [0, 1), got {min_p}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale must be >= 0 (1 = no guidance), got {guidance_scale}")
    cond = vocab.condition_ids(vocab.encode(conditions)).repeat_interleave(num_per_condition, dim=0)
    batch = len(cond)
    guided = float(guidance_scale) != 1.0
    prompt = torch.cat([cond, vocab.null_ids(batch)]) if guided else cond
    device = next(prior.parameters()).device
    prompt = prompt.to(device)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    generator = torch.Generator().manual_seed(int(seed))
    processor = GuidedCodeSampler(
        vocab.codebook_size, batch, guidance_scale, temperature, top_k, top_p, generator, min_p
    )
    was_training = prior.training
    prior.eval()
    try:
        out = prior.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            logits_processor=LogitsProcessorList([processor]),
            do_sample=False,
            max_new_tokens=vocab.num_codes,
            min_new_tokens=vocab.num_codes,
            use_cache=use_cache,
            pad_token_id=vocab.pad,
            eos_token_id=None,
            num_beams=1,
        )
    finally:
        prior.train(was_training)
    codes = out[:batch, vocab.num_cond : vocab.num_cond + vocab.num_codes]
    return codes.reshape(batch, *vocab.grid_shape).cpu()
