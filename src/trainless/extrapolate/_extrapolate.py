"""Predict training on N samples from the kernel of an N0-sample subset (App. D of Zancato et al. 2020)."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from .._losses import Loss, loss_value
from ..data import ImageData, subset_per_class
from ..dynamics import (
    MIN_FIT_POINTS,
    default_fit_window,
    epsilon_times,
    fit_power_law,
    mse_flow_curve,
    mse_mode_curve,
    squared_loss_stable,
)
from ..errors import TrainlessError
from ..finetune import FinetuneConfig, check_problem, learning_rates
from ..models import HeadStart, LoadedModel
from ..predict import PredictConfig, level_times, linearize, predict_from
from ..predict._preserve import preserved
from ._result import Extrapolation, SpectralExtrapolation
from ._spectral import (
    check_options,
    corrected_exponent,
    extrapolated_eigenvalues,
    tail_projections,
    time_warp,
    warp_curve,
)

#: the paper's alpha in [0.1, 0.2]: its middle
DEFAULT_ALPHA = 0.15
#: the tail's anchor: mean of the subset's projections over ranks k0 (1 -+ 0.25) (0: the paper's one point)
DEFAULT_ANCHOR_WINDOW = 0.25


def default_k0(modes_subset: int) -> int:
    """k0 = M0 / 10: the paper's k0 = 100 on N0 = 1000 samples (the top tenth of the subset's modes, whose
    projections have converged)."""
    return max(1, modes_subset // 10)


def extrapolate_spectrum(
    eigenvalues: Sequence[float] | np.ndarray,
    projections: Sequence[float] | np.ndarray,
    n0: int,
    n: int,
    residual_total: float,
    lr: Sequence[float],
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    alpha: float = DEFAULT_ALPHA,
    k0: int | None = None,
    fit_window: tuple[int, int] | None = None,
    anchor_window: float = DEFAULT_ANCHOR_WINDOW,
    keep_head: bool = True,
) -> SpectralExtrapolation:
    """App. D from numbers: the subset's spectrum to the N-sample spectrum, projections and MSE curve.

    eigenvalues: Theta's eigenvalues on the N0 subset, descending (M0 = N0 C of them, un-normalized;
        the pseudo-NTK's repeated per class, as ``KernelOperator.spectrum_for`` gives them).
    projections: (v'_k . dy)^2 on the subset for dy = onehot - f0 (M0, un-normalized).
    residual_total: ||dy||^2 summed over all N samples and outputs (un-normalized).
    lr: (T,) the learning rate of each full-batch step; momentum, nesterov as torch.optim.SGD.
    alpha: the slope correction (:func:`~trainless.extrapolate._spectral.corrected_exponent`);
    k0: the projections' tail rank (default :func:`default_k0`); anchor_window: the tail's anchor at k0
        (:func:`~trainless.extrapolate.tail_projections`; 0 is the paper's single projection);
    fit_window: the power-law fit's ranks (default k0..M0/2 with the head kept, 1..M0/2 without: the
        subset's last half bends down, the finite-N0 effect of Fig. 4, right).
    keep_head: keep the subset's eigenvalues above k0 and pivot the corrected law at k0
        (:func:`~trainless.extrapolate.extrapolated_eigenvalues`); False is the paper's rule (the law at
        every rank).
    Everything is normalized by its own dataset size first (module docstring). float64.
    """
    lam0 = np.asarray(eigenvalues, dtype=np.float64)
    p0 = np.asarray(projections, dtype=np.float64)
    _check_sizes(n0, n)
    if lam0.ndim != 1 or lam0.shape != p0.shape:
        raise TrainlessError(
            f"eigenvalues and projections must be 1-D of the same length, got {lam0.shape} and {p0.shape}"
        )
    m0 = lam0.size
    if m0 % n0:
        raise TrainlessError(f"the subset's {m0} modes are not a multiple of its N0 = {n0} samples")
    classes = m0 // n0
    modes = n * classes
    check_options(m0, k0, alpha, anchor_window)
    k0 = default_k0(m0) if k0 is None else k0
    if fit_window is None:
        fit_window = default_fit_window(m0, k0 if keep_head else 1)
    if np.any(lam0[: fit_window[1]] <= 0):
        first_bad = int(np.argmax(lam0 <= 0)) + 1
        raise TrainlessError(
            f"the subset's spectrum has a non-positive eigenvalue ({lam0[first_bad - 1]:.3g}) at rank {first_bad}, "
            f"up to the fit window's end {fit_window[1]}: the kernel is rank-deficient there (a projected kernel "
            "with too small a dimension, or duplicated samples); pass a narrower fit_window"
        )
    if not math.isfinite(residual_total) or residual_total <= 0:
        raise TrainlessError(f"residual_total ||dy||^2 must be finite and > 0, got {residual_total!r}")
    mu0, pi0 = lam0 / n0, p0 / n0
    law = fit_power_law(mu0, fit_window)
    mu = extrapolated_eigenvalues(law, n0, n, modes, alpha, mu0[: k0 - 1] if keep_head else None)
    tail = tail_projections(pi0, k0, residual_total / n, modes, anchor_window)
    mse_subset = mse_mode_curve(np.clip(mu0, 0.0, None), pi0, lr, momentum, nesterov)
    mse = mse_mode_curve(mu, tail.projections, lr, momentum, nesterov)
    return SpectralExtrapolation(
        n0=n0,
        n=n,
        classes=classes,
        c=law.c,
        s=law.s,
        fit_first=law.first,
        fit_last=law.last,
        alpha=float(alpha),
        exponent=corrected_exponent(law.s, n0, n, alpha),
        k0=k0,
        keep_head=keep_head,
        anchor_window=float(anchor_window),
        tail_a=tail.a,
        tail_b=tail.b,
        eigenvalues_subset=tuple(mu0.tolist()),
        projections_subset=tuple(pi0.tolist()),
        eigenvalues=tuple(mu.tolist()),
        projections=tuple(tail.projections.tolist()),
        residual_total_subset=float(p0.sum()) / n0,
        residual_total=residual_total / n,
        mse_loss_subset=tuple(mse_subset.tolist()),
        mse_loss=tuple(mse.tolist()),
    )


def _check_sizes(n0: int, n: int) -> None:
    for name, v in (("N0", n0), ("N", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise TrainlessError(f"{name} must be a positive integer, got {v!r}")
    if n < n0:
        raise TrainlessError(f"the larger dataset (N = {n}) must have at least the subset's N0 = {n0} samples")


def minimum_subset(classes: int) -> int:
    """The fewest samples a subset may have: the default fit window (ranks M0/10..M0/2 of the N0 C modes)
    must hold ``MIN_FIT_POINTS`` ranks, and k0 = M0 / 10 must be at least 1."""
    m0 = 1
    while default_fit_window(m0, default_k0(m0))[1] - default_k0(m0) + 1 < MIN_FIT_POINTS:
        m0 += 1
    return math.ceil(m0 / classes)


def extrapolate(
    model: LoadedModel,
    data: ImageData,
    config: FinetuneConfig,
    subset: int,
    options: PredictConfig | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
    k0: int | None = None,
    fit_window: tuple[int, int] | None = None,
    anchor_window: float = DEFAULT_ANCHOR_WINDOW,
    keep_head: bool = True,
    seed: int = 0,
    trainable: str = "all",
    head_start: HeadStart | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Extrapolation:
    """Predict the fine-tuning run ``config`` on all N samples of ``data`` from the kernel of a seeded subset
    of ``subset`` = N0 of them (``subset / C`` per class), as App. D of Zancato et al. (2020) does.

    Cost: Theta on N0 samples (``options.kernel``) and one forward pass over all N for f0 (the residual's
    size ||dy||^2); no kernel on N and no training.

    The curve is that of full-batch SGD with the config's lrs, momentum and Nesterov flag: for a
    minibatch config it is the curve of the expected outputs (for MSE, E f_t follows full-batch GD
    exactly; the batch noise's extra loss is left out; a warning says so). Weight decay is refused (it
    needs J w0 on all N). For cross-entropy, see :class:`Extrapolation` (``loss``) for the approximation.
    Returns a frozen :class:`Extrapolation`. The model's weights are restored before returning.
    """
    start = time.perf_counter()
    options = options or PredictConfig()
    check_problem(model, data, config)
    n, classes = data.n, data.num_classes
    if isinstance(subset, bool) or not isinstance(subset, int):
        raise TrainlessError(f"subset must be an integer number of samples, got {subset!r}")
    low = minimum_subset(classes)
    if subset < low:
        raise TrainlessError(
            f"subset N0 = {subset} is too small to fit a power law with {classes} classes: use at least {low}"
        )
    if subset > n:
        raise TrainlessError(f"subset N0 = {subset} exceeds the dataset's N = {n} samples")
    if config.weight_decay > 0:
        raise TrainlessError(
            f"weight_decay = {config.weight_decay} is not supported by the extrapolation (it needs J w0 on all N "
            "samples); use weight_decay=0 or predict on all N"
        )
    if options.scheduled_updates:  # "auto" (the default) stays at w0 here
        raise TrainlessError(
            f"the extrapolation uses the kernel at w0: kernel_updates must be empty or 'auto', "
            f"got {options.kernel_updates}"
        )
    if config.optimizer != "sgd":
        raise TrainlessError(f"the extrapolation models optimizer='sgd', got {config.optimizer!r}")
    check_options((subset // classes) * classes * classes, k0, alpha, anchor_window)  # M0, before the kernel
    warnings: list[str] = []
    if config.batch_size is not None:
        warnings.append(
            f"batch size {config.batch_size}: the extrapolated curve is the full-batch one (the expected outputs; "
            "the batch noise's extra loss is not included)"
        )
    sub, positions = subset_per_class(data, subset // classes, seed=seed)
    gd = dataclasses.replace(config, batch_size=None)
    lin = linearize(
        model, sub, gd, options, trainable=trainable, head_start=head_start, device=device, progress=progress
    )

    t_fwd = time.perf_counter()
    f0_all = _outputs(model, data, lin.head_state, device)
    forward_seconds = time.perf_counter() - t_fwd
    onehot_all = torch.nn.functional.one_hot(data.y, classes).to(torch.float64)
    residual_total = float((onehot_all - f0_all).pow(2).sum())

    spec = lin.operator.spectrum_for(classes)
    onehot = torch.nn.functional.one_hot(lin.y, classes).to(torch.float64)
    proj = spec.project(onehot - lin.kernel.f0.to(torch.float64)).pow(2)
    lrs = learning_rates(config)
    spectral = extrapolate_spectrum(
        spec.eigenvalues.numpy(),
        proj.numpy(),
        sub.n,
        n,
        residual_total,
        lrs,
        momentum=config.momentum,
        nesterov=config.nesterov,
        alpha=alpha,
        k0=k0,
        fit_window=fit_window,
        anchor_window=anchor_window,
        keep_head=keep_head,
    )
    loss = Loss(config.loss)
    subset_prediction = predict_from(lin, gd, options, model=model, data=sub)
    subset_curve = np.asarray(subset_prediction.loss, dtype=np.float64)
    if subset_prediction.edge_scale < 1.0:
        warnings.append(
            f"the subset's MSE run is past its stability edge and was predicted at the edge (lrs x "
            f"{subset_prediction.edge_scale:.3g}, PredictConfig.above_edge); the extrapolated curve is the linearized "
            "model as it is at the full lr, past the edge too: read it as diverging, not as the run"
        )
    mse_subset = np.asarray(spectral.mse_loss_subset)
    mse = np.asarray(spectral.mse_loss)
    if loss is Loss.MSE:
        curve = mse
        warp = np.arange(curve.size, dtype=np.float64)
    else:
        mu0, mu = np.asarray(spectral.eigenvalues_subset), np.asarray(spectral.eigenvalues)
        if not squared_loss_stable(np.concatenate((mu0, mu)), lrs, config.momentum, config.nesterov):
            # The warp times the cross-entropy curve by the squared loss's relative progress, a proxy; at this lr
            # that proxy's discrete recursion grows without bound in the top modes (the warp would stop at step 0
            # and the curve stay flat), while the cross-entropy run, of smaller curvature, need not: gradient
            # flow, its small-lr limit, times it instead.
            mse_subset = mse_flow_curve(np.clip(mu0, 0.0, None), spectral.projections_subset, lrs, config.momentum)
            mse = mse_flow_curve(mu, spectral.projections, lrs, config.momentum)
            warnings.append(
                f"at lr {max(lrs):g} the squared loss's discrete dynamics diverge in the top modes (lr mu_1 = "
                f"{max(lrs) * float(max(mu0.max(), mu.max())):.3g}): the time warp follows its gradient flow instead"
            )
        warp = time_warp(mse_subset, mse)
        scale = _mean_loss(loss, f0_all, data.y) / subset_curve[0]
        curve = warp_curve(subset_curve, warp) * scale
        if warp[-1] >= curve.size - 1 - 1e-9 and mse[-1] / mse[0] < mse_subset[-1] / mse_subset[0]:
            warnings.append(
                "the extrapolated MSE curve ends below the subset's: the warped cross-entropy curve is clamped "
                "at the subset's last step"
            )
    if spectral.tail_b < 0:
        warnings.append(
            f"the projections' tail grows with the rank (b = {spectral.tail_b:.3g}): the subset's top {spectral.k0} "
            "modes hold less of the residual than the larger set's forward passes say; use a larger subset"
        )
    eps = options.eps
    curve_t = torch.from_numpy(curve)
    return Extrapolation(
        loss=loss.value,
        n0=sub.n,
        n=n,
        loss_subset=tuple(subset_curve.tolist()),
        loss_curve=tuple(curve.tolist()),
        warp=tuple(warp.tolist()),
        eps_times_subset=epsilon_times(subset_curve, eps, basis="loss", definition=options.eps_definition),
        eps_times=epsilon_times(curve_t, eps, basis="loss", definition=options.eps_definition),
        level_times=level_times(curve_t, options.levels),
        spectral=spectral,
        subset_prediction=subset_prediction,
        subset_indices=tuple(int(i) for i in positions),
        seconds=time.perf_counter() - start,
        kernel_seconds=lin.kernel.seconds,
        forward_seconds=forward_seconds,
        warnings=tuple(warnings),
        estimated_run_seconds=None
        if subset_prediction.step_seconds is None
        else subset_prediction.step_seconds * n / sub.n * config.steps,
    )


def _mean_loss(loss: Loss, f: torch.Tensor, y: torch.Tensor) -> float:
    return float(loss_value(loss, f.to(torch.float64), y))


@torch.no_grad()
def _outputs(
    model: LoadedModel, data: ImageData, head_state: dict[str, torch.Tensor] | None, device: str | torch.device | None
) -> torch.Tensor:
    """f0 on every sample, (N, C) float64, with the head as the subset's head start left it."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = model.module.to(dev)
    module.eval()
    outs = []
    with preserved(module):
        if head_state is not None:
            model.head_module().load_state_dict(head_state)
        for chunk in torch.split(data.x, 64):
            outs.append(module(chunk.to(dev)).double().cpu())
    return torch.cat(outs)
