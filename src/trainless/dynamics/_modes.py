"""Theta's spectrum as a function of rank: power-law fits, the residual's cumulative share, and the MSE
loss of full-batch SGD mode by mode (Prop. 2 of Zancato et al. 2020, in discrete time). float64 (numpy).

Normalisation: with the mean loss of DESIGN.md, GD moves the residual along Theta's eigenvector v_k by
(1 - lr lambda_k / N) per step, so the functions here take mu_k = lambda_k / N and pi_k = (v_k . r)^2 / N.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import TrainlessError


def as_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise TrainlessError(f"{what} must be a non-empty 1-D sequence, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise TrainlessError(f"{what} contains NaN or inf")
    return v


#: fewest positive eigenvalues a power-law fit accepts
MIN_FIT_POINTS = 8


@dataclass(frozen=True)
class PowerLaw:
    """mu_k = c k^-s for ranks k >= 1, fitted by least squares on log mu_k vs log k over ranks
    ``first``..``last`` (inclusive) of the N0 spectrum. float64."""

    c: float
    s: float
    first: int
    last: int

    def __call__(self, ranks: np.ndarray, exponent: float | None = None) -> np.ndarray:
        """c k^-exponent (the fitted s by default) at the given ranks."""
        s = self.s if exponent is None else exponent
        return self.c * np.asarray(ranks, dtype=np.float64) ** (-s)


def default_fit_window(modes: int, first: int = 1) -> tuple[int, int]:
    """Ranks first..M/2: the upper half of the spectrum. Its lower half bends down, the finite-N effect of
    Zancato et al. Fig. 4 (right) (the last eigenvalues of a Gram matrix of N points fall below the limit
    operator's), and a fit over it would flatten s further."""
    return min(first, max(1, modes // 2)), max(1, modes // 2)


def fit_power_law(eigenvalues: Sequence[float] | np.ndarray, window: tuple[int, int] | None = None) -> PowerLaw:
    """Fit mu_k = c k^-s to normalized eigenvalues (descending, float64) over the ranks ``window`` = (first,
    last), 1-based inclusive (default :func:`default_fit_window`).

    Raises TrainlessError if an eigenvalue in the window is not positive (a power law cannot pass through
    it; drop the tail of a projected kernel, or narrow the window) or if fewer than ``MIN_FIT_POINTS`` ranks
    are in it.
    """
    mu = as_vector(eigenvalues, "eigenvalues")
    if np.any(np.diff(mu) > 1e-12 * max(abs(mu[0]), 1e-300)):
        raise TrainlessError("eigenvalues must be sorted in descending order")
    first, last = window if window is not None else default_fit_window(mu.size)
    if not (1 <= first <= last <= mu.size):
        raise TrainlessError(f"fit window must satisfy 1 <= first <= last <= {mu.size}, got ({first}, {last})")
    if last - first + 1 < MIN_FIT_POINTS:
        raise TrainlessError(
            f"a power-law fit needs at least {MIN_FIT_POINTS} eigenvalues, the window ({first}, {last}) has "
            f"{last - first + 1}: use a larger subset (N0) or a wider window"
        )
    sel = mu[first - 1 : last]
    if np.any(sel <= 0):
        bad = int(np.argmax(sel <= 0)) + first
        raise TrainlessError(
            f"the spectrum has a non-positive eigenvalue ({sel[bad - first]:.3g} at rank {bad}) inside the fit "
            f"window ({first}, {last}): a power law needs positive eigenvalues"
        )
    logk = np.log(np.arange(first, last + 1, dtype=np.float64))
    slope, intercept = np.polyfit(logk, np.log(sel), 1)
    return PowerLaw(c=float(math.exp(intercept)), s=float(-slope), first=first, last=last)


def _mode_steps(mu: np.ndarray, lr: Sequence[float], momentum: float, nesterov: bool) -> Iterator[np.ndarray]:
    """e_k(t) for t = 0..T, one (M,) array per step (the recursion of :func:`mse_mode_curve`)."""
    e = np.ones_like(mu)
    u = np.zeros_like(mu)
    yield e
    for step in lr:
        u = momentum * u + mu * e
        e = e - step * ((mu * e + momentum * u) if nesterov else u)
        yield e


def mse_mode_curve(
    eigenvalues: np.ndarray,
    projections: np.ndarray,
    lr: Sequence[float],
    momentum: float = 0.0,
    nesterov: bool = False,
) -> np.ndarray:
    """The mean 1/2-MSE loss of full-batch torch.optim.SGD, mode by mode: (T+1,) float64.

    eigenvalues: normalized mu_k (M,); projections: normalized pi_k (M,); lr: (T,) per step. Per mode, with
    e the residual coefficient (e_0 = 1) and u the momentum buffer's image (u_0 = 0):
    u_{t+1} = m u_t + mu e_t, e_{t+1} = e_t - lr_t u_{t+1} (Nesterov: e_t - lr_t (mu e_t + m u_{t+1})),
    exact for the linearized model (DESIGN.md); L_t = 1/2 sum_k pi_k e_k(t)^2. For m = 0 and a constant lr,
    e_k(t) = (1 - lr mu_k)^t.
    """
    mu = np.asarray(eigenvalues, dtype=np.float64)
    pi = np.asarray(projections, dtype=np.float64)
    return np.array([0.5 * float(pi @ (e * e)) for e in _mode_steps(mu, lr, momentum, nesterov)])


def mode_factors(
    eigenvalues: np.ndarray, lr: Sequence[float], steps: Sequence[int], momentum: float = 0.0, nesterov: bool = False
) -> np.ndarray:
    """e_k(t) of :func:`mse_mode_curve` at the given steps (ascending, in 0..T): (len(steps), M) float64."""
    mu = np.asarray(eigenvalues, dtype=np.float64)
    want = list(steps)
    out = np.empty((len(want), mu.size), dtype=np.float64)
    i = 0
    for t, e in enumerate(_mode_steps(mu, lr, momentum, nesterov)):
        while i < len(want) and want[i] == t:
            out[i] = e
            i += 1
        if i == len(want):
            break
    if i < len(want):
        raise TrainlessError(f"steps must be ascending in [0, {len(lr)}], got {want}")
    return out


def flow_factors(
    eigenvalues: np.ndarray, lr: Sequence[float], steps: Sequence[int], momentum: float = 0.0
) -> np.ndarray:
    """e_k(t) = exp(-mu_k tau_t) at the given steps (in 0..T): (len(steps), M) float64, tau_t = sum_{s<t} lr_s /
    (1 - m). Gradient flow of the squared loss mode by mode, the paper's eq. 1 without noise (momentum as its ODE
    takes it, lr / (1 - m)): the small-lr limit of :func:`mode_factors`, which stays bounded at any lr."""
    tau = np.concatenate(([0.0], np.cumsum(np.asarray(lr, dtype=np.float64)))) / (1.0 - momentum)
    want = np.asarray(steps, dtype=np.int64)
    if want.size and (want.min() < 0 or want.max() >= tau.size):
        raise TrainlessError(f"steps must lie in [0, {len(lr)}], got {want.tolist()}")
    return np.exp(-np.outer(tau[want], np.asarray(eigenvalues, dtype=np.float64)))


def mse_flow_curve(
    eigenvalues: np.ndarray, projections: np.ndarray, lr: Sequence[float], momentum: float = 0.0
) -> np.ndarray:
    """1/2 sum_k pi_k exp(-2 mu_k tau_t) for t = 0..T: (T+1,) float64 (:func:`flow_factors`; the gradient-flow
    counterpart of :func:`mse_mode_curve`)."""
    e = flow_factors(eigenvalues, lr, range(len(lr) + 1), momentum)
    return 0.5 * (e * e) @ np.asarray(projections, dtype=np.float64)


def squared_loss_stable(
    eigenvalues: np.ndarray, lr: Sequence[float], momentum: float = 0.0, nesterov: bool = False
) -> bool:
    """Whether the discrete recursion of :func:`mse_mode_curve` stays bounded in every mode at the largest lr: the
    spectral radius of each mode's 2 x 2 step on (e, u) at most 1 (without momentum, lr mu_k <= 2; heavy ball
    lr mu_k <= 2 (1 + m))."""
    mu = np.asarray(eigenvalues, dtype=np.float64)
    h = max(lr, default=0.0) * mu
    m = momentum
    # e' = a e + b u, u' = mu e + m u (u scaled by lr: the radius is unchanged): trace and determinant per mode.
    a = 1.0 - h * (1.0 + m) if nesterov else 1.0 - h
    b = -(m * m if nesterov else m)
    tr, det = a + m, a * m - b * h
    disc = tr * tr - 4.0 * det
    root = np.sqrt(np.abs(disc))
    radius = np.where(disc >= 0, np.maximum(np.abs(tr + root), np.abs(tr - root)) / 2.0, np.sqrt(np.abs(det)))
    return bool(np.all(radius <= 1.0 + 1e-12))


def cumulative_share(projections: Sequence[float] | np.ndarray) -> np.ndarray:
    """Share of ||dy||^2 held by the top-k eigen-directions, k = 1..M: (M,) float64 in [0, 1]."""
    p = np.asarray(projections, dtype=np.float64)
    total = float(p.sum())
    return np.cumsum(p) / total if total > 0 else np.zeros_like(p)
