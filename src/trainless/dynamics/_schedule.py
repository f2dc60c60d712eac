"""The optimizer as the function-space engines see it: torch.optim.SGD's steps, one lr per step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import TrainlessError


@dataclass(frozen=True, eq=False)
class SGDSchedule:
    """A torch.optim.SGD run, step by step. Time is counted in optimizer steps.

    lr: (T,) learning rate of each step, as the scheduler sets it (step t uses lr[t]); T >= 1, each > 0.
    momentum, nesterov, weight_decay: as torch.optim.SGD (buf = m buf + (g + wd w); w -= lr buf, or
        lr (g + wd w + m buf) with Nesterov), dampening 0.
    batch_size: samples per step; None is full-batch GD (every step sees all N samples).
    batch_orders: for minibatches, K batch orders, each T index tensors (as
        :func:`~trainless.data.batch_schedule` draws them); the discrete engine simulates each. None with
        ``batch_size`` None.
    """

    lr: tuple[float, ...]
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int | None = None
    batch_orders: tuple[tuple[torch.Tensor, ...], ...] | None = None

    def __post_init__(self) -> None:
        if len(self.lr) < 1:
            raise TrainlessError("the schedule needs at least 1 step (got an empty lr list)")
        bad = [v for v in self.lr if not (math.isfinite(v) and v > 0)]
        if bad:
            raise TrainlessError(f"every learning rate must be finite and > 0, got {bad[0]!r}")
        if not 0 <= self.momentum < 1:
            raise TrainlessError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum == 0:
            raise TrainlessError("nesterov=True needs momentum > 0")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise TrainlessError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.batch_size is not None and self.batch_size < 1:
            raise TrainlessError(f"batch_size must be >= 1 or None, got {self.batch_size}")
        if self.batch_orders is not None:
            if self.batch_size is None:
                raise TrainlessError("batch_orders were given for a full-batch schedule (batch_size None)")
            for k, order in enumerate(self.batch_orders):
                if len(order) != self.steps:
                    raise TrainlessError(f"batch order {k} has {len(order)} batches for {self.steps} steps")

    @property
    def steps(self) -> int:
        return len(self.lr)

    @property
    def effective_lr(self) -> tuple[float, ...]:
        """The paper's effective learning rate lr / (1 - m) per step (Sec. 3.1, App. E)."""
        return tuple(v / (1.0 - self.momentum) for v in self.lr)

    def times(self) -> torch.Tensor:
        """Continuous time at each step boundary, t_s = sum_{k<s} lr_k / (1 - m): (T+1,) float64.

        (DESIGN.md: t = lr * steps for a constant lr; the effective lr carries momentum.)"""
        elr = torch.tensor(self.effective_lr, dtype=torch.float64)
        return torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(elr, 0)])

    def check_against(self, n: int) -> None:
        if self.batch_size is not None and self.batch_size > n:
            raise TrainlessError(f"batch_size must be in [1, {n}] (the number of samples), got {self.batch_size}")
        for order in self.batch_orders or ():
            for b in order:
                if b.numel() == 0 or int(b.max()) >= n or int(b.min()) < 0:
                    raise TrainlessError(f"a batch holds indices outside [0, {n - 1}] or is empty")


def constant_schedule(lr: float, steps: int, **kwargs: object) -> SGDSchedule:
    """An SGDSchedule with the same lr at every one of ``steps`` steps."""
    if steps < 1:
        raise TrainlessError(f"steps must be at least 1, got {steps}")
    return SGDSchedule(lr=(float(lr),) * steps, **kwargs)  # type: ignore[arg-type]


def as_orders(orders: Sequence[Sequence[torch.Tensor]]) -> tuple[tuple[torch.Tensor, ...], ...]:
    return tuple(tuple(torch.as_tensor(b, dtype=torch.int64) for b in order) for order in orders)
