"""The gradient-flow path that ``update_path="flow"`` takes its kernel updates along (see :class:`UpdatePath`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..dynamics import KernelOperator, SGDSchedule, simulate
from ..errors import TrainlessError
from ..kernel import KernelResult
from ._endpoint import WeightPath

FLOW_SUBSTEPS = 10
"""GD sub-steps per largest lr of the run along the flow path: a sub-step of lr_max / 10 keeps the flow's GD below
its stability edge while lr_max x sharpness < 20, i.e. up to 5x past a momentum-0.9 run's own edge
(2 (1 + m) / lr); the function-space steps cost little (about a millisecond each at N C = 250)."""


def heavy_ball_distance(lrs: Sequence[float], momentum: float, nesterov: bool = False) -> list[float]:
    """D(t), t = 0..T: how far momentum SGD moves under a constant unit gradient in its first t steps (float64).

    Heavy ball (v_{s+1} = m v_s + g, w -= lr_s v_{s+1}) moves lr_s (1 - m^(s+1)) / (1 - m) at step s; Nesterov
    (w -= lr_s (g + m v_{s+1})) moves lr_s (1 + m (1 - m^(s+1)) / (1 - m)). Without momentum D(t) = sum of the
    first t lrs. Gradient flow run for the time D(t) has travelled as far as the momentum run after t steps, past
    momentum's first 1 / (1 - m) steps of build-up (the drift of a constant gradient; the oscillating part of
    momentum is what the flow leaves out)."""
    out = [0.0]
    for s, lr in enumerate(lrs):
        built = (1.0 - momentum ** (s + 1)) / (1.0 - momentum) if momentum > 0 else 1.0
        out.append(out[-1] + lr * ((1.0 + momentum * built) if nesterov and momentum > 0 else built))
    return out


@dataclass(frozen=True)
class FlowPoint:
    """The flow path at a kernel update: the real network's kernel there (and its outputs, ``result.f0``), the
    weights' distance from w0 (float64) and the linearized flow's outputs there (N, C) float64."""

    result: KernelResult
    distance: float
    f_linear: torch.Tensor


def flow_path(
    path: WeightPath,
    theta0: KernelOperator,
    f0: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    lrs: Sequence[float],
    momentum: float,
    nesterov: bool,
    updates: Sequence[int],
    stride: int | None,
    compute: Callable[[], KernelResult],
    phase: int = 0,
) -> tuple[dict[int, FlowPoint | None], torch.Tensor | None]:
    """Run the full-batch linearized gradient flow from (Theta_0, f0) and take the kernel along it.

    The flow is GD at lr_max / :data:`FLOW_SUBSTEPS`; the run's step t corresponds to the flow's sub-step
    round(D(t) / h), D = :func:`heavy_ball_distance`. At the sub-steps of ``updates`` the path's weights move
    (``path.move_to`` with the flow's coefficients) and ``compute()`` gives the real network's kernel there, which
    the flow then follows; at those of every ``stride`` steps (None: none; the first at step stride - ``phase``) the
    weights only move. The flow runs to
    D(T), where ``path`` is left at its final weights (for the endpoint check). Returns {t: FlowPoint, or None where
    the flow's weights were no longer finite} and the flow's outputs at D(T), (N, C) float64 (None if not finite).
    lrs: the run's per-step lrs (T of them, in optimizer steps); updates: steps 1..T-1 of the run."""
    steps = len(lrs)
    top = max(lrs, default=0.0)
    if top <= 0:
        raise TrainlessError(f"the flow path needs a positive lr, got lrs up to {top}")
    h = top / FLOW_SUBSTEPS
    dist = heavy_ball_distance(lrs, momentum, nesterov)
    end = max(1, round(dist[steps] / h))
    at: dict[int, list[int]] = {}
    for t in updates:
        at.setdefault(min(max(1, round(dist[t] / h)), end), []).append(t)
    moves = set() if stride is None else {round(dist[s] / h) for s in range(stride - phase, steps, stride)}
    hooked = tuple(sorted((set(at) | moves | {end}) - {0}))
    points: dict[int, FlowPoint | None] = {}
    current = [theta0]
    final: list[torch.Tensor | None] = [None]

    def hook(s: int, alpha: torch.Tensor, f: torch.Tensor, segment: object) -> KernelOperator:
        moved = path.move_to(alpha)
        if s == end and moved and bool(torch.isfinite(f).all()):
            final[0] = f.clone()
        if s in at:
            point = None
            if moved:
                try:
                    result = compute()
                    current[0] = KernelOperator(result.k_train_train)
                    point = FlowPoint(result, path.distance(), f.clone())
                except TrainlessError:  # non-finite outputs or kernel at weights far out: the flow diverges
                    pass
            for t in at[s]:
                points[t] = point
        return current[0]

    # One sub-step past the end, so that the hook at `end` moves the path to the final weights.
    simulate(
        theta0,
        f0,
        y,
        SGDSchedule(lr=[h] * (end + 1)),
        loss=loss,
        kernel_updates=hooked,
        update_kernel=hook,
        distance_stride=end + 1,
    )
    return points, final[0]
