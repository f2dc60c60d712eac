"""Why a run is slow: Theta's spectrum, where the residual lies in it, and which samples train last
(Prop. 2 and Fig. 3 of Zancato et al. 2020)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..dynamics import (
    KernelOperator,
    Spectrum,
    cumulative_share,
    default_fit_window,
    fit_power_law,
    flow_factors,
)
from ..errors import TrainlessError

#: shares of ||dy||^2 whose mode counts are reported
SHARES = (0.5, 0.9, 0.99)
#: a sample has converged once this fraction of its initial squared residual is left
SAMPLE_EPS = 0.1
#: most steps at which per-sample residuals are evaluated (each costs one (N C)^2 product)
MAX_GRID = 64
#: slowest samples listed
SLOWEST = 10


@dataclass(frozen=True)
class SpectralDiagnosis:
    """Theta's spectrum and the residual dy = onehot - f0 in it, float64 values. Time in optimizer steps.

    power_law_c, power_law_s, fit_first, fit_last: mu_k = c k^-s fitted to lambda_k / N over ranks
        fit_first..fit_last (M/10..M/2: the top few sit off any power law, the lower half bends; NaN when
        the spectrum is not positive there, e.g. a projected kernel whose dimension is below N C).
    share: (M,) the cumulative share of ||dy||^2 in the top-k eigen-directions, k = 1..M.
    modes_for_share: {share: the fewest top eigen-directions holding that share of ||dy||^2} for 50%,
        90%, 99%; modes: M = N C.
    sample_steps: per sample, the first step at which at most 10% of its initial squared residual
        ||dy_i||^2 is left under gradient flow of the squared loss with Theta, e_k(t) = exp(-mu_k tau_t),
        tau_t = sum_{s<t} lr_s / (1 - m) (the paper's eq. 1 without noise, momentum as in its ODE), on a
        grid of at most 64 steps (``grid``); None if not within the budget. They rank samples by how slowly
        the kernel fits them; for a cross-entropy run they are those of the same one-hot targets under the
        squared loss. Gradient flow rather than the discrete recursion: at a cross-entropy run's lr the top
        modes are often past the squared loss's stability edge (lr mu_k > 2(1 + m); 6 of 750 on the quick
        start), where that recursion grows without bound and would call every sample unfitted.
    sample_left: per sample, the share of its initial squared residual left at step T under those dynamics.
    slowest: the indices of the (up to) 10 slowest samples: those not converged, by sample_left, then by
        sample_steps.
    pca: per sample, its gradients' coordinates on their top two principal components ((N, 2); kernel PCA
        of the class-summed Gram sum_c Theta[i, j, c, c] by scikit-learn), for a plot coloured by class;
        pca_share: the share of the centred Gram's trace those two components hold.
    """

    power_law_c: float
    power_law_s: float
    fit_first: int
    fit_last: int
    modes: int
    share: tuple[float, ...]
    modes_for_share: dict[str, int]
    grid: tuple[int, ...]
    sample_steps: tuple[int | None, ...]
    sample_left: tuple[float, ...]
    slowest: tuple[int, ...]
    pca: tuple[tuple[float, float], ...]
    pca_share: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("power_law_c", "power_law_s", "pca_share"):
            if not math.isfinite(d[key]):
                d[key] = None
        return d


def step_grid(steps: int, most: int = MAX_GRID) -> tuple[int, ...]:
    """Steps 0..T, all of them up to ``most`` points, else about ``most`` log-spaced ones (0 and T kept)."""
    if steps + 1 <= most:
        return tuple(range(steps + 1))
    pts = np.unique(np.round(np.geomspace(1, steps, most - 1)).astype(int))
    return (0, *(int(p) for p in pts))


def _gram(op: KernelOperator) -> np.ndarray:
    m = op.matrix
    if op.pseudo:
        return m.numpy()
    n, c = op.n, int(op.c or 1)
    return m.view(n, c, n, c).diagonal(dim1=1, dim2=3).sum(-1).numpy()


def _pca(gram: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.decomposition import KernelPCA

    n = gram.shape[0]
    if n < 3:
        return np.zeros((n, 2)), math.nan
    kpca = KernelPCA(n_components=2, kernel="precomputed", eigen_solver="dense")
    coords = kpca.fit_transform(gram)
    total = float(np.trace(gram) - gram.sum() / n)  # tr(H K H), H = I - 11^T / n, without forming H
    return coords, float(kpca.eigenvalues_.sum() / total) if total > 0 else math.nan


def diagnose_spectrum(
    op: KernelOperator,
    spec: Spectrum,
    f0: torch.Tensor,
    y: torch.Tensor,
    lrs: Sequence[float],
    momentum: float = 0.0,
) -> SpectralDiagnosis:
    """The spectral diagnosis of a linearization: ``op`` (Theta), ``spec`` (its (N C)-mode spectrum,
    ``op.spectrum_for(C)``), f0 (N, C), y (N,) labels, the run's lrs (T,) and momentum (heavy ball or
    Nesterov: the same gradient-flow limit). float64."""
    n, c = f0.shape
    if y.shape != (n,):
        raise TrainlessError(f"y must have shape ({n},), got {tuple(y.shape)}")
    mu = spec.eigenvalues.numpy() / n
    dy = torch.nn.functional.one_hot(y, c).to(torch.float64) - f0.to(torch.float64)
    q = spec.project(dy)
    share = cumulative_share((q * q).numpy())
    modes_for = {f"{s:g}": int(np.searchsorted(share, s - 1e-12) + 1) for s in SHARES}
    try:
        law = fit_power_law(mu, default_fit_window(mu.size, max(1, mu.size // 10)))
        pl = (law.c, law.s, law.first, law.last)
    except TrainlessError:
        pl = (math.nan, math.nan, 0, 0)
    grid = step_grid(len(lrs))
    factors = torch.from_numpy(flow_factors(np.clip(mu, 0.0, None), lrs, grid, momentum))
    initial = dy.pow(2).sum(1)
    done: list[int | None] = [None] * n
    left = torch.ones(n, dtype=torch.float64)
    for g, e in zip(grid, factors, strict=True):
        r = spec.combine(e * q, n, c).pow(2).sum(1)
        left = r / initial.clamp_min(1e-300)
        for i in torch.nonzero(r <= SAMPLE_EPS * initial).flatten().tolist():
            if done[i] is None:
                done[i] = g
    # not converged first, by what is left at T; then by their step
    key = [(math.inf, float(left[i])) if t is None else (float(t), 0.0) for i, t in enumerate(done)]
    slowest = tuple(sorted(range(n), key=lambda i: key[i], reverse=True)[:SLOWEST])
    coords, pca_share = _pca(_gram(op))
    return SpectralDiagnosis(
        power_law_c=float(pl[0]),
        power_law_s=float(pl[1]),
        fit_first=int(pl[2]),
        fit_last=int(pl[3]),
        modes=int(mu.size),
        share=tuple(float(v) for v in share),
        modes_for_share=modes_for,
        grid=grid,
        sample_steps=tuple(done),
        sample_left=tuple(float(v) for v in left),
        slowest=slowest,
        pca=tuple((float(a), float(b)) for a, b in coords),
        pca_share=pca_share,
    )
