"""Plots of the Golikov bound experiment (Sec. 6): the bound along training against the risks, and
Assumption 5.1's projected loss."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt

from ..theory.golikov import GolikovRun, GolikovSetting
from ._plots import save_png


def plot_golikov_bounds(results: list[tuple[GolikovSetting, GolikovRun]], path: str | os.PathLike[str]) -> Path:
    """One panel per setting: Theorem 5.2 (gamma = beta^2) for kappa 2 / p 32, kappa 2 / p 16 and kappa 1 /
    p 32 along training, with the test risk and the train margin risk; 0.5 (random guess) dotted."""
    cols = 3
    rows = math.ceil(len(results) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), constrained_layout=True, squeeze=False)
    for ax, (st, run) in zip(axes.flat, results, strict=False):
        g = max(run.bounds)  # gamma = beta^2 / 1
        for (kappa, p), style in (((2, 32), "C0-"), ((2, 16), "C0--"), ((1, 32), "C2-")):
            ax.plot(run.times, [b.bound for b in run.bounds[g][kappa][p]], style, label=f"bound k={kappa} p={p}")
        ax.plot(run.times, run.test_risk, "C3-", label="test risk")
        ax.plot(run.times, run.train_margin_risk[g], "C1:", label="train margin risk")
        ax.axhline(0.5, color="k", lw=0.7, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(0.05, 10)
        ax.set_title(f"{st.name} (d={run.d}, L={run.L})", fontsize=9)
        ax.set_xlabel("gradient-flow time t")
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Theorem 5.2 on binary MNIST-5k (m = {results[0][1].m}), gamma = beta^2")
    return save_png(fig, path)


def plot_golikov_assumption(results: list[tuple[GolikovSetting, GolikovRun]], path: str | os.PathLike[str]) -> Path:
    """Assumption 5.1: the projected loss ||(Y - f) X~^T||^2 relative to its start, and the loss, along
    training (both must stay at or below 1)."""
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for i, (st, run) in enumerate(results):
        ax.plot(run.times, [v / run.projected_loss[0] for v in run.projected_loss], f"C{i % 10}-", label=st.name)
        ax.plot(run.times, [v / run.train_loss[0] for v in run.train_loss], f"C{i % 10}:")
    ax.set_xlabel("gradient-flow time t")
    ax.set_ylabel("L_X(t) / L_X(0) (solid), L(t) / L(0) (dotted)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return save_png(fig, path)


def plot_golikov_optimistic(runs: list, path: str | os.PathLike[str]) -> Path:
    """App. B (Figs. 8-9): per eps, the optimistic bound of eq. (41) for the three proxies (largest gamma),
    with the trained net's train and test risks and its train loss."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.4 * len(runs), 3.4), constrained_layout=True, squeeze=False)
    for ax, run in zip(axes.flat, runs, strict=True):
        g = max(next(iter(run.bound.values())))
        for name, color in (("kappa1", "C2"), ("kappa2", "C0"), ("linear", "C7")):
            ax.plot(run.times, run.bound[name][g], color=color, label=f"eq. 41, {name} proxy")
        ax.plot(run.times, run.test_risk, "k-", lw=0.8, label="test risk")
        ax.plot(run.times, run.train_risk, "k--", lw=0.8, label="train risk")
        ax.plot(run.times, run.train_loss, "C4-", lw=0.8, label="train loss")
        ax.axhline(0.5, color="k", lw=0.6, ls=":")
        ax.set_ylim(0, 1.5)
        ax.set_title(f"eps = {run.eps:g} (slope {1 - run.eps:g}), gamma = {g:g}", fontsize=9)
        ax.set_xlabel("gradient-flow time t")
    axes.flat[0].legend(fontsize=7)
    return save_png(fig, path)
