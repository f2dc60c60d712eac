"""What every engine returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch

from .._enums import DocEnum

if TYPE_CHECKING:
    from ._operator import KernelOperator


class TrajectoryStatus(DocEnum):
    """How a simulation ended."""

    COMPLETED = ("completed", "All steps simulated.")
    DIVERGED = (
        "diverged",
        "The predicted outputs became non-finite: the linearized run diverges at this learning rate; lower it.",
    )


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A simulated training run in function space. Time in optimizer steps 0..T.

    loss, error: (P, T+1) float64, the mean training loss and error rate on the N samples before step
        t's update (index T: after the last step), for each of P paths (batch orders or SDE paths; 1 for
        deterministic engines). A diverged path holds NaN from the step it diverged.
    distance_steps: (S,) int64 steps at which the parameter distance was evaluated.
    distance: (P, S) float64, ||w_t - w0|| of the linearized model (NaN where the engine cannot track it).
    f_final: (P, N, C) float64, the outputs after the last step.
    alpha_final, c_final: (P, N, C) and (P,) float64, the final weights' coordinates: every engine's update
        combines Jacobian rows and w0, so w_T - w0 = J^T alpha_T + c_T w0 (one vector-Jacobian product
        gives the weights; ``predict.endpoint_check`` evaluates the real network there).
    times: (T+1,) float64, the continuous time t_s = sum_{k<s} lr_k / (1 - m) of each step boundary.
    test_loss, test_error: (P, T+1) float64 on the held-out points (:class:`HeldOut`, Lee et al. eq. 10 /
        19: the linearized model's outputs there follow from alpha_t), or None without held-out points.
    carry_final: (P,) float64 with kernel updates under momentum and a ``carry_momentum`` hook: alpha_final
        then holds the last segment's Jacobian rows only, and the weights at T are
        w_last + J_last^T (alpha_T - alpha_last) - carry_final B (:class:`~trainless.dynamics.MomentumSegment`);
        None otherwise.
    """

    engine: str
    loss: torch.Tensor
    error: torch.Tensor
    distance_steps: torch.Tensor
    distance: torch.Tensor
    f_final: torch.Tensor
    alpha_final: torch.Tensor
    c_final: torch.Tensor
    times: torch.Tensor
    status: TrajectoryStatus
    message: str
    test_loss: torch.Tensor | None = None
    test_error: torch.Tensor | None = None
    carry_final: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return int(self.loss.shape[1]) - 1

    @property
    def paths(self) -> int:
        return int(self.loss.shape[0])


class EngineOutput(NamedTuple):
    """What each engine's runner returns (float64): see :class:`Trajectory` for the shapes."""

    loss: torch.Tensor
    error: torch.Tensor
    distance_steps: torch.Tensor
    distance: torch.Tensor
    f_final: torch.Tensor
    alpha_final: torch.Tensor
    c_final: torch.Tensor
    test_loss: torch.Tensor | None = None
    test_error: torch.Tensor | None = None
    carry_final: torch.Tensor | None = None


def distance_grid(steps: int, stride: int) -> torch.Tensor:
    """Steps 0, stride, 2 stride, ..., and always the last step T."""
    grid = list(range(0, steps + 1, stride))
    if grid[-1] != steps:
        grid.append(steps)
    return torch.tensor(grid, dtype=torch.int64)


def parameter_distance(
    op: KernelOperator, alpha: torch.Tensor, c: torch.Tensor | float, jw: torch.Tensor, w0_sq: float
) -> torch.Tensor:
    """||w - w0|| of the linearized model without the weights, for any batch of states (..., N, C).

    Every update of torch.optim.SGD on f = f0 + J (w - w0) combines Jacobian rows and, with weight decay, w0,
    so w - w0 = J^T alpha + c w0 and ||w - w0||^2 = alpha . Theta alpha + 2 c alpha . J w0 + c^2 ||w0||^2.
    jw: (N, C) J w0; w0_sq: ||w0||^2. float64; round-off below 0 is clamped.
    """
    sq = op.quad(alpha) + 2.0 * c * (alpha * jw).sum(dim=(-1, -2)) + c * c * w0_sq
    return sq.clamp_min(0.0).sqrt()
