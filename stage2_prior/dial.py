"""Hand geometry for priors conditioned on ``hour`` and ``minute``: the dial prior.

With the time as two independent tokens a prior must learn, for each of the 720 times and
each of the grid's cells, whether a hand crosses that cell, from ~30 drawings per time: a
CPU budget learns the faces and not the hands (benchmarks/RESULTS.md). The dial prior adds
to the input that predicts cell c a learned function of where c lies relative to the two
hands, assuming the dial is centred in the image: the cell's position (x, y, r), each hand's
angle and, per hand, the cell's offset along and across the hand (r cos, r sin of the angle
between them) with a few angular harmonics. Minute 15 then lies between 14 and 16, the same
hand geometry is shared by every time and every style, and a field left open (its null
token, as in guidance) contributes no hand.

The hand angles come from the value lists of the ``hour`` (0..11, or 1..12) and ``minute``
(0..59) fields, so a user's folder labelled with those columns gets the dial prior too.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from .vocab import TIME_FIELDS, Vocab, prior_vocab

HARMONICS = (1, 2, 4)
NUM_FEATURES = 3 + 2 * (1 + 2 + 2 + 2 * len(HARMONICS))  # cell (x, y, r); per hand: given, angle, offsets, harmonics


def hand_turns(vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per token id, the fraction of a turn of the hour value (``[size]``, -1 where the id is not
    an hour value) and of the minute value; None when the vocabulary has no numeric hour and
    minute fields."""
    if not {f.name for f in TIME_FIELDS} <= set(vocab.names):
        return None
    turns = []
    for name, period in (("hour", 12), ("minute", 60)):
        j = vocab.names.index(name)
        try:
            values = [int(str(v)) for v in vocab.fields[j].values]
        except ValueError:
            return None
        table = torch.full((vocab.size,), -1.0)
        first = int(vocab.offsets[j])
        table[first : first + len(values)] = torch.tensor([(v % period) / period for v in values])
        turns.append(table)
    return turns[0], turns[1]


def cell_geometry(grid_shape) -> torch.Tensor:
    """``[h*w, 4]``: each cell centre's x, y (in [-1, 1], y down), radius and angle clockwise from 12."""
    h, w = grid_shape
    y, x = torch.meshgrid((torch.arange(h) + 0.5) / h * 2 - 1, (torch.arange(w) + 0.5) / w * 2 - 1, indexing="ij")
    x, y = x.reshape(-1), y.reshape(-1)
    return torch.stack([x, y, torch.hypot(x, y), torch.atan2(x, -y)], dim=1)


def dial_features(condition_ids: torch.Tensor, vocab: Vocab, turns, cells: torch.Tensor | None = None) -> torch.Tensor:
    """Condition token ids ``[B, n]`` -> the geometry features ``[B, c, F]`` of the code cells whose
    ``cell_geometry`` rows are ``cells [c, 4]`` (every cell of the grid by default)."""
    cells = (cell_geometry(vocab.grid_shape) if cells is None else cells).to(condition_ids.device)
    x, y, r, phi = (cells[None, :, k] for k in range(4))
    j_hour, j_minute = vocab.names.index("hour"), vocab.names.index("minute")
    hour = turns[0].to(condition_ids.device)[condition_ids[:, j_hour]]
    minute = turns[1].to(condition_ids.device)[condition_ids[:, j_minute]]
    # the hour hand moves on with the minutes when both are given
    hour = torch.where((hour >= 0) & (minute >= 0), hour + minute / 12, hour)
    shape = (len(condition_ids), x.shape[1])
    feats = [x.expand(shape), y.expand(shape), r.expand(shape)]
    for turn in (hour, minute):
        given = (turn >= 0).float()[:, None]
        theta = (2 * math.pi * turn.clamp(min=0))[:, None]
        delta = phi - theta
        hand = [theta.cos(), theta.sin(), r * delta.cos(), r * delta.sin()]
        hand += [f(k * delta) for k in HARMONICS for f in (torch.cos, torch.sin)]
        feats += [given.expand(shape)] + [(given * f).expand(shape) for f in hand]
    return torch.stack(feats, dim=-1)


class DialPriorConfig(LlamaConfig):
    model_type = "qvae_dial_llama"


class DialPrior(LlamaForCausalLM):
    """A Llama prior whose input for each code cell also gets ``MLP(dial_features)`` (module docstring)."""

    config_class = DialPriorConfig

    def __init__(self, config):
        super().__init__(config)
        self.dial = nn.Sequential(
            nn.Linear(NUM_FEATURES, config.hidden_size), nn.SiLU(), nn.Linear(config.hidden_size, config.hidden_size)
        )
        # read once from the config, here and not on first use: a first use inside a compiled forward
        # would break its graph. The turn and cell tables are not weights: plain CPU tensors, made on
        # the CPU even where from_pretrained builds the model on the meta device
        self.vocab = prior_vocab(config)
        with torch.device("cpu"):
            self.turns = hand_turns(self.vocab)
            self.cells = cell_geometry(self.vocab.grid_shape)
        self.post_init()
        self.loss_type = "ForCausalLM"  # transformers guesses it from the class name, and warns that it cannot

    def dial_embeds(self, condition_ids: torch.Tensor, start: int, length: int) -> torch.Tensor:
        """The hint added at input positions ``start .. start+length-1``: position p predicts code
        cell p - n + 1 (n condition fields); positions that predict no cell get none. Only those
        cells go through the MLP (one a step when ``generate`` uses the cache)."""
        vocab, before = self.vocab, self.vocab.num_cond - 1  # position p predicts cell p - before
        # the positions that predict a cell, as Python ints: slices keep a compiled forward one graph
        lo, hi = max(start, before), min(start + length, before + vocab.num_codes)
        hint = self.dial[0].weight.new_zeros(len(condition_ids), length, self.config.hidden_size)
        if hi > lo:
            feats = dial_features(condition_ids, vocab, self.turns, self.cells[lo - before : hi - before])
            hint[:, lo - start : hi - start] = self.dial(feats.to(hint.dtype))
        return hint

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        cache=None,
        inputs_embeds=None,
        labels=None,
        use_cache=None,
        logits_to_keep=0,
        condition_ids=None,
        dial_start: int = 0,
        **kwargs,
    ):
        if input_ids is not None and inputs_embeds is None:
            if condition_ids is None:  # a whole sequence (training, scoring): its first n ids are the conditions
                condition_ids = input_ids[:, : self.vocab.num_cond]
            inputs_embeds = self.model.embed_tokens(input_ids)
            inputs_embeds = inputs_embeds + self.dial_embeds(condition_ids, dial_start, input_ids.shape[1]).to(
                inputs_embeds.dtype
            )
            input_ids = None
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        inputs = super().prepare_inputs_for_generation(input_ids, **kwargs)
        new = inputs.get("input_ids")
        if new is not None:  # generate() hands on the ids not yet in the cache; the hint needs where they start
            inputs["condition_ids"] = input_ids[:, : self.vocab.num_cond]
            inputs["dial_start"] = input_ids.shape[1] - new.shape[1]
        return inputs
