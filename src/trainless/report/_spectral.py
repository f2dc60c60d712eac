"""Plots of the spectral diagnosis (Fig. 3) and of the larger-dataset extrapolation (Fig. 7, 11)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..extrapolate import Extrapolation
from ..predict import Prediction
from ._plots import save_png


def _ranks(values: Sequence[float]) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def _positive(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.where(v > 0, v, np.nan)


def plot_spectral(prediction: Prediction, labels: Sequence[int], path: str | os.PathLike[str]) -> Path:
    """Why the run is slow (Zancato et al. Fig. 3): Theta's normalized eigenvalues (log-log) with the fitted
    power law, the cumulative share of ||dy||^2 in the top-k eigen-directions, and the per-sample gradients'
    top two principal components coloured by class, marker size growing with the sample's predicted
    convergence step (hollow: not converged within the budget). labels: (N,) class of each sample."""
    p = prediction
    d = p.spectral
    if d is None:
        raise ValueError("this prediction carries no spectral diagnosis")
    n = p.n
    mu = _positive(np.asarray(p.eigenvalues) / n)
    k = _ranks(mu)
    fig, (ax_s, ax_c, ax_p) = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    ax_s.loglog(k, mu, ".", ms=3, color="C0", label="lambda_k / N")
    if d["power_law_s"] is not None:
        kk = np.arange(d["fit_first"], d["fit_last"] + 1)
        fit = d["power_law_c"] * kk ** (-d["power_law_s"])
        ax_s.loglog(kk, fit, "-", color="C3", label=f"fit c k^-s, s = {d['power_law_s']:.2f}")
    ax_s.set_xlabel("rank k")
    ax_s.set_ylabel("eigenvalue of Theta / N")
    ax_s.legend(fontsize=8)
    ax_s.grid(True, which="both", alpha=0.3)
    share = np.asarray(d["share"])
    ax_c.semilogx(_ranks(share), share, color="C2")
    for s, m in d["modes_for_share"].items():
        ax_c.axvline(m, color="grey", lw=0.6, ls=":")
        ax_c.text(m, float(s), f" {float(s):.0%}: {m}", fontsize=7, va="bottom")
    ax_c.set_xlabel("top-k eigen-directions")
    ax_c.set_ylabel("cumulative share of the residual")
    ax_c.set_ylim(0, 1.02)
    ax_c.grid(True, which="both", alpha=0.3)
    ax_c.set_title("share of ||onehot - f0||^2 in the top-k eigen-directions", fontsize=8)
    xy = np.asarray(d["pca"], dtype=np.float64).reshape(-1, 2)
    steps = d["sample_steps"]
    last = max(p.steps, 1)
    sizes = np.array([40.0 if t is None else 6.0 + 30.0 * t / last for t in steps])
    lab = np.asarray(labels)
    for c in np.unique(lab):
        sel = lab == c
        done = sel & np.array([t is not None for t in steps])
        left = sel & ~done
        ax_p.scatter(xy[done, 0], xy[done, 1], s=sizes[done], color=f"C{int(c) % 10}", alpha=0.7, label=f"class {c}")
        ax_p.scatter(xy[left, 0], xy[left, 1], s=sizes[left], facecolors="none", edgecolors=f"C{int(c) % 10}")
    share_txt = "" if d["pca_share"] is None else f" ({d['pca_share']:.0%} of the centred Gram's trace)"
    ax_p.set_title(f"gradients' top-2 principal components{share_txt}", fontsize=8)
    ax_p.set_xlabel("PC 1")
    ax_p.set_ylabel("PC 2")
    ax_p.legend(fontsize=7, markerscale=0.6)
    fig.suptitle(f"spectral diagnosis: {p.model} on {p.data}, N={n}, {p.classes} classes (hollow: not fitted by T)")
    return save_png(fig, path)


def plot_extrapolation(
    ext: Extrapolation,
    path: str | os.PathLike[str],
    *,
    truth_eigenvalues: Sequence[float] | None = None,
    truth_projections: Sequence[float] | None = None,
    truth_loss: Sequence[float] | None = None,
    truth_label: str = "computed on all N",
) -> Path:
    """Zancato et al. Fig. 11: the loss curve on N0 and the one extrapolated to N (left), the normalized
    spectra (centre) and residual projections (right) of the subset and as extrapolated; optionally the
    same computed on all N (``truth_*``, normalized as the extrapolation's: lambda / N, (v . dy)^2 / N)."""
    s = ext.spectral
    fig, (ax_l, ax_s, ax_p) = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    steps = np.arange(len(ext.loss_curve))
    ax_l.plot(steps, ext.loss_subset, color="C0", label=f"predicted on N0 = {ext.n0}")
    ax_l.plot(steps, ext.loss_curve, color="C2", label=f"extrapolated to N = {ext.n}")
    if truth_loss is not None:
        ax_l.plot(np.arange(len(truth_loss)), truth_loss, color="C1", ls="--", label=truth_label)
    ax_l.set_yscale("log")
    ax_l.set_xlabel("optimizer step")
    ax_l.set_ylabel(f"training loss ({ext.loss})")
    ax_l.legend(fontsize=8)
    ax_l.grid(True, which="both", alpha=0.3)
    ax_s.loglog(_ranks(s.eigenvalues_subset), _positive(s.eigenvalues_subset), ".", ms=2, color="C0", label="N0")
    ax_s.loglog(_ranks(s.eigenvalues), s.eigenvalues, "-", color="C2", label=f"extrapolated, s' = {s.exponent:.2f}")
    if truth_eigenvalues is not None:
        t = _positive(truth_eigenvalues)
        ax_s.loglog(_ranks(t), t, ".", ms=2, color="C1", label=truth_label)
    ax_s.set_xlabel("rank k")
    ax_s.set_ylabel("lambda_k / N")
    ax_s.legend(fontsize=8)
    ax_s.grid(True, which="both", alpha=0.3)
    ax_p.loglog(_ranks(s.projections_subset), _positive(s.projections_subset), ".", ms=2, color="C0", label="N0")
    ax_p.loglog(_ranks(s.projections), _positive(s.projections), "-", color="C2", label=f"tail b = {s.tail_b:.2f}")
    if truth_projections is not None:
        t = _positive(truth_projections)
        ax_p.loglog(_ranks(t), t, ".", ms=2, color="C1", alpha=0.5, label=truth_label)
    ax_p.axvline(s.k0, color="grey", lw=0.6, ls=":")
    ax_p.set_xlabel("rank k")
    ax_p.set_ylabel("(v_k . dy)^2 / N")
    ax_p.legend(fontsize=8)
    ax_p.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"App. D extrapolation N0 = {ext.n0} -> N = {ext.n} (alpha = {s.alpha:g}, k0 = {s.k0})")
    return save_png(fig, path)
