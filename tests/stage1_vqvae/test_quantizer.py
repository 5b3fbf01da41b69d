import math

import pytest
import torch

from stage1_vqvae import FSQ, VectorQuantizer
from stage1_vqvae.quantizer import usage_stats


def _vq(**kw):
    kw.setdefault("kmeans_init", False)
    return VectorQuantizer(**kw)


@pytest.mark.parametrize("cosine", [False, True])
def test_ids_equal_brute_force_nearest(cosine):
    torch.manual_seed(0)
    vq = _vq(codebook_size=32, dim=6, cosine=cosine).eval()
    z = torch.randn(3, 6, 4, 5)
    _, ids, _, _ = vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 6)
    e = vq.codebook()
    if cosine:
        brute = (torch.nn.functional.normalize(flat, dim=-1)[:, None] - e[None]).pow(2).sum(-1).argmin(1)
    else:
        brute = torch.stack([((row - e) ** 2).sum(1).argmin() for row in flat])
    assert ids.shape == (3, 4, 5)
    assert torch.equal(ids.flatten(), brute)
    assert torch.equal(vq.indices(z), ids)


def test_token_layout_and_quantized_values():
    torch.manual_seed(0)
    vq = _vq(codebook_size=16, dim=4).eval()
    z = torch.randn(2, 7, 4)
    q, ids, loss, stats = vq(z)
    assert q.shape == z.shape and ids.shape == (2, 7)
    assert torch.allclose(q, vq.embed[ids])
    assert loss.ndim == 0 and set(stats) >= {"usage", "perplexity"}


@pytest.mark.parametrize("estimator", ["ste", "rotation"])
def test_gradient_reaches_encoder(estimator):
    torch.manual_seed(0)
    enc = torch.nn.Conv2d(3, 4, 1)
    vq = _vq(codebook_size=8, dim=4, estimator=estimator)
    q, _, loss, _ = vq(enc(torch.randn(2, 3, 4, 4)))
    (q.pow(2).sum()).backward()
    assert enc.weight.grad is not None and enc.weight.grad.abs().sum() > 0


def test_rotation_trick_forward_equals_code():
    torch.manual_seed(0)
    vq = _vq(codebook_size=8, dim=4, estimator="rotation").eval()
    z = torch.randn(5, 3, 4)
    q, ids, _, _ = vq(z)
    assert torch.allclose(q, vq.embed[ids], atol=1e-5)


def test_one_ema_step_matches_hand_computation():
    vq = _vq(codebook_size=2, dim=1, decay=0.5, eps=0.0, restart_after=0)
    vq.embed.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_sum.copy_(vq.embed)
    vq.ema_count.fill_(1.0)
    z = torch.tensor([[[1.0], [3.0], [9.0]]])  # [B=1, N=3, D=1]: codes 0, 0, 1
    vq.train()(z)
    # counts: 0.5*1 + 0.5*2 = 1.5 and 0.5*1 + 0.5*1 = 1.0; sums: 0.5*0 + 0.5*4 = 2, 0.5*10 + 0.5*9 = 9.5
    assert torch.allclose(vq.ema_count, torch.tensor([1.5, 1.0]))
    assert torch.allclose(vq.ema_sum, torch.tensor([[2.0], [9.5]]))
    assert torch.allclose(vq.embed, torch.tensor([[2.0 / 1.5], [9.5]]))


def test_laplace_smoothing_keeps_empty_codes_finite():
    vq = _vq(codebook_size=4, dim=2, restart_after=0)
    vq.ema_count.zero_()
    vq.ema_sum.zero_()
    vq.train()(torch.zeros(1, 3, 2) + 1.0)
    assert torch.isfinite(vq.embed).all()


def test_dead_code_is_reseeded_and_its_stats_reset():
    torch.manual_seed(0)
    vq = _vq(codebook_size=4, dim=2, restart_after=2, decay=0.99)
    vq.embed.copy_(torch.tensor([[0.0, 0.0], [100.0, 100.0], [0.1, 0.0], [0.0, 0.1]]))
    vq.ema_sum.copy_(vq.embed)
    z = torch.randn(1, 64, 2) * 0.1  # never near code 1
    vq.train()
    vq(z)
    assert torch.allclose(vq.embed[1], torch.tensor([100.0, 100.0]), atol=1.0)
    _, _, _, stats = vq(z)
    assert stats["restarted"] >= 1
    new = vq.embed[1].clone()
    assert new.abs().max() < 1.0  # re-seeded from an encoder output
    assert torch.allclose(vq.ema_sum[1], new) and vq.ema_count[1] == 1.0
    vq(z)  # the next update must not pull it back toward the stale (100, 100) average
    assert vq.embed[1].abs().max() < 1.5


def test_kmeans_init_on_first_training_batch():
    torch.manual_seed(0)
    vq = VectorQuantizer(codebook_size=4, dim=2, kmeans_init=True)
    assert not bool(vq.initialized)
    centers = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0], [-5.0, -5.0]])
    z = (centers.repeat(50, 1) + 0.01 * torch.randn(200, 2))[None]
    vq.train()(z)
    assert bool(vq.initialized)
    d = torch.cdist(centers, vq.embed).min(1).values
    assert (d < 0.5).all()


def test_usage_and_perplexity_on_known_inputs():
    stats = usage_stats(torch.tensor([0, 1, 2, 3]), 8)
    assert stats["usage"] == pytest.approx(0.5)
    assert stats["perplexity"] == pytest.approx(4.0, rel=1e-5)
    stats = usage_stats(torch.tensor([5, 5, 5]), 8)
    assert stats["usage"] == pytest.approx(1 / 8) and stats["perplexity"] == pytest.approx(1.0)


def test_learned_codebook_and_low_dim_lookup():
    torch.manual_seed(0)
    vq = VectorQuantizer(codebook_size=8, dim=16, code_dim=4, ema=False, kmeans_init=False)
    assert isinstance(vq.embed, torch.nn.Parameter)
    q, ids, loss, _ = vq(torch.randn(2, 16, 3, 3))
    assert q.shape == (2, 16, 3, 3)
    loss.backward()
    assert vq.embed.grad is not None and vq.proj_in.weight.grad is not None
    assert torch.allclose(vq.lookup(ids).permute(0, 3, 1, 2), q, atol=1e-5)


def test_distances_float32_under_bf16_autocast():
    torch.manual_seed(0)
    vq = _vq(codebook_size=64, dim=8).eval()
    z = torch.randn(4, 8, 4, 4)
    ref = vq(z)[1]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q, ids, loss, _ = vq(z)
    assert torch.equal(ids, ref) and loss.dtype == torch.float32


def test_fsq_interface_and_index_round_trip():
    torch.manual_seed(0)
    fsq = FSQ(levels=(8, 5, 5), dim=6)
    assert fsq.codebook_size == 200
    z = torch.randn(2, 6, 3, 3, requires_grad=True)
    q, ids, loss, stats = fsq(z)
    assert q.shape == z.shape and ids.shape == (2, 3, 3) and float(loss) == 0
    assert 0 <= int(ids.min()) and int(ids.max()) < 200
    assert torch.allclose(fsq.lookup(ids).permute(0, 3, 1, 2), q, atol=1e-5)
    all_ids = torch.arange(200)
    assert torch.equal(fsq.codes_to_indices(fsq.indices_to_codes(all_ids)), all_ids)
    q.sum().backward()
    assert z.grad.abs().sum() > 0
    assert math.isfinite(float(stats["perplexity"]))
