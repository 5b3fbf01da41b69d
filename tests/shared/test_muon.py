"""BatchedMuon is torch's Muon: the same updates and the same state, its Newton-Schulz steps batched."""

import pytest
import torch

from shared.muon import BatchedMuon, newton_schulz


def matrices(seed: int) -> list[torch.nn.Parameter]:
    """Matrices of three shapes, wide, square and tall, two of some, as a transformer has them."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 8), (8, 8), (24, 8), (8, 24), (24, 8)]
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust_lr_fn", ["match_rms_adamw", None])
def test_batched_muon_steps_as_torch_muon(nesterov, adjust_lr_fn):
    kw = {"lr": 0.02, "weight_decay": 0.1, "nesterov": nesterov, "adjust_lr_fn": adjust_lr_fn}
    ours, theirs = matrices(0), matrices(0)
    batched, single = BatchedMuon(ours, **kw), torch.optim.Muon(theirs, **kw)
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn(a.shape, generator=g)
            b.grad = a.grad.clone()
        batched.step()
        single.step()
    for a, b, start in zip(ours, theirs, matrices(0)):
        assert not torch.equal(a, start)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # the state is torch's: a checkpoint of one loads into the other
    single.load_state_dict(batched.state_dict())
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(single.state[b]["momentum_buffer"], batched.state[a]["momentum_buffer"])


def test_batched_muon_skips_matrices_without_gradients():
    params = matrices(0)
    before = [p.detach().clone() for p in params]
    params[0].grad = torch.ones_like(params[0])
    BatchedMuon(params, lr=0.1).step()
    assert not torch.equal(params[0], before[0])
    assert all(torch.equal(p, b) for p, b in zip(params[1:], before[1:]))


def test_newton_schulz_in_fp32_orthogonalises_as_in_bf16():
    """The fp32 steps (CPUs without native bf16) give torch's bf16 result, to bf16's precision."""
    updates = torch.stack([p.detach() for p in matrices(2)[:2]])  # two 8x8 matrices
    coefficients = torch.optim.Muon([torch.nn.Parameter(updates[0])]).defaults["ns_coefficients"]
    bf16, fp32 = (newton_schulz(updates, coefficients, 5, 1e-7, dtype) for dtype in (torch.bfloat16, torch.float32))
    assert bf16.dtype == torch.bfloat16 and fp32.dtype == torch.float32
    torch.testing.assert_close(fp32, bf16.float(), rtol=0, atol=0.03)
    # quintic Newton-Schulz pushes singular values into about [0.7, 1.2], not exactly to 1
    singular = torch.linalg.svdvals(fp32)
    assert singular.min() > 0.5 and singular.max() < 1.3
