"""Plots (matplotlib, Agg backend: no display needed), written atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._io import write_with
from ..finetune import RunRecord


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
    batch = "full batch" if cfg.batch_size is None else f"batch {cfg.batch_size}"
    fig.suptitle(
        f"{record.model} on {record.data} ({len(record.class_labels)} classes, N={record.n}); "
        f"{cfg.optimizer} lr={cfg.lr:g} m={cfg.momentum:g} wd={cfg.weight_decay:g}, {batch}"
    )
    out = Path(path)
    try:
        write_with(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
    return out
