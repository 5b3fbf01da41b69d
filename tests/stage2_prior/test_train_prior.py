"""train-prior: exact resume from a checkpoint, and bf16 training (issue 9 items 4, 5)."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from stage2_prior.train import PriorTrainingArguments, train_prior

KW = dict(preset="tiny", batch_size=16, lr=3e-3, warmup_steps=2, eval_every=100, seed=1, progress=False)


def run(tokens, out, **kw):
    return train_prior(PriorTrainingArguments(tokens=str(tokens), out=str(out), **{**KW, **kw}))


def test_resume_matches_uninterrupted_run(tokens, tmp_path):
    run(tokens, tmp_path / "a", steps=14, save_every=6)  # checkpoints at 6 and 12; 14 is mid-epoch
    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step_00000012")
    (tmp_path / "b" / "checkpoints" / ".tmp_step_00000013").mkdir()  # a half-written one is ignored
    run(tokens, tmp_path / "b", steps=14, save_every=6, resume=True)
    a = load_file(tmp_path / "a" / "model" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_falls_under_bf16(tokens, tmp_path):
    bits = {}
    for mp in ("no", "bf16"):
        _, m = run(tokens, tmp_path / mp, steps=30, save_every=100, mixed_precision=mp)
        bits[mp] = m["bits_per_token"]
    assert bits["no"] < 3.0 and bits["bf16"] < 3.0  # from 4 bits (uniform over 16 codes)
    assert abs(bits["no"] - bits["bf16"]) < 0.5


@pytest.mark.parametrize("fmt", ["arrow", "parquet", "jsonl"])
def test_train_prior_reads_every_token_format(tmp_path, fmt):
    """One token-folder format (shared.tokens) in three encodings, all read by qvae train-prior."""
    from pipelines.cli import main
    from stage2_prior import load_tokens, write_token_folder

    g = torch.Generator().manual_seed(0)
    hours, minutes = torch.randint(0, 12, (64,), generator=g), torch.randint(0, 60, (64,), generator=g)
    grids = torch.randint(0, 16, (64, 2, 2), generator=g)
    folder = write_token_folder(tmp_path / fmt, grids, {"hour": hours, "minute": minutes}, 16, format=fmt)
    dd, meta = load_tokens(folder)
    assert meta["codebook_size"] == 16 and meta["grid_shape"] == [2, 2] and meta["format"] == fmt
    assert len(dd["train"]) + len(dd["validation"]) == 64
    rows = [
        (h, m, tuple(ids)) for split in dd.values() for h, m, ids in zip(split["hour"], split["minute"], split["ids"])
    ]
    assert sorted(rows) == sorted(
        (int(h), int(m), tuple(g.flatten().tolist())) for h, m, g in zip(hours, minutes, grids)
    )
    assert (
        main(
            [
                "train-prior",
                "--tokens",
                str(folder),
                "--out",
                str(tmp_path / "run"),
                "--preset",
                "tiny",
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_fine_tune_keeps_the_start_and_its_fields(tokens, tmp_path):
    """--init-from: the start's vocabulary (here 3 fields) is kept; fields the tokens lack stay open."""
    from stage2_prior import build_prior, load_prior, prior_vocab
    from stage2_prior.vocab import TIME_FIELDS, Field

    torch.manual_seed(0)
    fields = (*TIME_FIELDS, Field("face_color", ("red", "blue")))
    build_prior(16, (4, 4), preset="tiny", fields=fields).save_pretrained(tmp_path / "start")
    _, tuned = run(tokens, tmp_path / "tuned", steps=30, save_every=100, init_from=str(tmp_path / "start"))
    assert prior_vocab(load_prior(tmp_path / "tuned" / "model")).fields == fields
    assert tuned["bits_per_token"] < 3.0  # from 4 bits: it trained with face_color left open
    # a start is where training begins: one step at a tiny learning rate stays where the start was
    kw = dict(steps=1, save_every=100, lr=1e-7, warmup_steps=1)
    _, again = run(tokens, tmp_path / "again", init_from=str(tmp_path / "tuned" / "model"), **kw)
    assert abs(again["bits_per_token"] - tuned["bits_per_token"]) < 0.05


@pytest.mark.parametrize(
    "codebook, fields, message",
    [
        (32, ("hour", "minute"), "models 32 codes on a (4, 4) grid, the tokens have 16"),
        (16, ("hour",), "is conditioned on hour and cannot learn minute"),
        (16, ("hour6", "minute"), "has no value 6 in its field .hour."),
    ],
)
def test_fine_tune_refuses_a_start_that_does_not_fit(tokens, tmp_path, codebook, fields, message):
    from stage2_prior import build_prior
    from stage2_prior.vocab import Field

    known = {"hour": Field("hour", range(12)), "hour6": Field("hour", range(6)), "minute": Field("minute", range(60))}
    build_prior(codebook, (4, 4), preset="tiny", fields=[known[f] for f in fields]).save_pretrained(tmp_path / "start")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(tokens, tmp_path / "out", steps=5, init_from=str(tmp_path / "start"))
    assert not (tmp_path / "out" / "model").exists()
