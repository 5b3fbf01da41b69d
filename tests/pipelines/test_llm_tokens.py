"""Image codes as LLM text: exact round trip through a text tokenizer, errors, tokenizer extension."""

import pytest
import torch

from pipelines.llm_tokens import (ImageTokenMap, extend_tokenizer, ids_to_text, resize_embeddings, text_to_ids,
                                  train_text_tokenizer)
from shared.clocks import render_clock
from shared.images import to_tensor

CAPTIONS = [f"The clock shows {h}:{m:02d}." for h in range(1, 13) for m in range(0, 60, 5)]


@pytest.fixture(scope="module")
def vq():
    from stage1_vqvae import VQVAEConfig, VQVAEModel

    torch.manual_seed(0)
    return VQVAEModel(VQVAEConfig(image_size=32, downsample=8, channels=[8, 16, 16], latent_dim=8,
                                  codebook_size=64, kmeans_init=False)).eval()


@pytest.fixture()
def tok():
    return train_text_tokenizer(CAPTIONS, vocab_size=300)


def test_text_round_trip_and_whitespace():
    ids = torch.randint(0, 1000, (3, 5), generator=torch.Generator().manual_seed(0))
    for rows in (False, True):
        text = ids_to_text(ids, row_separators=rows)
        assert text.startswith("<boi><grid_3x5><img_") and text.endswith("<eoi>")
        assert text.count("<row>") == (2 if rows else 0)
        assert torch.equal(text_to_ids(text, codebook_size=1000), ids)
        spaced = "caption " + text.replace("><", "> \n\t<") + " tail <boi><grid_1x1><img_00000><eoi>"
        assert torch.equal(text_to_ids(spaced), ids)  # the first span, whitespace ignored
        assert torch.equal(text_to_ids("A clock. " + text.replace("><", "> <") + " then <boi>"), ids)
    assert ids_to_text([[7]]) == "<boi><grid_1x1><img_00007><eoi>"


@pytest.mark.parametrize("text, message", [
    ("no image here", "no <boi>"),
    ("<boi><grid_1x2><img_00001><img_00002>", "no <eoi>"),
    ("<boi><img_00001><eoi>", "grid marker"),
    ("<boi><grid_1x2><img_00001><eoi>", "asks for 2 codes, the span holds 1"),
    ("<boi><grid_1x1><img_00001><img_00002><eoi>", "asks for 1 codes, the span holds 2"),
    ("<boi><grid_1x1><img_1><eoi>", "unknown token <img_1>"),
    ("<boi><grid_1x1><pic_00001><eoi>", "unknown token <pic_00001>"),
    ("<boi><grid_1x1>x<img_00001><eoi>", "unexpected text 'x'"),
    ("<boi><grid_2x2><img_00001><row><img_00002><img_00003><img_00004><eoi>", "between the 2 rows"),
    ("<boi><grid_1x1><img_00064><eoi>", "outside the codebook"),
])
def test_malformed_text_raises(text, message):
    with pytest.raises(ValueError, match=message):
        text_to_ids(text, codebook_size=64)


def test_extend_tokenizer_gives_contiguous_ids(tok, tmp_path):
    before = len(tok)
    mapping = extend_tokenizer(tok, 64, grid_shapes=[(4, 4)], save_dir=tmp_path / "tok")
    assert mapping.offset == before
    ids = tok.convert_tokens_to_ids([f"<img_{c:05d}>" for c in range(64)])
    assert ids == list(range(before, before + 64))
    assert set(mapping.markers) == {"<boi>", "<eoi>", "<row>", "<grid_4x4>"}
    assert min(mapping.markers.values()) == before + 64
    assert extend_tokenizer(tok, 64, grid_shapes=[(4, 4)]) == mapping  # idempotent
    assert ImageTokenMap.from_pretrained(tmp_path / "tok") == mapping
    codes = torch.tensor([[0, 63], [5, 7]])
    assert torch.equal(mapping.token_ids_to_codes(mapping.codes_to_token_ids(codes)), codes)
    with pytest.raises(ValueError, match="already holds"):
        extend_tokenizer(tok, 128)


def test_image_to_text_to_token_ids_and_back_is_exact(vq, tok):
    mapping = extend_tokenizer(tok, vq.config.codebook_size, grid_shapes=[(4, 4)])
    images = to_tensor([render_clock(3, 15, size=32, seed=1), render_clock(7, 40, size=32, seed=2)])
    ids = vq.encode(images)
    for i in range(len(ids)):
        for rows in (False, True):
            text = "The clock shows 3:15. " + ids_to_text(ids[i], row_separators=rows) + " Nice."
            token_ids = tok(text).input_ids
            image_part = [t for t in token_ids if t in mapping.image_token_ids]
            assert image_part == mapping.codes_to_token_ids(ids[i].flatten()).tolist()
            back = text_to_ids(tok.decode(token_ids), codebook_size=vq.config.codebook_size)
            assert torch.equal(back, ids[i])
            assert torch.equal(vq.decode(back[None]), vq.decode(ids[i][None]))


def test_resize_embeddings_mean_initializes_new_rows(tok):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=16, n_layer=1, n_head=2))
    old = model.get_input_embeddings().weight.detach().clone()
    extend_tokenizer(tok, 100)
    size = resize_embeddings(model, tok, pad_to_multiple_of=64)
    weight = model.get_input_embeddings().weight.detach()
    assert size % 64 == 0 and size >= len(tok) and weight.shape[0] == size
    assert torch.equal(weight[:len(old)], old)
    assert torch.allclose(weight[len(old):], old.mean(0).expand(size - len(old), -1))
    out = model(torch.tensor([[len(tok) - 1]])).logits
    assert out.shape[-1] == size
