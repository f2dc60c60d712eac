"""Samples sharded over torch.distributed ranks (gloo on CPU, nccl on GPU), rows gathered in order."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's contiguous slice [lo, hi) of the N samples; ``counts`` is every rank's slice length."""

    rank: int
    world: int
    lo: int
    hi: int
    counts: tuple[int, ...]

    @classmethod
    def of(cls, n: int, distributed: bool | None) -> Shard:
        """The whole set in one process, or this rank's share when torch.distributed is initialized
        (``distributed`` None: whenever it is initialized with more than one rank)."""
        active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if distributed is None:
            distributed = active
        if not distributed or not active:
            return cls(0, 1, 0, n, (n,))
        world, rank = dist.get_world_size(), dist.get_rank()
        per = math.ceil(n / world)
        bounds = [(min(n, r * per), min(n, (r + 1) * per)) for r in range(world)]
        lo, hi = bounds[rank]
        return cls(rank, world, lo, hi, tuple(b - a for a, b in bounds))

    def gather(self, local: torch.Tensor, per_sample: int = 1) -> torch.Tensor:
        """Concatenate every rank's ``local`` (rows = its samples x per_sample) in rank order (all ranks)."""
        if self.world == 1:
            return local
        most = max(self.counts) * per_sample
        pad = torch.zeros((most, *local.shape[1:]), dtype=local.dtype, device=local.device)
        pad[: local.shape[0]] = local
        parts = [torch.empty_like(pad) for _ in range(self.world)]
        dist.all_gather(parts, pad)
        return torch.cat([p[: c * per_sample] for p, c in zip(parts, self.counts, strict=True)])
