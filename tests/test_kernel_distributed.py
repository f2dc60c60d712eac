"""Two gloo processes on localhost compute the kernel of a shared model: the same as one process."""

from __future__ import annotations

import socket

import problems
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainless.kernel import KernelConfig, compute_kernel

METHODS = ["exact", "pseudo", "countsketch", "gaussian", "structured"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        model = problems.conv_zoo()
        x = problems.images(n=7)  # 7 samples over 2 ranks: uneven shares 4 + 3
        got = {m: compute_kernel(model, x, KernelConfig(method=m, dim=64, seed=5, tile=2)) for m in METHODS}
        torch.save({m: (r.k_train_train, r.f0) for m, r in got.items()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one(tmp_path):
    out = str(tmp_path / "kernel")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    model = problems.conv_zoo()
    x = problems.images(n=7)
    for rank in (0, 1):
        got = torch.load(f"{out}.{rank}")
        for m in METHODS:
            want = compute_kernel(model, x, KernelConfig(method=m, dim=64, seed=5))
            torch.testing.assert_close(got[m][0], want.k_train_train, rtol=1e-10, atol=1e-12, msg=m)
            torch.testing.assert_close(got[m][1], want.f0, rtol=1e-12, atol=1e-12, msg=m)
