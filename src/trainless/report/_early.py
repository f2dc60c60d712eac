"""Plots of the early-time comparison (Hu et al.): network vs linear model, and the agreement horizon."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from ..theory.early_time import EarlyTimeRun
from ._plots import save_png


def plot_early_curves(run: EarlyTimeRun, path: str | os.PathLike[str]) -> Path:
    """Losses of the network and of its linear model on the training and test points, and the mean squared
    gap between their predictions, against GD steps (with the theorem's T = d log d / eta marked)."""
    fig, (ax_loss, ax_gap) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    s = run.steps.numpy()
    ax_loss.plot(s, run.train_loss.numpy(), "C0", label="network, train")
    ax_loss.plot(s, run.train_loss_lin.numpy(), "C0--", label="linear model, train")
    ax_loss.plot(s, run.test_loss.numpy(), "C1", label="network, test")
    ax_loss.plot(s, run.test_loss_lin.numpy(), "C1--", label="linear model, test")
    ax_loss.set_xlabel("GD step")
    ax_loss.set_ylabel("1/(2n) sum (f - y)^2")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(True, alpha=0.3)
    ax_gap.semilogy(s[1:], run.train_gap.numpy()[1:], "C0", label="train")
    ax_gap.semilogy(s[1:], run.test_gap.numpy()[1:], "C1", label="test")
    scale = run.tolerance * float(run.train_loss[0]) * 2.0  # tolerance x (1/n)|y|^2; f0 = 0 so 2 L0 = (1/n)|y|^2
    ax_gap.axhline(scale, color="k", lw=0.8, ls=":", label=f"tolerance {run.tolerance:g} x mean y^2")
    if math.isfinite(run.horizon_theory):
        ax_gap.axvline(run.horizon_theory, color="C3", lw=0.8, ls="--", label="d log d / eta")
    ax_gap.set_xlabel("GD step")
    ax_gap.set_ylabel("(1/n) sum (f_t - f_lin_t)^2")
    ax_gap.legend(fontsize=8)
    ax_gap.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"two-layer {run.activation} net, d={run.d}, m={run.m}, n={run.n}, eta=({run.eta1:g}, {run.eta2:g})")
    return save_png(fig, path)


def plot_early_horizons(runs: Sequence[EarlyTimeRun], path: str | os.PathLike[str]) -> Path:
    """The agreement horizon (steps until the train gap exceeds the tolerance; runs that never left are
    drawn at their last step, hollow) against d, one line per width, with d log d / eta for reference."""
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for i, m in enumerate(sorted({r.m for r in runs})):
        rs = sorted((r for r in runs if r.m == m), key=lambda r: r.d)
        ds = [r.d for r in rs]
        hs = [r.horizon if r.horizon is not None else int(r.steps[-1]) for r in rs]
        ax.plot(ds, hs, f"C{i}-", label=f"m={m}")
        for r, h in zip(rs, hs, strict=True):
            ax.plot(r.d, h, f"C{i}o", mfc="none" if r.horizon is None else f"C{i}")
    rs = sorted(runs, key=lambda r: r.d)
    ax.plot([r.d for r in rs], [r.horizon_theory for r in rs], "k--", lw=0.8, label="d log d / eta")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel("agreement horizon (GD steps)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return save_png(fig, path)
