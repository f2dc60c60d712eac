"""Predicted vs real: the figures every validation and benchmark reports (DESIGN.md, "Epsilon-training-time")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..dynamics import EpsDefinition, epsilon_time, smooth
from ..errors import TrainlessError
from ..finetune import RunRecord
from ..predict import Prediction


@dataclass(frozen=True)
class EpsComparison:
    """One epsilon-training-time, predicted and real (steps; None when not reached), and the relative
    error |T_pred - T_real| / T_real (None when either is missing or T_real = 0)."""

    eps: float
    basis: str
    predicted: int | None
    real: int | None
    relative_error: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LevelComparison:
    """Steps until the loss first reaches ``level`` x its initial value, predicted and real."""

    level: float
    predicted: int | None
    real: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """A prediction against the real run of the same configuration.

    steps: the common step grid (the real run's evaluation steps). eps: per eps and basis (``loss`` /
    ``error``), on the predicted expected curve and the real curve (smoothed by a trailing moving average of
    ``smooth_window`` steps; 1: none). levels: absolute checkpoints. final_loss_relative_error and
    final_error_abs_difference: at the last step. loss_max_abs_difference: the largest gap of the curves.
    curve: ``expected`` (the mean over batch orders / paths) or ``paired`` (the real run's batch order).
    cost_ratio: real fine-tuning time (its optimizer steps; the harness's whole-set evaluations excluded)
        / prediction time.
    test: on held-out points, when both have test curves: n, final_loss_predicted / _real,
        final_error_predicted / _real, loss_max_abs_difference (over the common steps); else None.
    band_coverage: the share of the steps after 0 at which the real loss (unsmoothed) lies inside the predicted
        5-95% band over batch orders (:func:`band_coverage`); None for the paired curve and where the band has
        no width (full-batch GD: one curve).
    loss_band_coverage: the same for the benchmark's loss band (``Prediction.real_loss_low`` / ``real_loss_high``,
        which held 90% of the packaged runs alike at each step); None for the paired curve or a prediction without one.
    steps_band: per steps band of the prediction (``Prediction.steps_band``, each of which held 90% of the packaged
        runs alike), the band, the real run's steps to its target as ``levels`` / ``eps`` count them (None: never) and
        whether they lie inside it (:func:`steps_band_hit`); empty for the paired curve or a prediction without one.
    """

    curve: str

    steps: tuple[int, ...]
    eps: tuple[EpsComparison, ...]
    levels: tuple[LevelComparison, ...]
    smooth_window: int
    final_loss_predicted: float
    final_loss_real: float
    final_loss_relative_error: float
    final_error_predicted: float
    final_error_real: float
    final_error_abs_difference: float
    loss_max_abs_difference: float
    mean_relative_eps_error: dict[str, float | None]
    prediction_seconds: float
    real_seconds: float
    cost_ratio: float
    test: dict[str, Any] | None = None
    band_coverage: float | None = None
    loss_band_coverage: float | None = None
    steps_band: tuple[dict[str, Any], ...] = ()

    @property
    def steps_band_coverage(self) -> float | None:
        """The share of the prediction's steps bands that held the real run's steps (None: no band)."""
        return sum(b["inside"] for b in self.steps_band) / len(self.steps_band) if self.steps_band else None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["steps_band"] = [dict(b) for b in self.steps_band]
        d["steps"] = list(self.steps)
        d["eps"] = [e.to_dict() for e in self.eps]
        d["levels"] = [e.to_dict() for e in self.levels]
        return d


def _at(grid_values: tuple[float, ...], steps: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor([grid_values[s] for s in steps], dtype=torch.float64)


def band_coverage(
    low: Sequence[float], high: Sequence[float], real: Sequence[float], steps: Sequence[int] | None = None
) -> float | None:
    """The share of steps 1..T at which ``real`` lies within [``low``, ``high``], or None when ``low`` and ``high``
    coincide at every one of them: a full-batch prediction is one curve and has no band. Step 0 is left out,
    where every curve is L_0. ``low``, ``high``: the predicted band's curves, indexed by step; ``real``: the real
    loss at ``steps`` (the real run's evaluation steps, from 0), or on the band's own grid when ``steps`` is None.

    A calibrated 5-95% band holds a real run about 90% of the time; far less says the band (the linearized
    model's spread over batch orders) is too narrow for the real runs' spread, or off centre."""
    if steps is not None:
        low, high = [low[s] for s in steps], [high[s] for s in steps]
    if not len(low) == len(high) == len(real):
        raise TrainlessError(f"band_coverage needs curves of one length, got {len(low)}, {len(high)}, {len(real)}")
    inside = [lo <= r <= hi for lo, hi, r in zip(low[1:], high[1:], real[1:], strict=True)]
    if not inside or all(lo == hi for lo, hi in zip(low[1:], high[1:], strict=True)):
        return None
    return sum(inside) / len(inside)


def steps_band_hit(low: int, high: int | None, real: int | None) -> bool:
    """Whether a real run's steps to a target (None: it never got there) lie within a steps band [``low``,
    ``high``] (:class:`~trainless.predict.StepsBand`); a ``high`` of None is unbounded and holds a run that never
    got there."""
    if real is None:
        return high is None
    return low <= real and (high is None or real <= high)


def _steps_band(prediction: Prediction, levels: list[LevelComparison], eps_rows: list[EpsComparison]) -> tuple:
    real = {("level", lv.level): lv.real for lv in levels}
    real |= {("eps", e.eps): e.real for e in eps_rows if e.basis == "loss"}
    out = []
    for b in prediction.steps_band:
        steps = real.get((b.target, b.value))
        out.append({**b.to_dict(), "real": steps, "inside": steps_band_hit(b.low, b.high, steps)})
    return tuple(out)


def _time(curve: torch.Tensor, eps: float, steps: tuple[int, ...], definition: EpsDefinition) -> int | None:
    idx, _ = epsilon_time(curve, eps, definition)
    return None if idx is None else steps[idx]


def compare(
    prediction: Prediction, record: RunRecord, *, smooth_window: int = 1, curve: str = "expected"
) -> Comparison:
    """Compare ``prediction`` with the real run ``record`` of the same configuration, on the real run's
    evaluation steps. The eps list, its definition and the levels are the prediction's. ``curve``:
    ``expected`` (the prediction's mean curve) or ``paired`` (its run with the real batch order)."""
    if curve not in ("expected", "paired"):
        raise TrainlessError(f"curve must be 'expected' or 'paired', got {curve!r}")
    if prediction.steps != record.config.steps:
        raise TrainlessError(
            f"the prediction covers {prediction.steps} steps and the real run {record.config.steps}: not the same run"
        )
    if prediction.n != record.n:
        raise TrainlessError(f"the prediction has N={prediction.n} samples and the real run N={record.n}")
    if record.status.value != "completed":
        raise TrainlessError(f"the real run did not complete ({record.message}); nothing to compare")
    steps = tuple(record.eval_steps)
    definition = EpsDefinition(prediction.options.eps_definition)
    if curve == "paired":
        pred_loss, pred_err = _at(prediction.paired_loss, steps), _at(prediction.paired_error, steps)
    else:
        pred_loss, pred_err = _at(prediction.loss, steps), _at(prediction.error, steps)
    real_loss = smooth(torch.tensor(record.loss, dtype=torch.float64), smooth_window)
    real_err = smooth(torch.tensor(record.error, dtype=torch.float64), smooth_window)
    eps_rows = []
    for basis, p_curve, r_curve in (("loss", pred_loss, real_loss), ("error", pred_err, real_err)):
        for e in prediction.options.eps:
            tp, tr = _time(p_curve, e, steps, definition), _time(r_curve, e, steps, definition)
            rel = None if tp is None or tr is None or tr == 0 else abs(tp - tr) / tr
            eps_rows.append(EpsComparison(e, basis, tp, tr, rel))
    levels = []
    for level in prediction.options.levels:
        tp = _time(pred_loss, level, steps, EpsDefinition.INITIAL)
        tr = _time(real_loss, level, steps, EpsDefinition.INITIAL)
        levels.append(LevelComparison(level, tp, tr))
    means: dict[str, float | None] = {}
    for basis in ("loss", "error"):
        errs = [r.relative_error for r in eps_rows if r.basis == basis and r.relative_error is not None]
        means[basis] = sum(errs) / len(errs) if errs else None
    real_seconds = sum(record.step_seconds)
    fl_p, fl_r = float(pred_loss[-1]), float(record.loss[-1])
    test = None
    if prediction.test_loss and record.test_loss:
        tl_p = _at(prediction.test_loss, steps)
        tl_r = torch.tensor(record.test_loss, dtype=torch.float64)
        test = {
            "n": record.test_n,
            "final_loss_predicted": float(tl_p[-1]),
            "final_loss_real": float(tl_r[-1]),
            "final_error_predicted": float(_at(prediction.test_error, steps)[-1]),
            "final_error_real": float(record.test_error[-1]),
            "loss_max_abs_difference": float((tl_p - tl_r).abs().max()),
        }
    coverage = loss_band = None
    steps_bands: tuple[dict[str, Any], ...] = ()
    if curve == "expected":
        coverage = band_coverage(prediction.loss_low, prediction.loss_high, record.loss, steps)
        if prediction.real_loss_low:
            loss_band = band_coverage(prediction.real_loss_low, prediction.real_loss_high, record.loss, steps)
        steps_bands = _steps_band(prediction, levels, eps_rows)
    return Comparison(
        curve=curve,
        steps=steps,
        eps=tuple(eps_rows),
        levels=tuple(levels),
        smooth_window=smooth_window,
        final_loss_predicted=fl_p,
        final_loss_real=fl_r,
        final_loss_relative_error=abs(fl_p - fl_r) / fl_r if fl_r else math.inf,
        final_error_predicted=float(pred_err[-1]),
        final_error_real=float(record.error[-1]),
        final_error_abs_difference=abs(float(pred_err[-1]) - float(record.error[-1])),
        loss_max_abs_difference=float((pred_loss - torch.tensor(record.loss, dtype=torch.float64)).abs().max()),
        mean_relative_eps_error=means,
        prediction_seconds=prediction.seconds,
        real_seconds=real_seconds,
        cost_ratio=real_seconds / prediction.seconds,
        test=test,
        band_coverage=coverage,
        loss_band_coverage=loss_band,
        steps_band=steps_bands,
    )
