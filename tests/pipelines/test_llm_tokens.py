"""Image codes as LLM text: exact round trip through a text tokenizer, errors, tokenizer extension."""

import pytest
import torch
from scripts import load_script

from pipelines.llm_tokens import (
    ImageTokenMap,
    extend_tokenizer,
    ids_to_text,
    resize_embeddings,
    text_to_ids,
    train_text_tokenizer,
)
from shared.clocks import render_clock
from shared.images import to_tensor

CAPTIONS = [f"The clock shows {h}:{m:02d}." for h in range(1, 13) for m in range(0, 60, 5)]


@pytest.fixture(scope="module")
def vq():
    from stage1_vqvae import VQVAEConfig, VQVAEModel

    torch.manual_seed(0)
    return VQVAEModel(
        VQVAEConfig(
            image_size=32, downsample=8, channels=[8, 16, 16], latent_dim=8, codebook_size=64, kmeans_init=False
        )
    ).eval()


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


@pytest.mark.parametrize(
    "text, message",
    [
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
    ],
)
def test_malformed_text_raises(text, message):
    with pytest.raises(ValueError, match=message):
        text_to_ids(text, codebook_size=64)


def test_text_tokens_span_phrases_but_numbers_stay_apart():
    """The caption's recurring phrases merge into a few tokens (across spaces); numbers, colons,
    commas and full stops start tokens of their own, so each time is written hour, ':', minute."""
    styles = ["a red square clock, roman numerals", "a blue round clock, arabic numerals"]
    captions = [f"The clock shows {h}:{m:02d}, {s}." for h in range(1, 13) for m in range(60) for s in styles]
    tok = train_text_tokenizer(captions, vocab_size=400)
    pieces = tok.tokenize("The clock shows 3:15, a red square clock, roman numerals.")
    assert len(pieces) <= 8  # a word-level BPE writes 15: ten words, '3', ':', '15', two commas, '.'
    assert [tok.convert_tokens_to_string([p]) for p in pieces[1:4]] == ["3", ":", "15"]
    assert tok.decode(tok("The clock shows 3:15, a red square clock, roman numerals.").input_ids) == (
        "The clock shows 3:15, a red square clock, roman numerals."
    )


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
    assert torch.equal(weight[: len(old)], old)
    assert torch.allclose(weight[len(old) :], old.mean(0).expand(size - len(old), -1))
    out = model(torch.tensor([[len(tok) - 1]])).logits
    assert out.shape[-1] == size


# --- examples/llm_tokens.py end to end on a tiny budget, the saved folder's round trip, the tokenizer's dtype ---

EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "llm_tokens.py"


def _example():
    return load_script(EXAMPLE, "llm_tokens_example")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The example as a user runs it (shipped tokenizer and reader), on a budget of 6 steps."""
    example = _example()
    out = tmp_path_factory.mktemp("llm") / "run"
    argv = [
        "--out",
        str(out),
        "--train-size",
        "720",
        "--steps",
        "6",
        "--batch-size",
        "8",
        "--width",
        "32",
        "--layers",
        "1",
        "--heads",
        "2",
        "--draw-times",
        "6",
        "--samples",
        "2",
        "--read-images",
        "12",
        "--mixed-precision",
        "no",
        "--progress",
        "false",
    ]
    (args,) = (
        __import__("transformers")
        .HfArgumentParser(example.LMTrainingArguments)
        .parse_args_into_dataclasses(argv, look_for_args_file=False)
    )
    result, lm = example.run(args)
    return example, args, out, result, lm


def test_captions_name_the_style_and_read_back_per_field():
    from shared.clocks import random_style

    example = _example()
    labels = random_style(4).labels
    text = example.caption(0, 5, labels)
    assert text.startswith("The clock shows 12:05, a ") and example.parse_caption(text) == (0, 5)
    assert example.caption(0, 5) == "The clock shows 12:05."
    other = {**labels, "rim": next(v for v in ("none", "thin", "thick") if v != labels["rim"])}
    texts = [" " + text, " " + example.caption(0, 5, other), " The clock shows"]  # right, one field off, unreadable
    shares = example.fields_read(texts, [labels] * 3)
    assert shares["rim"] == pytest.approx(1 / 3)
    assert all(v == pytest.approx(2 / 3) for k, v in shares.items() if k != "rim")


def test_example_lm_starts_every_token_apart():
    """The LM is built at the extended tokenizer's size: 1024 image tokens start as 1024 random
    rows (not resize_embeddings' one mean row, which suits a trained LM only)."""
    from transformers import HfArgumentParser

    example = _example()
    (args,) = HfArgumentParser(example.LMTrainingArguments).parse_args_into_dataclasses(
        ["--width", "32", "--layers", "1", "--heads", "2"], look_for_args_file=False
    )
    torch.manual_seed(0)
    lm = example.build_lm(1088, 128, args, eos_token_id=0)
    rows = lm.get_input_embeddings().weight
    assert rows.shape == (1088, 32) and torch.unique(rows, dim=0).shape[0] == 1088
    assert lm.get_output_embeddings().weight.data_ptr() == rows.data_ptr()  # tied


def test_loss_falls_on_each_texts_answer():
    """Draw texts are scored from <boi> on, read texts after <eoi>; padding never."""
    import datasets

    example = _example()
    captions = ["The clock shows 3:15, a red clock.", example.caption(10, 5)]
    tok = train_text_tokenizer([*captions, *(" " + c for c in captions), " <boi>"], vocab_size=300)
    extend_tokenizer(tok, 16, grid_shapes=[(2, 2)])
    data = datasets.Dataset.from_dict({"ids": [[1, 2, 3, 4], [5, 6, 7, 8]]})
    texts = example.TwoWayTexts(data, captions, (2, 2), tok)

    def parts(name, row):
        ids, mask, answer = (t[name][row] for t in (texts.ids, texts.mask, texts.answer))
        assert not (answer.bool() & ~mask.bool()).any()
        return tok.decode(ids[mask.bool() & ~answer.bool()]), tok.decode(ids[answer.bool()])

    span = "<boi><grid_2x2><img_00001><img_00002><img_00003><img_00004><eoi>"
    assert parts("draw", 0) == ("The clock shows 3:15, a red clock. ", span + "<|endoftext|>")
    assert parts("read", 0) == (span, " The clock shows 3:15, a red clock.<|endoftext|>")
    assert parts("read", 1)[1] == " The clock shows 10:05.<|endoftext|>"
    assert texts.answer["read"][1].sum() < texts.mask["read"][1].sum()
    # the loss's logits (the last logits_needed) begin one before the earliest answer token of any text
    scored = torch.cat([texts.answer["draw"], texts.answer["read"]]).bool()
    first_logit = texts.length - texts.logits_needed
    assert not scored[:, : first_logit + 1].any() and scored[:, first_logit + 1].any()


def test_mixed_batch_reads_and_draws():
    """Each row read or drawn by its draw against --read-fraction, scored on its answer only
    (the caption after a read text's image, a draw text's image), or everywhere without --answer-loss."""
    import datasets
    from transformers import HfArgumentParser

    example = _example()
    captions = ["The clock shows 3:15.", "The clock shows 10:05."]
    tok = train_text_tokenizer([*captions, *(" " + c for c in captions), " <boi>"], vocab_size=300)
    extend_tokenizer(tok, 16, grid_shapes=[(2, 2)])
    texts = example.TwoWayTexts(datasets.Dataset.from_dict({"ids": [[1, 2, 3, 4]] * 2}), captions, (2, 2), tok)
    batch = torch.utils.data.default_collate([texts[0], texts[1]])
    (args,) = HfArgumentParser(example.LMTrainingArguments).parse_args_into_dataclasses(
        ["--read-fraction", "0.4"], look_for_args_file=False
    )
    ids, mask, scored = example.mix_texts(batch, torch.tensor([[0.1], [0.5]]), args)  # read, draw
    span = "<boi><grid_2x2><img_00001><img_00002><img_00003><img_00004><eoi>"
    scored_text = [tok.decode(i[s.bool()]) for i, s in zip(ids, scored)]
    assert scored_text == [" The clock shows 3:15.<|endoftext|>", span + "<|endoftext|>"]
    assert tok.decode(ids[1][mask[1].bool()]) == "The clock shows 10:05. " + span + "<|endoftext|>"
    args.answer_loss = False
    assert torch.equal(example.mix_texts(batch, torch.tensor([[0.1], [0.5]]), args)[2], mask)


def test_loss_per_text_weighs_each_text_once():
    """A text with one scored token counts as much as one with five (per text), or a fifth as much
    (per token); both are cross-entropies of the same logits, computed in the model's forward, the
    same with the logits of the last positions only (``keep``) as with every logit."""
    import functools

    from transformers import LlamaConfig, LlamaForCausalLM

    example = _example()
    torch.manual_seed(0)
    lm = LlamaForCausalLM(
        LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    )
    ids = torch.randint(0, 16, (2, 7))
    mask = torch.ones_like(ids)
    answer = torch.zeros_like(ids)
    answer[0, 6:] = 1  # text 0 scores its last token only, text 1 its last five
    answer[1, 2:] = 1
    logits = lm(input_ids=ids).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    one, five = nll[0, 5], nll[1, 1:].mean()
    for per_text, want in ((True, (one + five) / 2), (False, (one + 5 * five) / 6)):
        lm.loss_function = functools.partial(example.answer_loss, per_text=per_text)
        for keep in (0, 6):  # 6: the positions from the first scored token's predecessor on
            torch.testing.assert_close(example.text_loss(lm, ids, mask, answer, keep=keep), want)
    assert not torch.isclose((one + five) / 2, (one + 5 * five) / 6)
    # one logit fewer and the first scored token (text 1's third) would go unscored
    torch.testing.assert_close(example.text_loss(lm, ids, mask, answer, keep=5), (one + 5 * five - nll[1, 1]) / 5)


@pytest.mark.slow
def test_example_end_to_end_tiny(tiny_run):
    import json

    from shared.data import build_clock_dataset
    from shared.tokens import read_tokens
    from stage1_vqvae import load_tokenizer

    example, args, out, result, _ = tiny_run
    assert json.loads((out / "results.json").read_text()) == result
    assert result["drawn"] == 12 and result["read_images"] == 12 and result["steps"] == 6
    for key in ("draw_accuracy", "read_accuracy", "reader_accuracy", "reader_accuracy_reconstructed"):
        assert key in result
    # held-out clocks whose grid a training clock has exactly are counted apart from the new ones
    tokens, _ = read_tokens(out / "tokens")
    seen = set(map(tuple, tokens["train"]["ids"]))
    new = sum(tuple(ids) not in seen for ids in tokens["test"]["ids"][:12])
    assert result["read_images_new_grids"] == new and 0 < new <= 12
    assert 0.0 <= result["read_accuracy_new_grids"] <= 1.0
    # the shipped two-stage pipeline drew the same 12 requests, every style field asked: as drawn it
    # shows the time on ~80% of such requests (benchmarks/RESULTS.md), so 12 of them read >= 3
    # (an untrained drawer's chance: 7 in 720 a clock)
    assert result["pipeline_draw_accuracy"] >= 0.25
    # rendered clocks carry their style labels: captions name every field, scored per field both ways
    from shared.clocks import STYLE_FIELDS
    from shared.prompts import parse_prompt

    assert result["style_words"] is True
    assert list(result["draw_fields"]) == list(STYLE_FIELDS) == list(result["read_fields"])
    assert all(0.0 <= v <= 1.0 for v in [*result["draw_fields"].values(), *result["read_fields"].values()])
    label = parse_prompt(result["example_read_label"], {"hour": range(12), "minute": range(60), **STYLE_FIELDS})
    assert set(label.conditions) == {"hour", "minute", *STYLE_FIELDS} and label.unused == []
    assert (out / "completions.png").is_file() and (out / "metrics.json").is_file()
    # the tokens are the float32 tokenizer's ids of the rendered clocks (the shipped files store float16)
    tokens, meta = read_tokens(out / "tokens")
    vq = load_tokenizer(args.tokenizer)
    assert meta["grid_shape"] == [8, 8] and meta["codebook_size"] == vq.config.codebook_size
    assert len(tokens["train"]) == 720
    test = build_clock_dataset(train=720, val=720, test=720, seed=args.seed, num_styles=16, progress=False)["test"]
    images = to_tensor(test.select(range(32))["image"])
    assert torch.equal(vq.encode(images).flatten(1), torch.tensor(tokens["test"]["ids"][:32], dtype=torch.long))
    # an untrained reader of the LM's output would still parse: the grammar gives well-formed drawings
    assert example.parse_caption(" The clock shows 12:05.") == (0, 5)
    assert example.parse_caption(" The clock shows 13:05.") is None
    assert example.spread_times(4) == [(0, 0), (3, 0), (6, 0), (9, 0)]


@pytest.mark.slow
def test_saved_folder_round_trip_gives_the_same_completions(tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipelines.llm_tokens import caption_grids, draw_grids, load_lm_folder

    example, _, out, _, lm = tiny_run
    lm2, tok2, mapping2 = load_lm_folder(out / "model")
    assert AutoTokenizer.from_pretrained(str(out / "model")).get_vocab() == tok2.get_vocab()
    assert AutoModelForCausalLM.from_pretrained(str(out / "model")).config.vocab_size == lm.config.vocab_size
    state = lm.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in lm2.state_dict().items())
    tok = AutoTokenizer.from_pretrained(str(out / "model"))
    prompts = [f"{example.caption(h, m)} <boi>" for h, m in [(3, 15), (7, 40)] for _ in range(2)]
    lm.eval()
    a = draw_grids(lm, tok, mapping2, prompts, (8, 8), seed=5)
    b = draw_grids(lm2, tok2, mapping2, prompts, (8, 8), seed=5)
    assert a.shape == (4, 8, 8) and torch.equal(a, b)
    assert not torch.equal(a, draw_grids(lm2, tok2, mapping2, prompts, (8, 8), seed=6))  # the seed matters
    assert caption_grids(lm, tok, a) == caption_grids(lm2, tok2, a)


@pytest.mark.slow
def test_beam_search_draws_a_likelier_grid_than_sampling(tiny_run):
    import torch.nn.functional as F

    from pipelines.llm_tokens import draw_grids, ids_to_text, load_lm_folder

    example, args, out, result, _ = tiny_run
    assert result["beams"] == args.beams == 8  # the example's drawings are beam searched by default
    lm, tok, mapping = load_lm_folder(out / "model")
    captions = [example.caption(h, m) for h, m in [(3, 15), (7, 40), (11, 5)]]
    prompts = [f"{c} <boi>" for c in captions]
    beam = draw_grids(lm, tok, mapping, prompts, (8, 8), seed=0, num_beams=4)
    # deterministic: neither the seed nor the sampling settings move it
    assert torch.equal(beam, draw_grids(lm, tok, mapping, prompts, (8, 8), seed=1, temperature=3.0, num_beams=4))
    sampled = draw_grids(lm, tok, mapping, prompts, (8, 8), seed=0, temperature=1.0)

    def log_likelihood(grids):  # of each grid's tokens after <boi>, given its caption
        ids = torch.tensor(tok([example.draw_text(c, ids_to_text(g)) for c, g in zip(captions, grids)]).input_ids)
        with torch.no_grad():
            logp = F.log_softmax(lm(input_ids=ids).logits[:, :-1].float(), -1)
        token_logp = logp.gather(-1, ids[:, 1:, None])[..., 0]
        start = len(tok(prompts[0]).input_ids) - 1  # captions of one length: the first image-span token
        return token_logp[:, start:].sum(1)

    assert (log_likelihood(beam) > log_likelihood(sampled)).all()
    with pytest.raises(ValueError, match="num_beams must be at least 1"):
        draw_grids(lm, tok, mapping, prompts, (8, 8), num_beams=0)


@pytest.mark.slow
def test_redraw_benchmark_repeats_the_runs_own_draw_accuracy(tiny_run, capsys):
    """benchmarks/llm_redraw.py rebuilds the run's own requests: its beam search gives the run's figure."""
    example, args, out, result, _ = tiny_run
    bench = load_script(EXAMPLE.parents[1] / "benchmarks" / "llm_redraw.py", "llm_redraw")
    bench.main([str(out), "--seeds", "2", "--beams", str(args.beams)])
    header, rule, row = capsys.readouterr().out.strip().splitlines()
    assert header == f"| run | seed 0 | seed 1 | mean of 2 seeds | {args.beams} beams |"
    assert row.startswith(f"| `{out}` | ")
    shares = [float(cell.rstrip("%")) / 100 for cell in row.strip("| ").split(" | ")[1:]]
    assert shares[-1] == pytest.approx(result["draw_accuracy"], abs=1e-3)  # float32 here, float32 there
    assert shares[2] == pytest.approx((shares[0] + shares[1]) / 2, abs=2e-3)


def test_tokenizer_computes_in_float32_whatever_it_stores():
    from safetensors import safe_open

    from stage1_vqvae import load_tokenizer

    path = _example().SHIPPED_TOKENIZER
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        names = f.keys()
        stored = {f.get_slice(k).get_dtype() for k in names}
    assert "F16" in stored  # shipped small ...
    vq = load_tokenizer(path)
    assert {p.dtype for p in vq.parameters()} == {torch.float32}  # ... computed in float32
    assert all(b.dtype in (torch.float32, torch.long, torch.int64, torch.bool) for b in vq.buffers())
