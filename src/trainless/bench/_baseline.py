"""The baseline a practitioner would use instead: extrapolate the real loss curve from its first k steps."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..dynamics import EpsDefinition, epsilon_time


def _exp(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a + b * np.exp(-c * t)


def _power(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a + b * (t + 1.0) ** (-c)


def extrapolate(prefix: Sequence[float], total_steps: int) -> np.ndarray | None:
    """Fit L(t) = a + b exp(-c t) and L(t) = a + b (t + 1)^(-c) (a, b >= 0, c > 0; the forms learning-curve
    extrapolators use) to ``prefix`` = L_0..L_{k-1} by least squares (scipy.optimize.curve_fit) and return
    the better fit's curve at steps 0..total_steps, or None if neither fit converges."""
    y = np.asarray(prefix, dtype=np.float64)
    t = np.arange(y.size, dtype=np.float64)
    if y.size < 4 or not np.all(np.isfinite(y)):
        return None
    best, best_sse = None, np.inf
    span = max(float(y[0] - y[-1]), 1e-12)
    for form, p0 in ((_exp, (max(y[-1] - span, 0.0), span, 1.0 / y.size)), (_power, (0.0, float(y[0]), 0.5))):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(form, t, y, p0=p0, bounds=([0.0, 0.0, 1e-9], [np.inf, np.inf, 50.0]), maxfev=5000)
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((form(t, *params) - y) ** 2))
        if sse < best_sse:
            best, best_sse = form(np.arange(total_steps + 1, dtype=np.float64), *params), sse
    return best


def steps_to_match(
    real: Sequence[float],
    eps: Sequence[float],
    target: float,
    *,
    definition: EpsDefinition | str = EpsDefinition.DECREASE,
    ks: Sequence[int] | None = None,
) -> tuple[int | None, dict[int, float]]:
    """The smallest k at which extrapolating the real curve's first k points times T_eps as well as
    ``target`` (a mean relative T_eps error over ``eps``), and the baseline's mean error for each k tried.
    None when no k up to T matches: trainless then saves at least the whole run."""
    real = np.asarray(real, dtype=np.float64)
    total = real.size - 1
    ks = ks or [k for k in (5, 10, 15, 20, 30, 40, 50, 75, 100, 125, 150, 200, 300) if k <= total]
    truth = [epsilon_time(real, e, definition)[0] for e in eps]
    errors: dict[int, float] = {}
    found = None
    for k in ks:
        curve = extrapolate(real[:k], total)
        if curve is None:
            continue
        rel = []
        for e, tr in zip(eps, truth, strict=True):
            tp = epsilon_time(curve, e, definition)[0]
            if tr:
                rel.append(1.0 if tp is None else abs(tp - tr) / tr)
        if rel:
            errors[k] = float(np.mean(rel))
            if found is None and errors[k] <= target:
                found = k
    return found, errors
