"""Epsilon-training-times of a curve (DESIGN.md, "Epsilon-training-time"; Algorithm 1, line 10)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._enums import DocEnum
from ..errors import TrainlessError


class EpsDefinition(DocEnum):
    """Which threshold a curve L_0..L_T must reach. Time in steps; T the budget."""

    DECREASE = (
        "decrease",
        "min{t : |L_t - L_T| <= eps |L_0 - L_T|}: within eps of the total decrease (the paper's, default).",
    )
    FINAL = ("final", "min{t : |L_t - L_T| <= eps |L_T|}: within a fraction eps of the final value.")
    INITIAL = ("initial", "min{t : L_t <= eps L_0}: the first step at or below a fraction eps of the start.")
    ABSOLUTE = ("absolute", "min{t : L_t <= eps}: the first step at or below the level eps itself.")


class EpsStatus(DocEnum):
    """Whether the threshold was reached; each message says what to do."""

    REACHED = ("reached", "reached within the budget")
    AT_BUDGET = (
        "at-budget",
        "reached only at the last step: the curve has not flattened within the budget; raise steps",
    )
    NOT_REACHED = ("not-reached", "not reached within the budget: raise steps")
    FLAT = ("flat", "the curve does not change over the budget (L_0 = L_T): nothing to time")
    DIVERGED = ("diverged", "the curve is non-finite: the run diverges; lower the learning rate")

    @property
    def message(self) -> str:
        return self.__doc__ or ""


@dataclass(frozen=True)
class EpsTime:
    """One epsilon-training-time. steps: the step index (None unless reached); basis: ``loss`` or ``error``."""

    eps: float
    basis: str
    definition: EpsDefinition
    steps: int | None
    status: EpsStatus

    def to_dict(self) -> dict:
        return {
            "eps": self.eps,
            "basis": self.basis,
            "definition": self.definition.value,
            "steps": self.steps,
            "status": self.status.value,
            "message": self.status.message,
        }


def check_eps(eps: Sequence[float], definition: EpsDefinition | str) -> tuple[float, ...]:
    """Validate a list of eps for ``definition``: in (0, 1) for the relative ones, > 0 for ``absolute``."""
    definition = EpsDefinition(definition)
    out = []
    for e in eps:
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e):
            raise TrainlessError(f"eps must be a finite number, got {e!r}")
        if definition is EpsDefinition.ABSOLUTE:
            if e <= 0:
                raise TrainlessError(f"an absolute eps (a loss level) must be > 0, got {e}")
        elif not 0 < e < 1:
            raise TrainlessError(f"eps must be in (0, 1) for the {definition.value!r} definition, got {e}")
        out.append(float(e))
    if not out:
        raise TrainlessError("eps is empty: give at least one threshold")
    return tuple(out)


def smooth(curve: torch.Tensor, window: int) -> torch.Tensor:
    """Trailing moving average over ``window`` steps (window 1: unchanged); the first points average what
    exists. Used on real SGD loss curves before timing them."""
    if window < 1:
        raise TrainlessError(f"smoothing window must be >= 1, got {window}")
    x = curve.to(torch.float64)
    if window == 1:
        return x
    c = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(x, 0)])
    idx = torch.arange(1, x.numel() + 1)
    lo = (idx - window).clamp_min(0)
    return (c[idx] - c[lo]) / (idx - lo)


def epsilon_time(
    curve: torch.Tensor | Sequence[float], eps: float, definition: EpsDefinition | str = EpsDefinition.DECREASE
) -> tuple[int | None, EpsStatus]:
    """The epsilon-training-time of ``curve`` (L_0..L_T, one value per step) and its status."""
    definition = EpsDefinition(definition)
    x = torch.as_tensor(curve, dtype=torch.float64)
    if x.ndim != 1 or x.numel() < 2:
        raise TrainlessError(f"a curve needs at least 2 points (steps 0..T), got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        return None, EpsStatus.DIVERGED
    first, last = float(x[0]), float(x[-1])
    steps = x.numel() - 1
    if definition is EpsDefinition.DECREASE:
        if first == last:
            return None, EpsStatus.FLAT
        hit = (x - last).abs() <= eps * abs(first - last)
    elif definition is EpsDefinition.FINAL:
        hit = (x - last).abs() <= eps * abs(last)
    elif definition is EpsDefinition.INITIAL:
        hit = x <= eps * first
    else:
        hit = x <= eps
    # For a non-monotone curve "the first time within eps" and "within eps from then on" differ; the paper
    # (Algorithm 1, line 10) and DESIGN.md take the first time.
    where = torch.nonzero(hit).flatten()
    if where.numel() == 0:
        return None, EpsStatus.NOT_REACHED
    t = int(where[0])
    if t == steps and definition in (EpsDefinition.DECREASE, EpsDefinition.FINAL):
        return t, EpsStatus.AT_BUDGET
    return t, EpsStatus.REACHED


def epsilon_times(
    curve: torch.Tensor | Sequence[float],
    eps: Sequence[float],
    *,
    basis: str = "loss",
    definition: EpsDefinition | str = EpsDefinition.DECREASE,
) -> tuple[EpsTime, ...]:
    """:func:`epsilon_time` for each eps."""
    definition = EpsDefinition(definition)
    eps = check_eps(eps, definition)
    out = []
    for e in eps:
        t, status = epsilon_time(curve, e, definition)
        out.append(EpsTime(e, basis, definition, t, status))
    return tuple(out)
