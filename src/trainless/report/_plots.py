"""Plots (matplotlib, Agg backend: no display needed), written atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .._io import write_with
from ..finetune import FinetuneConfig, RunRecord
from ..predict import Prediction


def save_png(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically (temporary file, then moved into place) and close it."""
    out = Path(path)
    try:
        write_with(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
    return out


def _title(model: str, data: str, classes: int, n: int, cfg: FinetuneConfig) -> str:
    batch = "full batch" if cfg.batch_size is None else f"batch {cfg.batch_size}"
    return (
        f"{model} on {data} ({classes} classes, N={n}); "
        f"{cfg.optimizer} lr={cfg.lr:g} m={cfg.momentum:g} wd={cfg.weight_decay:g}, {batch}"
    )


def plot_run(record: RunRecord, path: str | os.PathLike[str]) -> Path:
    """Training loss (log scale) and training error against optimizer steps; saved as PNG at ``path``."""
    cfg = record.config
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_loss.plot(record.eval_steps, record.loss, color="C0", label="real fine-tuning")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel(f"training loss ({cfg.loss}, mean over N={record.n})")
    ax_loss.grid(True, which="both", alpha=0.3)
    ax_loss.legend()
    ax_err.plot(record.eval_steps, record.error, color="C1")
    ax_err.set_xlabel("optimizer step")
    ax_err.set_ylabel("training error")
    ax_err.set_ylim(-0.02, 1.02)
    ax_err.grid(True, alpha=0.3)
    fig.suptitle(_title(record.model, record.data, len(record.class_labels), record.n, cfg))
    return save_png(fig, path)


def prediction_label(p: Prediction) -> str:
    """A legend entry naming how the curve was predicted: the engine, the kernel method and, with kernel updates,
    the steps of the run the kernel was computed again at."""
    steps = ", ".join(str(int(row["step"])) for row in p.kernel_path)
    return f"predicted ({p.engine}, {p.kernel['method']} kernel{f', updated at {steps}' if steps else ''})"


def plot_prediction(prediction: Prediction, path: str | os.PathLike[str], record: RunRecord | None = None) -> Path:
    """Predicted loss and error curves (mean, 5-95% band, the paired run) against optimizer steps, and
    Theta's spectrum with the residual's projections at w0 and at T; the real run's curves on top when
    ``record`` is given. Saved as PNG at ``path``."""
    p = prediction
    cfg = p.config
    steps = list(range(p.steps + 1))
    fig, (ax_loss, ax_err, ax_spec) = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    for ax, mean, lo, hi, paired, real in (
        (ax_loss, p.loss, p.loss_low, p.loss_high, p.paired_loss, record.loss if record else None),
        (ax_err, p.error, p.error_low, p.error_high, p.paired_error, record.error if record else None),
    ):
        ax.plot(steps, mean, color="C0", label=prediction_label(p))
        if lo != hi:
            ax.fill_between(steps, lo, hi, color="C0", alpha=0.2, label="5-95% band")
            ax.plot(steps, paired, color="C0", ls=":", lw=1, label="paired (the real run's batch order)")
        if real is not None and record is not None:
            ax.plot(record.eval_steps, real, color="C3", label="real fine-tuning")
        ax.set_xlabel("optimizer step")
        ax.grid(True, which="both", alpha=0.3)
    if p.real_loss_low:
        # The benchmark's band can span decades (flagged momentum runs, some diverged): drawn inside the predicted
        # curve's own range widened tenfold each way, so that the curves stay readable.
        positive = [v for v in p.loss if v > 0] or [1e-12]
        floor, ceiling = min(positive) / 10, 10 * max(positive)
        lo = [min(max(v, floor), ceiling) for v in p.real_loss_low]
        hi = [min(max(v, floor), ceiling) for v in p.real_loss_high]
        band = p.trust.get("loss_band", {}) if p.trust else {}
        ax_loss.fill_between(
            steps,
            lo,
            hi,
            color="0.5",
            alpha=0.15,
            label=f"real runs alike on the benchmark ({band.get('level', 0.9):.0%} per step, {band.get('cases')} runs)",
        )
    for i, b in enumerate(b for b in p.steps_band if b.target == "level"):
        # where the real run reached the level on the benchmark's runs alike; past the budget drawn to T
        y = b.value * p.loss[0]
        high = p.steps if b.high is None else min(b.high, p.steps)
        label = "real steps to the levels, runs alike (90%)" if i == 0 else None
        ax_loss.plot([b.low, high], [y, y], "|-", color="0.35", lw=1, ms=8, label=label)
        ax_loss.plot([b.predicted], [y], "o", color="0.35", ms=3)
    for i, path_loss in enumerate(p.path_losses):
        # The mean is what is scored; the paths show how much where the weights were moved changed the curve.
        label = f"each of the {len(p.path_losses)} weight paths averaged" if i == 0 else None
        ax_loss.plot(steps, path_loss, color="C0", lw=0.6, alpha=0.5, label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel(f"training loss ({cfg.loss}, mean over N={p.n})")
    ax_loss.legend(fontsize=8)
    ax_err.set_ylabel("training error")
    ax_err.set_ylim(-0.02, 1.02)
    k = range(1, len(p.eigenvalues) + 1)
    ax_spec.loglog(k, [max(v, 1e-300) for v in p.eigenvalues], color="k", label="eigenvalue lambda_k of Theta")
    ax_spec.set_xlabel("k")
    ax_spec.set_ylabel("lambda_k")
    ax_p = ax_spec.twinx()
    ax_p.loglog(k, [max(v, 1e-300) for v in p.projections_initial], ".", ms=2, color="C2", label="(v_k . r_0)^2")
    ax_p.loglog(k, [max(v, 1e-300) for v in p.projections_final], ".", ms=2, color="C1", label="(v_k . r_T)^2")
    ax_p.set_ylabel("residual projection")
    ax_spec.legend(loc="lower left", fontsize=8)
    ax_p.legend(loc="upper right", fontsize=8)
    ax_spec.set_title("where the residual lies in Theta's spectrum", fontsize=9)
    fig.suptitle(_title(p.model, p.data, p.classes, p.n, cfg))
    return save_png(fig, path)
