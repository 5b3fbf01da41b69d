import pytest
import torch
from tiny_models import TwoConvs

from shared.clocks import render_clock
from shared.images import psnr, to_tensor
from stage1_vqvae import MODELS, PerceptualLoss, VQVAEConfig, load_tokenizer

SMALL = dict(channels=[16, 32, 32], decoder_channels=[16, 32, 32], decoder_res_blocks=1)
TINY = dict(**SMALL, latent_dim=16, codebook_size=32)


def build(kind: str, **config):
    """An untrained stage-1 model of ``MODELS[kind]`` with these config fields."""
    config_cls, model_cls = MODELS[kind]
    return model_cls(config_cls(**config))


def tiny(**kw):
    torch.manual_seed(0)
    return build("vqvae", **{**TINY, **kw})


def test_default_config_contract():
    c = VQVAEConfig()
    assert (c.codebook_size, c.downsample, c.image_size) == (512, 8, 64)


@pytest.mark.parametrize("f,size", [(4, (32, 32)), (8, (64, 64)), (8, (32, 48)), (4, (16, 40))])
def test_shapes(f, size):
    m = tiny(downsample=f)
    x = torch.rand(2, 3, *size) * 2 - 1
    out = m(x)
    assert out.reconstruction.shape == x.shape
    ids = m.encode(x)
    assert ids.shape == (2, size[0] // f, size[1] // f) and ids.dtype == torch.long
    assert m.grid_shape(*size) == ids.shape[1:]
    assert int(ids.min()) >= 0 and int(ids.max()) < m.config.codebook_size
    y = m.decode(ids)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert 0 < float(out.usage) <= 1 and float(out.perplexity) >= 1


def test_fsq_model(tmp_path):
    m = tiny(quantizer="fsq", fsq_levels=[4, 4, 2])
    assert m.config.codebook_size == 32
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert m.decode(m.encode(x)).shape == x.shape
    m.save_pretrained(tmp_path)  # the loader builds it on the meta device first
    loaded = load_tokenizer(tmp_path)
    assert torch.equal(loaded.encode(x), m.eval().encode(x))


def test_grouped_fsq_is_the_same_quantizer_written_as_two_ids_a_position(tmp_path):
    grouped = tiny(quantizer="fsq", fsq_levels=[4, 4, 2], fsq_groups=2).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ids = grouped.encode(x)
    assert grouped.config.codebook_size == 32 and ids.shape == (2, 4, 8) == (2, *grouped.grid_shape(32, 32))
    assert torch.allclose(grouped.decode(ids), grouped(x).reconstruction.clamp(-1, 1), atol=1e-5)
    # one id over the six levels, same weights: the grouped ids are its two halves, the images identical
    single = tiny(quantizer="fsq", fsq_levels=[4, 4, 2, 4, 4, 2]).eval()
    single.load_state_dict(grouped.state_dict())
    assert torch.equal(single.encode(x), ids[..., 0::2] + 32 * ids[..., 1::2])
    assert torch.allclose(single.decode(single.encode(x)), grouped.decode(ids), atol=1e-6)
    grouped.save_pretrained(tmp_path)
    assert torch.equal(load_tokenizer(tmp_path).encode(x), ids)
    with pytest.raises(ValueError, match="2 ids a position"):
        grouped.decode(ids[..., :7])


def test_bad_inputs_raise_clear_errors():
    m = tiny()
    with pytest.raises(ValueError, match="3 channels"):
        m.encode(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="divisible"):
        m.encode(torch.zeros(1, 3, 60, 64))
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        m.decode(torch.full((1, 8, 8), 32))
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        m.decode(torch.full((1, 8, 8), -1))
    with pytest.raises(ValueError, match="B, h, w"):
        m.decode(torch.zeros(8, 8, dtype=torch.long))


@pytest.mark.parametrize("kind", ["vqvae", "vae", "cvae"])
def test_save_load_round_trip(tmp_path, kind):
    from transformers import AutoModel

    torch.manual_seed(0)
    m = build(kind, **(TINY if kind == "vqvae" else SMALL))
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    if kind == "vqvae":
        m.train()(x)  # k-means init + one EMA update: the buffers must survive the round trip
        m.eval()
    m.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is MODELS[kind][1]
    sd, sd2 = m.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    if kind == "vqvae":
        ids = m.encode(x)
        assert torch.equal(loaded.encode(x), ids)
        assert torch.equal(loaded.decode(ids), m.decode(ids))
    else:
        assert torch.equal(
            loaded.encode(x) if kind == "vae" else loaded.encode(x, torch.zeros(3, 4)),
            m.encode(x) if kind == "vae" else m.encode(x, torch.zeros(3, 4)),
        )


def test_tiny_model_overfits_eight_clocks():
    torch.manual_seed(0)
    x = to_tensor([render_clock(h, 7 * h, style=h, size=32, seed=h) for h in range(8)])
    m = tiny(downsample=4, codebook_size=64, restart_after=20)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(psnr(m.eval()(x).reconstruction, x).mean())
    m.train()
    for _ in range(120):
        loss = m(x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    after = float(psnr(m.decode(m.encode(x)), x).mean())
    assert after > before + 8 and after > 17, (before, after)


def test_loss_falls_under_bf16_autocast():
    torch.manual_seed(0)
    x = to_tensor([render_clock(h, 5 * h, style=h, size=32, seed=h) for h in range(4)])
    m = tiny(downsample=4)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m(x)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.recon_loss))
    assert m.quantizer.embed.dtype == torch.float32 and m.quantizer.ema_sum.dtype == torch.float32
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])


def test_edge_weighted_loss():
    from stage1_vqvae.modeling import reconstruction_loss

    t = torch.zeros(1, 3, 8, 8)
    t[..., 4, :] = 1.0  # a line
    x = torch.zeros_like(t)
    assert reconstruction_loss(x, t, "mse", 4.0) > reconstruction_loss(x, t, "mse", 0.0)
    assert reconstruction_loss(t, t, "l1", 4.0) == 0


def test_perceptual_loss_measures_what_its_network_sees():
    net = TwoConvs()
    term, twice = PerceptualLoss(net, 0.5), PerceptualLoss(net, 1.0)
    t = torch.rand(2, 3, 16, 16) * 2 - 1
    x = (t + 0.3 * torch.randn_like(t)).requires_grad_()
    loss = term(x, t)
    assert float(term(t, t)) < 1e-6 < float(loss.detach())
    assert torch.allclose(2 * loss, twice(x, t))
    loss.backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert not net.training  # kept in eval mode: a reader's batch norms keep their statistics
    with pytest.raises(ValueError, match="weight is > 0"):
        PerceptualLoss(net, 0.0)


def test_baselines():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    ae = build("ae", **SMALL)
    assert ae(x).reconstruction.shape == x.shape
    vae = build("vae", beta=4.0, **SMALL)
    out = vae.train()(x)
    assert out.kl > 0 and torch.isfinite(out.loss)
    assert vae.sample_prior(3).shape == (3, 3, 64, 64)
    cvae = build("cvae", **SMALL)
    out = cvae(x, hour=torch.tensor([3, 9]), minute=torch.tensor([15, 45]))
    assert out.kl > 0 and torch.isfinite(out.loss)
    s = cvae.sample([3, 4], [15, 0], n=2, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 3, 64, 64) and s.min() >= -1 and s.max() <= 1
    with pytest.raises(ValueError, match="hour and minute"):
        cvae(x)
