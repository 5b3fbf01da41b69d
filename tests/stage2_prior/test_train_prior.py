"""train-prior: exact resume from a checkpoint, and bf16 training (issue 9 items 4, 5)."""

import shutil

import torch
from safetensors.torch import load_file

from stage2_prior.train import train_prior


KW = dict(preset="tiny", batch_size=16, lr=3e-3, warmup_steps=2, eval_every=100, seed=1, progress=False)


def test_resume_matches_uninterrupted_run(tokens, tmp_path):
    train_prior(tokens, tmp_path / "a", steps=14, save_every=6, **KW)  # checkpoints at 6 and 12; 14 is mid-epoch
    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step_00000012")
    (tmp_path / "b" / "checkpoints" / ".tmp_step_00000013").mkdir()  # a half-written one is ignored
    train_prior(tokens, tmp_path / "b", steps=14, save_every=6, resume=True, **KW)
    a = load_file(tmp_path / "a" / "model" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_falls_under_bf16(tokens, tmp_path):
    bits = {}
    for mp in ("no", "bf16"):
        _, m = train_prior(tokens, tmp_path / mp, steps=30, save_every=100, mixed_precision=mp, **KW)
        bits[mp] = m["eval_bits_per_token"]
    assert bits["no"] < 3.0 and bits["bf16"] < 3.0  # from 4 bits (uniform over 16 codes)
    assert abs(bits["no"] - bits["bf16"]) < 0.5
