import json

import pytest
import torch
from tiny_models import TINY_TOKENIZER, TwoConvs

from pipelines.cli import main
from stage1_vqvae import PerceptualLoss, VQVAEModel
from stage1_vqvae.train import (
    MODELS,
    TokenizerTrainingArguments,
    image_mix_splits,
    load_splits,
    measure_reconstruction,
    train_tokenizer,
)

TINY = TINY_TOKENIZER


def tiny_args(data, out, config=TINY, **kw) -> TokenizerTrainingArguments:
    return TokenizerTrainingArguments(
        data=str(data), out=str(out), config=json.dumps(config), batch_size=8, max_train=64, progress=False, **kw
    )


def untrained_psnr(clocks, kind: str, config: dict) -> float:
    torch.manual_seed(0)
    _, val = load_splits(clocks, 32)
    config_cls, model_cls = MODELS[kind]
    return measure_reconstruction(model_cls(config_cls(**config)).eval(), val)["psnr"]


def test_train_tokenizer_saves_model_grid_and_metrics(clocks, tmp_path):
    model, metrics = train_tokenizer(tiny_args(clocks, tmp_path / "run", steps=4, eval_every=2, save_every=2))
    assert {"psnr", "usage", "perplexity", "model_path", "precision"} <= set(metrics)
    assert (tmp_path / "run" / "model" / "config.json").exists()
    assert len(list((tmp_path / "run" / "samples").glob("*.png"))) == 2  # steps 2 and 4
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 4
    loaded = VQVAEModel.from_pretrained(tmp_path / "run" / "model")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded.encode(x), model.eval().encode(x))


def test_image_mix_is_its_share_of_the_training_images_and_is_scored_apart(clocks, tmp_path):
    mix_train, mix_val = image_mix_splits(64, 0.25, 32, seed=0)  # 64 of the user's + 21 = 85, a quarter mixed in
    assert abs(len(mix_train) - 64 / 3) <= 1 and len(mix_val) >= 1 and mix_train.images.shape[1:] == (3, 32, 32)
    _, metrics = train_tokenizer(tiny_args(clocks, tmp_path / "mix", steps=2, eval_every=2, image_mix=0.25))
    assert metrics["psnr_image_mix"] > 0 and metrics["psnr_image_mix"] != metrics["psnr"]
    with pytest.raises(ValueError, match="image-mix"):
        tiny_args(clocks, tmp_path / "bad", image_mix=1.0)
    with pytest.raises(ValueError, match="cvae"):
        tiny_args(clocks, tmp_path / "bad", model="cvae", image_mix=0.2)


def test_fine_tuning_starts_from_the_tokenizer_and_keeps_its_codes(clocks, tmp_path):
    """--init-from: the saved tokenizer's weights, config and codebook (no k-means init again), so
    the ids it gave keep their meaning; config flags beside it are refused."""
    base, _ = train_tokenizer(tiny_args(clocks, tmp_path / "base", steps=20, lr=3e-3, warmup_steps=2, eval_every=20))
    tuned, metrics = train_tokenizer(
        TokenizerTrainingArguments(
            data=str(clocks),
            out=str(tmp_path / "tuned"),
            init_from=str(tmp_path / "base" / "model"),
            steps=2,
            lr=5e-4,
            batch_size=8,
            max_train=64,
            progress=False,
            eval_every=2,
        )
    )
    _, val = load_splits(clocks, 32)
    x = val.images[:32].float() / 127.5 - 1
    tuned.config._name_or_path = base.config._name_or_path  # where each was loaded from
    assert tuned.config.to_dict() == base.config.to_dict()
    assert not all(torch.equal(p, q) for p, q in zip(base.parameters(), tuned.parameters()))
    same = (base.eval().encode(x) == tuned.eval().encode(x)).float().mean()
    fresh = (VQVAEModel(base.config).eval().encode(x) == base.encode(x)).float().mean()
    assert same > 0.8 > fresh
    assert metrics["psnr"] > untrained_psnr(clocks, "vqvae", TINY) + 1
    for flag in ({"codebook_size": 64}, {"config": json.dumps({"latent_dim": 4})}, {"model": "ae"}):
        with pytest.raises(ValueError, match="--init-from fine-tunes a vqvae as it is"):
            TokenizerTrainingArguments(data=str(clocks), out=str(tmp_path / "x"), init_from="t", **flag)
    with pytest.raises(FileNotFoundError, match="no tokenizer at"):
        train_tokenizer(TokenizerTrainingArguments(data=str(clocks), out=str(tmp_path / "x"), init_from=str(tmp_path)))


def test_a_perceptual_term_joins_the_loss(clocks, tmp_path):
    """The same seeded run with a network's perceptual term trains other weights, and logs the term."""
    plain, _ = train_tokenizer(tiny_args(clocks, tmp_path / "plain", steps=2, eval_every=2))
    seen = []

    class Logged(PerceptualLoss):
        def forward(self, x, target):
            seen.append(super().forward(x, target))
            return seen[-1]

    guided, metrics = train_tokenizer(
        tiny_args(clocks, tmp_path / "guided", steps=2, eval_every=2), Logged(TwoConvs(), 1.0)
    )
    assert len(seen) == 2 and all(s.requires_grad and float(s.detach()) > 0 for s in seen) and metrics["psnr"] > 0
    assert not all(torch.equal(p, q) for p, q in zip(plain.parameters(), guided.parameters()))


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_baselines_learn(clocks, tmp_path, kind):
    cfg = {k: v for k, v in TINY.items() if k != "codebook_size"}
    _, metrics = train_tokenizer(tiny_args(clocks, tmp_path / kind, cfg, model=kind, steps=30, lr=3e-3, warmup_steps=2))
    assert metrics["psnr"] > untrained_psnr(clocks, kind, cfg) + 1  # measured: AE 9.0 -> 10.7 dB
    if kind != "ae":
        assert 0 < metrics["kl"] < 1e4


def test_cli_resume_and_errors(clocks, tmp_path, capsys):
    base = [
        "train-tokenizer",
        "--data",
        str(clocks),
        "--out",
        str(tmp_path / "cli"),
        "--batch-size",
        "8",
        "--max-train",
        "32",
        "--config",
        json.dumps(TINY),
        "--no-progress",
        "--eval-every",
        "100",
    ]
    assert main(base + ["--steps", "2", "--save-every", "1"]) == 0
    assert "summary" in capsys.readouterr().out
    assert list((tmp_path / "cli" / "checkpoints").glob("step_*"))
    assert main(base + ["--steps", "3", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert main(["train-tokenizer", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "no dataset folder" in capsys.readouterr().err
    assert main(base + ["--config", "{oops"]) == 2
    assert "--config is not valid JSON" in capsys.readouterr().err
    assert main(base + ["--steps", "0"]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_loss_falls_under_bf16_as_under_fp32(clocks, tmp_path):
    """--mixed-precision bf16 (issue 9): reconstruction improves as in fp32; the codebook and
    its EMA statistics stay float32. PSNR = -10 log10(MSE / 4), so rising PSNR = falling loss."""
    start = untrained_psnr(clocks, "vqvae", TINY)  # ~10.4 dB
    psnrs, threads = {}, torch.get_num_threads()
    torch.set_num_threads(1)  # CPU bf16 kernels crawl (60 s vs 0.5 s) with 2 threads on a busy 2-core box
    try:
        runs = {
            mp: train_tokenizer(
                tiny_args(
                    clocks,
                    tmp_path / mp,
                    steps=40,
                    lr=2e-3,
                    warmup_steps=2,
                    eval_every=1000,
                    save_every=1000,
                    mixed_precision=mp,
                )
            )
            for mp in ("no", "bf16")
        }
    finally:
        torch.set_num_threads(threads)
    for mp, (model, metrics) in runs.items():
        psnrs[mp] = metrics["psnr"]
        assert metrics["precision"] == mp
        q = model.quantizer
        assert q.embed.dtype == q.ema_sum.dtype == q.ema_count.dtype == torch.float32
    assert psnrs["no"] > start + 1 and psnrs["bf16"] > start + 1, (start, psnrs)  # measured: 10.4 -> 12.2 both
    assert abs(psnrs["no"] - psnrs["bf16"]) < 1.0, psnrs
