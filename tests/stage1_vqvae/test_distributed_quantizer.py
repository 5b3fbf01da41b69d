"""Two real gloo processes: the EMA codebook stays identical on both ranks (issue 9, item 2)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from stage1_vqvae import VectorQuantizer

pytestmark = pytest.mark.slow  # launches two processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, path: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)  # different data and RNG on each rank
    vq = VectorQuantizer(codebook_size=16, dim=4, restart_after=2).train()
    for _ in range(6):
        vq(torch.randn(2, 4, 4, 4) * (1 + rank))
    save_file({k: v.clone() for k, v in vq.state_dict().items()}, f"{path}/rank{rank}.safetensors")
    dist.destroy_process_group()


@pytest.mark.distributed
def test_codebook_identical_on_two_ranks(tmp_path):
    mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    a = load_file(tmp_path / "rank0.safetensors")
    b = load_file(tmp_path / "rank1.safetensors")
    assert bool(a["initialized"]) and bool(b["initialized"])
    for key in a:
        assert torch.equal(a[key], b[key]), key
