"""The momentum buffer across kernel updates, kept in weight space.

Under kernel updates the linearized model is piecewise linear, f = f_k + J_k (w - w_k) from the k-th update
on, and torch's momentum buffer is a weight-space vector: buf = m^(s - t_k + 1) B + J_k^T b_s within a segment
(:class:`~trainless.dynamics.MomentumSegment`). The engine keeps its image J_k buf in function space; when J
changes that image must be recomputed, J_{k+1} B: one vector-Jacobian product at the segment's start weights
(to add the segment's part to B) and one Jacobian-vector product at the new weights, per path and update.
"""

from __future__ import annotations

import time

import torch

from ..dynamics import MomentumSegment
from ._endpoint import WeightPath


class BufferCarry:
    """Every path's weight-space buffer B along a kernel-update run, and the first path's weights at each
    segment start (all paths share the first path's Jacobians, as they share its kernels).

    Call order at an update at step t: :meth:`shift` (the first path's pull along its previous B, for the
    weight move), :meth:`started` (after the move), then the instance itself once per path (the engine's
    ``carry_momentum``), which returns J_{k+1} B, (N, C) float64, and leaves the weights at the new start.
    """

    def __init__(self, path: WeightPath) -> None:
        self.path = path
        self.starts: dict[int, list[torch.Tensor]] = {0: path.snapshot()}
        self.buffers: dict[int, list[torch.Tensor]] = {}
        self.seconds: dict[int, float] = {}  # per update step, all paths

    def shift(self, carry: float) -> list[torch.Tensor] | None:
        """-carry B of the first path (its pull along the buffer it had at the segment's start; ``carry``
        from :class:`~trainless.dynamics.MomentumSegment` or ``Trajectory.carry_final``); None before its
        first update (B = 0)."""
        b = self.buffers.get(0)
        return None if b is None else [-carry * v for v in b]

    def started(self, t: int) -> None:
        self.starts[t] = self.path.snapshot()

    def __call__(self, t: int, segment: MomentumSegment) -> torch.Tensor:
        t0 = time.perf_counter()
        previous = max(s for s in self.starts if s < t)
        self.path.load(self.starts[previous])
        pull = self.path.vjp(segment.buffer)
        old = self.buffers.get(segment.path)
        self.buffers[segment.path] = (
            pull if old is None else [segment.decay * b + g for b, g in zip(old, pull, strict=True)]
        )
        self.path.load(self.starts[t])
        u = self.path.jvp(self.buffers[segment.path])
        self.seconds[t] = self.seconds.get(t, 0.0) + time.perf_counter() - t0
        return u
