"""The mean of a prediction's weight paths (``PredictConfig.path_samples``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from ..dynamics import TrajectoryStatus
from ._config import PredictConfig
from ._result import Prediction, curve_times

MEAN_FIELDS = (
    "loss",
    "loss_low",
    "loss_high",
    "error",
    "error_low",
    "error_high",
    "paired_loss",
    "paired_error",
    "weight_distance",
    "paired_weight_distance",
    "projections_final",
)
"""The per-step (or per-mode) figures averaged over the paths."""


def path_mean(
    preds: Sequence[Prediction], phases: Sequence[int], options: PredictConfig, shared_seconds: float
) -> Prediction:
    """One prediction from several made along weight paths that move at different phases of one stride.

    preds: the first at phase 0 (moves at steps stride, 2 stride, ...), the others at ``phases`` (moves at
    stride - phase, 2 stride - phase, ...), all of one run and one kernel-update schedule. Where the weights are moved
    draws the kernels, and so the curve, at random around a common mean (docs/fidelity.md, "A denser stride"): the
    mean is a lower-variance estimate of it.

    Returns the first prediction with the curves of :data:`MEAN_FIELDS` replaced by their step-by-step means
    (float64) over the paths that completed, the epsilon-training-times and level times computed again from the mean
    loss and error, the costs summed (``seconds``, ``kernel_seconds``, ``dynamics_seconds``; the linearization's
    ``shared_seconds`` and Theta_0's kernel, which every path's figures include, counted once), ``path_losses`` holding
    each path's loss curve, and a warning that gives the paths' spread. The kernel path, the endpoint check and the
    trust signal stay the first path's. If no path completed, the first prediction as it is."""
    done = [p for p in preds if p.status is TrajectoryStatus.COMPLETED]
    first = preds[0]
    if not done:
        return first
    means = {
        name: tuple(float(v) for v in torch.tensor([getattr(p, name) for p in done], dtype=torch.float64).mean(0))
        for name in MEAN_FIELDS
    }
    loss = torch.tensor(means["loss"], dtype=torch.float64)
    error = torch.tensor(means["error"], dtype=torch.float64)
    times, levels = curve_times(loss, error, options)
    stride = first.options.path_stride
    spread = _spread(done, options)
    note = (
        f"the mean of {len(done)} weight paths (path_samples={options.path_samples}; stride {stride}, the first "
        f"moves at steps {', '.join(str(stride - p) for p in (0, *phases))})"
        + (f"; {len(preds) - len(done)} did not complete and are left out" if len(done) < len(preds) else "")
        + (f": the paths' loss T_eps differ by up to {spread:.0%}" if spread is not None else "")
        + "; the kernel path, endpoint check and trust band are the first path's; each path costs a prediction "
        "(path_samples=1: one)"
    )
    return dataclasses.replace(
        first,
        **means,
        eps_times=times,
        level_times=levels,
        path_losses=tuple(p.loss for p in preds),
        seconds=sum(p.seconds for p in preds) - (len(preds) - 1) * shared_seconds,
        kernel_seconds=sum(p.kernel_seconds for p in preds) - (len(preds) - 1) * first.kernel["seconds"],
        dynamics_seconds=sum(p.dynamics_seconds for p in preds),
        peak_rss_mib=max(p.peak_rss_mib for p in preds),
        warnings=(*first.warnings, note),
    )


def _spread(preds: Sequence[Prediction], options: PredictConfig) -> float | None:
    """The largest relative difference between two paths' loss T_eps (steps) at one eps, over the eps all reach."""
    largest = None
    for eps in options.eps:
        steps = [p.eps_time(eps).steps for p in preds]
        if all(s for s in steps):
            gap = (max(steps) - min(steps)) / min(steps)
            largest = gap if largest is None else max(largest, gap)
    return largest
