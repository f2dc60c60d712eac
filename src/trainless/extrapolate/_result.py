"""What an extrapolation returns: a frozen result with fixed fields."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any

from ..dynamics import EpsTime
from ..predict import LevelTime, Prediction


@dataclass(frozen=True)
class SpectralExtrapolation:
    """The N-sample spectrum, projections and MSE loss curve predicted from an N0-sample subset (App. D of
    Zancato et al. 2020; :mod:`trainless.extrapolate._spectral` states the normalisation). float64 values.

    n0, n: samples in the subset and in the larger dataset; classes: outputs per sample C (modes per
        sample: M0 = N0 C, M = N C).
    c, s: the power law mu_k = c k^-s fitted on the subset's normalized eigenvalues over ranks
        fit_first..fit_last; alpha: the slope correction; exponent: s + alpha (1 - N0/N), the exponent used
        at N samples.
    k0, tail_a, tail_b: the projections' rule pi_hat_k = pi'_k (k < k0), tail_a k^-tail_b (k >= k0);
        anchor_window: how the tail's value at k0 was taken (0: the paper's single projection);
        keep_head: whether the subset's eigenvalues above k0 were kept (False: the paper's law at every rank).
    eigenvalues_subset, projections_subset: mu'_k = lambda'_k / N0 and pi'_k = (v'_k . dy)^2 / N0 (M0 each).
    eigenvalues, projections: mu_hat_k and pi_hat_k at N samples (M each).
    residual_total_subset, residual_total: ||dy||^2 / N0 and ||dy||^2 / N (dy = onehot - f0), the mean
        squared residual per sample of each set.
    mse_loss_subset, mse_loss: the mean 1/2-MSE loss at steps 0..T of full-batch SGD (the schedule's lrs,
        momentum) on N0 from its exact spectrum, and on N from the extrapolated one.
    """

    n0: int
    n: int
    classes: int
    c: float
    s: float
    fit_first: int
    fit_last: int
    alpha: float
    exponent: float
    k0: int
    keep_head: bool
    anchor_window: float
    tail_a: float
    tail_b: float
    eigenvalues_subset: tuple[float, ...]
    projections_subset: tuple[float, ...]
    eigenvalues: tuple[float, ...]
    projections: tuple[float, ...]
    residual_total_subset: float
    residual_total: float
    mse_loss_subset: tuple[float, ...]
    mse_loss: tuple[float, ...]


@dataclass(frozen=True)
class Extrapolation:
    """What :func:`~trainless.extrapolate.extrapolate` returns (frozen). Time in optimizer steps.

    loss: the config's loss (``mse`` or ``cross-entropy``); for MSE the curve on N samples is App. D's
        (``spectral.mse_loss``); for cross-entropy it is the subset's predicted cross-entropy curve read at
        the warped step tau(t) at which the subset's MSE curve has made the relative progress the
        extrapolated MSE curve makes by step t (``warp``; where the squared loss's discrete dynamics diverge
        at the run's lr, which a cross-entropy run's smaller curvature allows, its gradient flow: the result's
        warnings say so), scaled by the ratio of the two sets' initial losses: a stated approximation (the
        cross-entropy dynamics slow down with N as the MSE dynamics do), whose error the benchmark measures
        against the prediction on all N.
    loss_subset, loss_curve: the predicted loss at steps 0..T on the N0 subset (exact engine, full batch)
        and on N samples (extrapolated). warp: tau(t) (T+1 floats; identity for MSE).
    eps_times_subset, eps_times: epsilon-training-times of the two curves.
    level_times: steps until the extrapolated loss reaches fractions of its initial value.
    spectral: the :class:`SpectralExtrapolation` behind it.
    subset_prediction: the ordinary :class:`~trainless.predict.Prediction` on the subset (the config with
        full-batch steps), whose loss is ``loss_subset``.
    subset_indices: the subset's positions in the larger dataset.
    seconds, kernel_seconds, forward_seconds: wall time of the whole extrapolation, of the subset's kernel,
        and of the forward passes on all N.
    warnings: what the user should know before trusting the numbers.
    estimated_run_seconds: T full-batch steps on N, from one real full-batch step timed on the subset scaled
        by N / N0 (a step's cost is about linear in the batch); None when not timed.
    """

    loss: str
    n0: int
    n: int
    loss_subset: tuple[float, ...]
    loss_curve: tuple[float, ...]
    warp: tuple[float, ...]
    eps_times_subset: tuple[EpsTime, ...]
    eps_times: tuple[EpsTime, ...]
    level_times: tuple[LevelTime, ...]
    spectral: SpectralExtrapolation
    subset_prediction: Prediction
    subset_indices: tuple[int, ...]
    seconds: float
    kernel_seconds: float
    forward_seconds: float
    warnings: tuple[str, ...]
    estimated_run_seconds: float | None = None

    @property
    def steps(self) -> int:
        return len(self.loss_curve) - 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN / inf as None)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float):
                return v if math.isfinite(v) else None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        out = asdict(dataclasses.replace(self, subset_prediction=None))  # type: ignore[arg-type]
        out["subset_prediction"] = self.subset_prediction.to_dict()
        for key in ("eps_times_subset", "eps_times"):
            out[key] = [t.to_dict() for t in getattr(self, key)]
        out["level_times"] = [t.to_dict() for t in self.level_times]
        return clean(out)
