"""App. D of Zancato et al. (2020): the spectrum and the residual projections of the N-sample kernel from an
N0-sample subset, and the MSE loss curve they give. All float64 (numpy).

Normalisation (the paper's "eigenvalues, once normalized by the dataset size, converge to a fixed limit"):
with the mean loss of DESIGN.md, L = (1/N) sum_i 1/2 ||f(x_i) - y_i||^2, GD moves the residual along Theta's
eigenvector v_k by the factor (1 - lr lambda_k / N) per step, so what carries over between dataset sizes is

    mu_k = lambda_k / N            (eigenvalues of Theta / N, the empirical kernel operator), and
    pi_k = (v_k . dy)^2 / N        (residual projections per sample; sum_k pi_k = ||dy||^2 / N),

with dy = y - f0 the residual at w0 (one-hot targets). Then L_t = 1/2 sum_k pi_k g_k(t)^2 with g_k the
residual factor of mode k (g_k(t) = (1 - lr mu_k)^t for GD at a constant lr; the paper's continuous form is
L_t = sum_k p_k exp(-2 eta lambda_k t) in its sum-loss scaling). The paper's p'_k ~= p_k for k < k0 holds
for these per-sample projections (a top eigenvector is v_k ~= phi_k(x_i) / sqrt(N), so (v_k . dy)^2 grows
like N).

Modes: for the full kernel (N C x N C) there are M = N C modes; for the pseudo-NTK Theta_p (x) I_C, M = N
modes of Theta_p with pi_k summed over the C outputs. Either way M is proportional to N and ranks are
counted from 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..dynamics._modes import PowerLaw, as_vector
from ..errors import TrainlessError


def corrected_exponent(s: float, n0: int, n: int, alpha: float) -> float:
    """The exponent of App. D's corrected power law at N samples.

    The seed prints lambda_hat_k = c k^(-s+alpha) (N0/N - 1), a superscript run into the line. Read as
    lambda_hat_k = c k^(-s + alpha (N0/N - 1)) = c k^-(s + alpha (1 - N0/N)): the slope fitted on N0 samples
    steepens by up to alpha as N grows (the paper: s from a small subset is smaller than on a larger one),
    not at all at N = N0, and c is kept. The other reading (a factor N0/N - 1 < 0) would make every
    eigenvalue negative. The paper's alpha in [0.1, 0.2]."""
    return s + alpha * (1.0 - n0 / n)


def extrapolated_eigenvalues(
    law: PowerLaw, n0: int, n: int, modes: int, alpha: float, head: np.ndarray | None = None
) -> np.ndarray:
    """The N-sample spectrum: (modes,) float64.

    head None (the paper's rule): mu_hat_k = c k^-s' for every k, s' = s + alpha (1 - N0/N).
    head = the subset's mu'_1..mu'_{k0-1}: those are kept (the top of the spectrum has converged, as the
    projections' has), and from k0 = len(head) + 1 on mu_hat_k = c k0^-s (k / k0)^-s', the corrected slope
    pivoting at k0. Why: a pretrained network's top eigenvalues sit far off any power law through the rest
    (the pseudo-NTK of EfficientNet-Lite0 on MNIST: mu_1 = 3600, the law's c = 19800), and a top eigenvalue
    overestimated past 2 / lr makes the exact discrete-time GD diverge, which the paper's continuous-time
    exp(-2 eta lambda t) hides."""
    k = np.arange(1, modes + 1, dtype=np.float64)
    slope = corrected_exponent(law.s, n0, n, alpha)
    if head is None:
        return law(k, slope)
    k0 = head.size + 1
    out = np.empty(modes, dtype=np.float64)
    out[: k0 - 1] = head
    out[k0 - 1 :] = law.c * k0 ** (-law.s) * (k[k0 - 1 :] / k0) ** (-slope)
    return out


def check_options(modes_subset: int, k0: int | None = None, alpha: float = 0.0, anchor_window: float = 0.0) -> None:
    """The extrapolation's options against a subset of ``modes_subset`` = M0 modes: k0 (None: the default)
    an integer in [1, M0), alpha finite and >= 0, anchor_window in [0, 1). Raises TrainlessError naming the
    value; called before any kernel is computed."""
    m0 = modes_subset
    if k0 is not None and (isinstance(k0, bool) or not isinstance(k0, int) or not 1 <= k0 < m0):
        raise TrainlessError(f"k0 must be an integer in [1, {m0 - 1}] (below the subset's {m0} modes), got {k0!r}")
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
        raise TrainlessError(f"alpha must be finite and >= 0, got {alpha!r}")
    if not (isinstance(anchor_window, (int, float)) and math.isfinite(anchor_window) and 0 <= anchor_window < 1):
        raise TrainlessError(f"anchor_window must be in [0, 1), got {anchor_window!r}")


@dataclass(frozen=True)
class ProjectionTail:
    """pi_hat_k = pi'_k for k < k0 and a k^-b for k >= k0, with pi_hat_{k0} = pi'_{k0} and
    sum_k pi_hat_k = ||dy||^2 / N over the M modes (App. D)."""

    k0: int
    a: float
    b: float
    projections: np.ndarray


def _tail_sum(b: float, k0: int, modes: int) -> float:
    k = np.arange(k0, modes + 1, dtype=np.float64)
    return float(np.sum((k / k0) ** (-b)))


def tail_projections(
    projections: Sequence[float] | np.ndarray, k0: int, total: float, modes: int, anchor_window: float = 0.0
) -> ProjectionTail:
    """App. D's rule for the residual projections on the N-sample kernel's eigenvectors.

    projections: pi'_k, the subset's normalized projections (M0 of them, by descending eigenvalue).
    k0: the rank (1-based) from which the tail is a power law; 1 <= k0 < M0 (the paper: 100).
    total: ||dy||^2 / N on all N samples (known from forward passes: labels and f0).
    modes: M, the number of modes at N samples (>= M0).
    anchor_window: 0 takes the paper's anchor pi_hat_{k0} = pi'_{k0}, one squared coefficient, as noisy as
        a chi-square with one degree of freedom (Fig. 11, right); w > 0 takes the mean of pi'_k over the
        ranks k0 (1 - w) .. k0 (1 + w) instead (relative noise ~ 1 / sqrt(w k0); bias under 7% for a tail
        slope b <= 2 at w = 0.25).
    The tail sum sum_{k=k0}^{M} (k / k0)^-b is strictly decreasing in b, from +inf to 1, so b is unique; it
    exists iff the remainder R = total - sum_{k<k0} pi'_k exceeds the anchor (b may come out negative: a tail
    that grows, which says the subset saw too little of the residual). When R is at most the anchor, the
    subset's top modes already hold the whole residual (up to sampling noise in ``total``): the tail is set
    to the anchor at k0 and zero after it (b = inf), and the sum exceeds ``total`` by anchor - R. Returns
    a :class:`ProjectionTail`.
    """
    p = as_vector(projections, "projections")
    m0 = p.size
    if k0 is None:  # check_options reads None as "the default"; here k0 is required
        raise TrainlessError(f"k0 must be an integer in [1, {m0 - 1}] (below the subset's {m0} modes), got None")
    check_options(m0, k0, anchor_window=anchor_window)
    if modes < m0:
        raise TrainlessError(f"the larger dataset's modes ({modes}) must be at least the subset's ({m0})")
    if np.any(p < 0):
        raise TrainlessError("projections must be >= 0 (squared coefficients)")
    if not (math.isfinite(total) and total > 0):
        raise TrainlessError(f"the residual total ||dy||^2 / N must be finite and > 0, got {total!r}")
    if anchor_window > 0:
        lo, hi = max(1, math.floor(k0 * (1 - anchor_window))), min(m0, math.ceil(k0 * (1 + anchor_window)))
        anchor = float(p[lo - 1 : hi].mean())
    else:
        anchor = float(p[k0 - 1])
    rest = total - float(p[: k0 - 1].sum())
    if anchor <= 0:
        raise TrainlessError(f"the projection at k0 = {k0} is 0: a power-law tail cannot start there; change k0")
    k = np.arange(1, modes + 1, dtype=np.float64)
    out = np.zeros(modes, dtype=np.float64)
    out[: k0 - 1] = p[: k0 - 1]
    if rest <= anchor:
        out[k0 - 1] = anchor
        return ProjectionTail(k0=k0, a=anchor, b=math.inf, projections=out)
    target = rest / anchor

    def gap(b: float) -> float:
        return _tail_sum(b, k0, modes) - target

    b_lo, b_hi = -1.0, 1.0
    while gap(b_lo) < 0:
        b_lo *= 2.0
    while gap(b_hi) > 0:
        b_hi *= 2.0
    b = float(brentq(gap, b_lo, b_hi, xtol=1e-14, rtol=1e-14))
    a = anchor * k0**b
    out[k0 - 1 :] = a * k[k0 - 1 :] ** (-b)
    return ProjectionTail(k0=k0, a=float(a), b=b, projections=out)


def time_warp(curve_from: np.ndarray, curve_to: np.ndarray) -> np.ndarray:
    """For each step t of ``curve_to``, the (fractional) step tau of ``curve_from`` at which that curve has
    made the same relative progress: curve_from(tau) / curve_from(0) = curve_to(t) / curve_to(0), by linear
    interpolation on the running minimum of curve_from (so the inverse is monotone); clamped to the ends
    of curve_from. Both (T+1,) float64; returns (T+1,) float64."""
    a = np.minimum.accumulate(np.asarray(curve_from, dtype=np.float64) / curve_from[0])
    b = np.asarray(curve_to, dtype=np.float64) / curve_to[0]
    j = np.searchsorted(-a, -b, side="left")  # first step of curve_from at or below each target
    tau = np.empty_like(b)
    start, end = j == 0, j >= a.size
    mid = ~(start | end)
    jm = j[mid]
    tau[start] = 0.0
    tau[end] = a.size - 1.0
    tau[mid] = jm - 1 + (a[jm - 1] - b[mid]) / (a[jm - 1] - a[jm])
    return tau


def warp_curve(curve: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """curve evaluated at fractional steps tau (linear interpolation between steps)."""
    c = np.asarray(curve, dtype=np.float64)
    return np.interp(tau, np.arange(c.size, dtype=np.float64), c)
