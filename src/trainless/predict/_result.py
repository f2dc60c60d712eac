"""The frozen result of a prediction and its files."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._io import ensure_writable_dir, write_json, write_text
from ..dynamics import EpsStatus, EpsTime, TrajectoryStatus, epsilon_times
from ..dynamics._eps import EpsDefinition
from ..finetune import FinetuneConfig
from ._config import PredictConfig


@dataclass(frozen=True)
class LevelTime:
    """Steps until the loss first falls to ``level`` x the initial loss (None: not within the budget)."""

    level: float
    steps: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "steps": self.steps}


@dataclass(frozen=True)
class StepsBand:
    """Where the real run's steps to one target lay around predictions like this one on the benchmark.

    target: ``level`` (steps until L_t <= value x L_0, :class:`LevelTime`) or ``eps`` (the epsilon-training-time on
    the loss, eps = value, within value x |L_0 - L_T| of the end: the paper's definition). predicted: this
    prediction's steps. low, high: the 90% band on the real run's steps, in optimizer steps, rounded outward to
    whole steps (``high`` may pass T: the real run may not get there within the budget; None: unbounded, some
    benchmark runs alike never got there). cases: the benchmark runs the band rests on
    (:func:`~trainless.predict.steps_band`)."""

    target: str
    value: float
    predicted: int
    low: int
    high: int | None
    cases: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "value": self.value,
            "predicted": self.predicted,
            "low": self.low,
            "high": self.high,
            "cases": self.cases,
        }


def level_times(loss: torch.Tensor, levels: tuple[float, ...]) -> tuple[LevelTime, ...]:
    """For each level, the first step at which ``loss`` (L_0..L_T) is at or below level x L_0."""
    out = []
    for level in levels:
        hit = torch.nonzero(loss <= level * loss[0]).flatten()
        out.append(LevelTime(level, int(hit[0]) if hit.numel() else None))
    return tuple(out)


def curve_times(
    loss: torch.Tensor, error: torch.Tensor | Sequence[float], options: PredictConfig
) -> tuple[tuple[EpsTime, ...], tuple[LevelTime, ...]]:
    """A prediction's epsilon-training-times (``options.eps`` by ``options.eps_definition``, on the loss, then on the
    error) and its level times (``options.levels``, on the loss) from its curves L_0..L_T and err_0..err_T."""
    times = epsilon_times(loss, options.eps, basis="loss", definition=options.eps_definition)
    times += epsilon_times(error, options.eps, basis="error", definition=options.eps_definition)
    return times, level_times(loss, options.levels)


@dataclass(frozen=True)
class Prediction:
    """What :func:`~trainless.predict.predict` returns (frozen; fields fixed). Time in optimizer steps.

    config, options: the run predicted and how; with kernel updates, ``options.path_stride`` is the stride
    used (an ``"auto"`` resolved to steps, or None where it made no moves).

    Curves, at steps 0..T (index t: before step t's update, T: after the last step), all float:
    loss, error: the expected mean training loss and error rate (mean over batch orders / SDE paths);
    loss_low, loss_high, error_low, error_high: the 5% and 95% quantiles over them (equal to the mean for
        deterministic runs);
    paired_loss, paired_error: the run with the real run's batch order (config.seed), for minibatch SGD
        with the discrete engine; otherwise equal to the mean curves.
    real_loss_low, real_loss_high: where the real loss lay around predictions like this one on the benchmark, per
        step (:func:`~trainless.predict.loss_band`: at each step 90% of the benchmark's runs of the same trust
        cell, split-conformal; inf / 0 for an unbounded side); empty where no band applies (a closed-loop
        prediction, no endpoint check, or a cell with too few runs). ``trust["loss_band"]`` says which cell.
    steps_band: the same for the steps to the loss levels and to the eps levels on the loss (:class:`StepsBand`,
        :func:`~trainless.predict.steps_band`): one per target this prediction reaches whose cell has a band;
        empty where the loss band is (and for an eps definition other than ``decrease``).
        ``trust["steps_band"]`` says which cell and how the band held with each suite left out.
    distance_steps, weight_distance: predicted ||w_t - w0|| of the linearized model (mean over paths; NaN
        where the engine cannot track it); paired_weight_distance: the paired run's.
    lr: the learning rate of each step, t = 0..T-1.
    eps_times: epsilon-training-times on the expected loss and error curves; each with a status.
    level_times: steps until the loss reaches fractions of its initial value.
    eigenvalues: Theta's eigenvalues, descending (N C of them; float64 values). projections_initial /
        projections_final: (v_k . r)^2 for the residual r = -dl/df (y - f for MSE; onehot - softmax(f) for
        CE) at w0 and at step T: how much of what remains to be fitted lies along each eigenvector
        (Prop. 2: along v_k, MSE GD decays as exp(-2 lr lambda_k t / N)).
    kernel: the kernel's method, dimension, seconds, peak memory, number of parameters, and column_groups (how many
        groups of J's columns ``exact`` or ``pseudo`` streamed, each repeating the per-sample passes over the data; 1
        for the other methods).
    step_seconds: the measured time of one real optimizer step on this hardware (median; None when not
        timed); estimated_run_seconds: steps x step_seconds (the optimizer steps alone, without evaluation).
    seconds: the prediction's own wall time; kernel_seconds, dynamics_seconds: its two main parts (every kernel
        computed, Theta_0's and the updates'; the function-space dynamics alone). The rest: the timed optimizer
        steps, the path's weight moves and the endpoint check.
    peak_rss_mib: the process's resident-memory peak (MiB).
    w0_norm: ||w0|| of the trained parameters.
    status, message: whether the linearized run stayed finite, and what to do if not.
    warnings: things the user should know before trusting the numbers.
    observed_steps: 0 for a prediction from w0; k for a closed-loop prediction whose steps 0..k are real.
    sharpness: the largest eigenvalue of the linearized loss's weight-space Hessian at w0, (1/N) J^T H J
        with H the loss's curvature in the logits at f0 (float64; per unit lr). edge_ratio: the largest
        lr of the run over the full-batch stability edge 2 (1 + m) / sharpness (1: at the edge).
        edge_scale: the factor the linearized run's lrs were multiplied by (1 / edge_ratio for an MSE run past
        the edge under ``PredictConfig.above_edge="edge"``; 1 otherwise). ``lr`` keeps the config's.
    endpoint: the real network at the predicted final weights (``EndpointCheck.to_dict()``: loss_linear,
        loss_real, output_gap, units, flip_fraction, inactive_fraction, seconds); None when not checked.
    kernel_path: one entry per kernel update (``PredictConfig.kernel_updates``): step, weight_distance
        (||w - w0|| there), trace_ratio (tr Theta / tr Theta_0), relative_change (||Theta - Theta_0||_F /
        ||Theta_0||_F), edge_ratio (the rest of the run's largest lr over the stability edge of the new
        kernel at the outputs reached), scale (the edge cap's factor, 1 without it), residual_rate (g Theta g /
        g Theta_0 g, g = dL/df at the predicted outputs there: how much faster the new kernel drives down what is
        left to fit; far above trace_ratio, its growth concentrates on the residual), path_loss_real and
        path_loss_linear (the real network's loss at the path's weights there, from the kernel's own forward pass,
        and the linearized run's), path_output_gap (||f_real - f_lin|| / ||f_lin - f0|| there, the endpoint
        check's gap at that step), seconds (the kernel's; 0 for one a refined prediction took from its first
        pass, see ``PredictConfig.refine_updates``) and,
        under momentum, carry_seconds (mapping every path's momentum buffer onto the new Jacobian); empty for
        the frozen kernel.
    trust: the trust signal: ``flags`` (``edge``, ``endpoint``), ``mode`` (``frozen`` | ``updates``), the
        benchmark ``band`` of cases flagged alike (median and p95 relative T_eps error, cases), ``direction`` (of
        the calibration suite's (case, eps) pairs of the run's regime, how many the prediction reached before
        the real run: ``early`` of ``pairs``; None where the regime has none), ``text`` and, with a loss band,
        ``loss_band`` (:func:`~trainless.predict.loss_band`'s ``info`` and its sentence, ``text``).
    test_n, test_loss, test_error: the held-out points (``predict(..., test_data=...)``) and the linearized
        model's mean loss and error rate on them at steps 0..T (mean over batch orders; Lee et al. eq. 10,
        eq. 19 for the closed form); 0 and empty without test data.
    spectral: why the run is slow (``SpectralDiagnosis.to_dict()``): the power-law fit of Theta's
        spectrum, how many eigen-directions hold 50 / 90 / 99% of ||dy||^2, per-sample convergence steps and
        the slowest samples, the gradients' top-two principal components per sample.
    inactive_share: the share of exactly-zero entries of the (N, F) penultimate features (the head's inputs) over
        the training set at the linearization point, float32 forward pass; measured whenever the model and data are
        given (None otherwise, or for a model whose head is not its last operation). From a gate on the auto choices
        treat the network as far from its linearization: ``refine_updates`` without momentum from 90%
        (:data:`~trainless.predict.REFINE_INACTIVE_SHARE`; from 85%, full batch, the schedule halved up front,
        :data:`~trainless.predict.HALVE_INACTIVE_SHARE`), updates along the flow with momentum from 85%
        (:data:`~trainless.predict.FLOW_INACTIVE_SHARE`).
    """

    config: FinetuneConfig
    options: PredictConfig
    model: str
    data: str
    n: int
    classes: int
    trainable: str
    num_trainable: int
    head_start: dict[str, Any]
    engine: str
    loss: tuple[float, ...]
    loss_low: tuple[float, ...]
    loss_high: tuple[float, ...]
    error: tuple[float, ...]
    error_low: tuple[float, ...]
    error_high: tuple[float, ...]
    paired_loss: tuple[float, ...]
    paired_error: tuple[float, ...]
    distance_steps: tuple[int, ...]
    weight_distance: tuple[float, ...]
    paired_weight_distance: tuple[float, ...]
    lr: tuple[float, ...]
    eps_times: tuple[EpsTime, ...]
    level_times: tuple[LevelTime, ...]
    eigenvalues: tuple[float, ...]
    projections_initial: tuple[float, ...]
    projections_final: tuple[float, ...]
    kernel: dict[str, Any]
    step_seconds: float | None
    estimated_run_seconds: float | None
    seconds: float
    kernel_seconds: float
    dynamics_seconds: float
    peak_rss_mib: float
    w0_norm: float
    status: TrajectoryStatus
    message: str
    warnings: tuple[str, ...]
    observed_steps: int = 0
    sharpness: float = math.nan
    edge_ratio: float = math.nan
    edge_scale: float = 1.0
    endpoint: dict[str, Any] | None = None
    kernel_path: tuple[dict[str, float], ...] = ()
    trust: dict[str, Any] | None = None
    test_n: int = 0
    test_loss: tuple[float, ...] = ()
    test_error: tuple[float, ...] = ()
    spectral: dict[str, Any] | None = None
    inactive_share: float | None = None
    path_losses: tuple[tuple[float, ...], ...] = ()
    real_loss_low: tuple[float, ...] = ()
    real_loss_high: tuple[float, ...] = ()
    steps_band: tuple[StepsBand, ...] = ()

    @property
    def steps(self) -> int:
        return len(self.loss) - 1

    def eps_time(self, eps: float, basis: str = "loss") -> EpsTime:
        """The epsilon-training-time for ``eps`` on ``basis`` (``loss`` or ``error``)."""
        for t in self.eps_times:
            if t.basis == basis and abs(t.eps - eps) < 1e-12:
                return t
        have = sorted({t.eps for t in self.eps_times})
        raise KeyError(f"eps={eps} on {basis!r} was not computed; have {have}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in self.__dataclass_fields__:
            v = getattr(self, f)
            if isinstance(v, tuple):
                v = [x.to_dict() if hasattr(x, "to_dict") else x for x in v]
            d[f] = v
        d["config"] = self.config.to_dict()
        d["options"] = self.options.to_dict()
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prediction:
        d = dict(d)
        d["config"] = FinetuneConfig.from_dict(d["config"])
        d["options"] = PredictConfig.from_dict(d["options"])
        d["status"] = TrajectoryStatus(d["status"])
        d["eps_times"] = tuple(
            EpsTime(e["eps"], e["basis"], EpsDefinition(e["definition"]), e["steps"], EpsStatus(e["status"]))
            for e in d["eps_times"]
        )
        d["level_times"] = tuple(LevelTime(e["level"], e["steps"]) for e in d["level_times"])
        d["steps_band"] = tuple(StepsBand(**b) for b in d.get("steps_band", ()))
        for key, v in list(d.items()):
            if isinstance(v, list):
                d[key] = tuple(v)
        d["path_losses"] = tuple(tuple(c) for c in d.get("path_losses", ()))
        return cls(**d)

    def curves_csv(self) -> str:
        """The curves by optimizer step, one row per step 0..T: the columns of the mean prediction, the
        benchmark's loss band and the test curves where there are any, and with several weight paths
        (``path_losses``) each path's loss as ``path_k_loss``."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = ["loss", "loss_low", "loss_high", "error", "error_low", "error_high", "paired_loss", "paired_error"]
        if self.real_loss_low:
            cols += ["real_loss_low", "real_loss_high"]
        if self.test_loss:
            cols += ["test_loss", "test_error"]
        curves = [getattr(self, c) for c in cols] + list(self.path_losses)
        w.writerow(["step", *cols, *(f"path_{k}_loss" for k in range(1, len(self.path_losses) + 1))])
        for t in range(self.steps + 1):
            w.writerow([t, *(repr(float(c[t])) for c in curves)])
        return buf.getvalue()

    def save(self, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``prediction.json`` (everything) and ``prediction.csv`` (the curves) into ``out_dir``,
        created if missing, each atomically. Returns the two paths. Raises TrainlessError naming the directory
        when it cannot be written."""
        out = ensure_writable_dir(out_dir)
        json_path, csv_path = out / "prediction.json", out / "prediction.csv"
        write_json(json_path, self.to_dict())
        write_text(csv_path, self.curves_csv())
        return json_path, csv_path


def load_prediction(path: str | os.PathLike[str]) -> Prediction:
    """Read a ``prediction.json`` written by :meth:`Prediction.save`."""
    with open(path, encoding="utf-8") as fh:
        return Prediction.from_dict(json.load(fh))
