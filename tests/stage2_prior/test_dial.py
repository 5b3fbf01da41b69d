"""The dial prior: hand geometry from the hour and minute fields, added per code cell."""

import pytest
import torch
from transformers import LlamaForCausalLM

from stage2_prior import Vocab, build_prior, load_prior, make_batch, sample
from stage2_prior.dial import DialPrior, cell_geometry, dial_features, hand_turns
from stage2_prior.vocab import TIME_FIELDS, Field


@pytest.fixture(scope="module")
def prior():
    torch.manual_seed(0)
    model = build_prior(16, (4, 4), preset="tiny").eval()
    with torch.no_grad():  # a hint large enough that a misplaced one changes the samples
        model.dial[2].weight.mul_(20)
    return model


def test_time_fields_give_the_dial_prior_and_others_do_not():
    dial = build_prior(16, (4, 4), preset="tiny")
    assert isinstance(dial, DialPrior)
    # the causal-LM loss by name (transformers cannot guess it from "DialPrior", and warns in every log)
    assert dial.loss_type == "ForCausalLM"
    plain = [
        build_prior(16, (4, 4), preset="tiny", dial=False),
        build_prior(16, (4, 4), preset="tiny", fields=(Field("label", ("cat", "dog")),)),
        build_prior(16, (4, 4), preset="tiny", fields=(Field("hour", ("one", "two")), TIME_FIELDS[1])),
    ]
    for model in plain:
        assert type(model) is LlamaForCausalLM


def test_hand_turns_read_the_value_lists():
    vocab = Vocab(16, (4, 4), (Field("hour", tuple(range(1, 13))), Field("minute", tuple(range(60)))))
    hour, minute = hand_turns(vocab)
    first = int(vocab.offsets[0])
    assert hour[first + 11] == 0.0  # 12 o'clock is the top, as 0
    assert hour[first + 2] == pytest.approx(0.25)  # 3 o'clock
    assert minute[int(vocab.offsets[1]) + 45] == pytest.approx(0.75)
    assert (hour[:16] == -1).all() and (minute[vocab.null_tokens] == -1).all()


def test_features_point_the_hand_and_vanish_when_open():
    vocab = Vocab(16, (8, 8))
    ids = vocab.condition_ids(vocab.encode([{"hour": 0, "minute": 15}, {"hour": 0}, {}]))
    feats = dial_features(ids, vocab, hand_turns(vocab))
    cells = cell_geometry(vocab.grid_shape)
    per_hand = (feats.shape[-1] - 3) // 2
    hour, minute = feats[..., 3 : 3 + per_hand], feats[..., 3 + per_hand :]
    # a cell's offset along a hand is its projection on the hand's direction (y grows downwards)
    assert torch.allclose(minute[0, :, 3], cells[:, 0], atol=1e-5)  # minute 15 points right
    assert torch.allclose(hour[1, :, 3], -cells[:, 1], atol=1e-5)  # hour 12 points up
    turn = torch.tensor(2 * torch.pi / 48)  # by 0:15 the hour hand has moved on 1/48 of a turn
    assert torch.allclose(hour[0, :, 3], cells[:, 0] * turn.sin() - cells[:, 1] * turn.cos(), atol=1e-5)
    assert (minute[1:] == 0).all()  # minute left open: no minute hand
    assert (feats[2, :, 3:] == 0).all()  # nothing given: the cell's position only
    assert (feats[0, :, 3] == 1).all()  # the hour is given


def test_cached_sampling_places_the_hint_like_a_full_forward(prior):
    cond = [{"hour": 3, "minute": 15}, {"hour": 9}]
    cached = sample(prior, cond, 2, guidance_scale=2, min_p=0.1, seed=1)
    full = sample(prior, cond, 2, guidance_scale=2, min_p=0.1, seed=1, use_cache=False)
    assert torch.equal(cached, full)
    vocab = Vocab(16, (4, 4))
    input_ids, _ = make_batch(vocab, cached.reshape(4, -1), vocab.encode(cond).repeat_interleave(2, 0))
    with torch.no_grad():
        logits = prior(input_ids=input_ids).logits
        no_hands = prior(input_ids=input_ids, condition_ids=vocab.null_ids(4)).logits  # the hint of no time
    assert not torch.allclose(logits, no_hands, atol=1e-3)


def test_round_trip_keeps_the_dial(prior, tmp_path):
    prior.save_pretrained(tmp_path)
    loaded = load_prior(tmp_path)
    assert isinstance(loaded, DialPrior)
    vocab = Vocab(16, (4, 4))
    input_ids, _ = make_batch(vocab, torch.randint(0, 16, (3, 16)), torch.tensor([[3, 15], [-1, 7], [-1, -1]]))
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=input_ids).logits, prior(input_ids=input_ids).logits, atol=1e-5)


def test_a_fresh_dial_prior_compiles_as_one_graph():
    """The training step compiles the prior's forward: nothing in it (the vocabulary, the hint's
    placement) may turn a tensor into a Python number or a shape, or the graph breaks there."""
    torch.manual_seed(0)
    model = build_prior(16, (4, 4), preset="tiny").eval()
    vocab = Vocab(16, (4, 4))
    input_ids, _ = make_batch(vocab, torch.randint(0, 16, (2, 16)), torch.tensor([[3, 15], [-1, 7]]))
    torch._dynamo.reset()
    with torch.no_grad():
        compiled = torch.compile(model, fullgraph=True, backend="eager")(input_ids=input_ids).logits
        eager = model(input_ids=input_ids).logits
    assert torch.allclose(compiled, eager, atol=1e-5)
