"""Algorithm 1 of Zancato et al. (2020, App. A) end to end: f0, Theta, then the linearized dynamics."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import torch

from .._losses import Loss, loss_grad, loss_value
from .._memory import PeakMemory
from ..data import ImageData, batch_schedule
from ..dynamics import Engine, KernelOperator, SGDSchedule, epsilon_times, simulate
from ..errors import TrainlessError
from ..finetune import FinetuneConfig, check_problem, learning_rates, make_optimizer
from ..kernel import KernelMethod, compute_kernel, jacobian_vector_product
from ..models import HeadStart, LoadedModel, select_trainable, warm_head
from ._config import PredictConfig
from ._result import LevelTime, Prediction


@contextmanager
def preserved(module: torch.nn.Module) -> Iterator[None]:
    """Restore every parameter's value and requires_grad flag on exit (the user's model is left as given)."""
    saved = [(p, p.detach().clone(), p.requires_grad) for p in module.parameters()]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value, flag in saved:
                p.copy_(value)
                p.requires_grad_(flag)
                p.grad = None


def time_optimizer_step(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: FinetuneConfig,
    batch: torch.Tensor | None,
    repeats: int,
) -> float:
    """Median wall time (s) of one real optimizer step (forward, backward, update) on ``batch`` (None: all
    samples), after one warm-up step. Changes the weights: call inside :func:`preserved`."""
    params = [p for p in module.parameters() if p.requires_grad]
    opt = make_optimizer(config, params)
    xb, yb = (x, y) if batch is None else (x[batch], y[batch])
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_value(config.loss, module(xb), yb).backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _quantiles(paths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if paths.shape[0] == 1:
        return paths[0], paths[0], paths[0]
    return paths.mean(0), torch.quantile(paths, 0.05, dim=0), torch.quantile(paths, 0.95, dim=0)


def _floats(t: torch.Tensor) -> tuple[float, ...]:
    return tuple(float(v) for v in t)


def predict(
    model: LoadedModel,
    data: ImageData,
    config: FinetuneConfig,
    options: PredictConfig | None = None,
    *,
    trainable: str = "all",
    head_start: HeadStart | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Prediction:
    """Predict the fine-tuning run ``finetune(model, data, config, trainable=..., head_start=...)`` would
    make, without training: Algorithm 1 of Zancato et al. (2020).

    1. f0 = f(X) and Theta = J J^T at w0 (the pretrained body and the head as ``head_start`` leaves it), by
       ``options.kernel`` (:func:`~trainless.kernel.compute_kernel`), w.r.t. the parameters ``trainable``
       selects; J w0 when weight decay is on;
    2. the linearized training f_t in function space by ``options.engine`` (exact discrete-time SGD by
       default; the paper's ODE / SDE, or the MSE closed form) with the config's optimizer, lr schedule and
       batch orders;
    3. the loss and error curves, their epsilon-training-times, Theta's spectrum and the residual's
       projections on it, the predicted ||w_t - w0||, and the wall-clock estimate from one real optimizer
       step timed on this hardware.

    The model's weights and requires_grad flags are restored before returning. Only ``optimizer='sgd'``
    has function-space dynamics. Returns a frozen :class:`Prediction`.
    """
    options = options or PredictConfig()
    if not isinstance(options, PredictConfig):
        raise TrainlessError(f"options must be a PredictConfig, got {type(options).__name__}")
    check_problem(model, data, config)
    if config.optimizer != "sgd":
        raise TrainlessError(
            f"optimizer {config.optimizer!r} has no function-space dynamics (its per-parameter scaling needs the "
            "weights); predict supports optimizer='sgd' (with momentum, Nesterov, weight decay, schedules)"
        )
    engine = Engine(options.engine)
    loss = Loss(config.loss)
    if not engine.supports(loss):
        ok = ", ".join(repr(e.value) for e in Engine if e.supports(loss))
        raise TrainlessError(f"engine {engine.value!r} does not support loss {loss.value!r}; use {ok}")
    if engine is Engine.CLOSED_FORM and config.weight_decay > 0:
        raise TrainlessError("engine 'closed-form' has no weight decay; use 'discrete', 'ode' or 'sde'")
    head_start = head_start or HeadStart()
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    warnings: list[str] = []

    start = time.perf_counter()
    module = model.module.to(dev)
    module.eval()
    x, y = data.x.to(dev), data.y.to(dev)
    with PeakMemory() as pm:
        with preserved(module):
            probe = warm_head(model, x, y, config.loss, head_start)
            select_trainable(model, trainable)
            params = [p for p in module.parameters() if p.requires_grad]
            w0_sq = float(sum(float(p.detach().double().pow(2).sum()) for p in params))
            kernel = compute_kernel(module, x, options.kernel, progress=progress)
            jw0 = jacobian_vector_product(module, x) if config.weight_decay > 0 else None
            orders = None
            if config.batch_size is not None:
                orders = tuple(
                    tuple(batch_schedule(data.n, config.batch_size, config.steps, drop_last=config.drop_last, seed=s))
                    for s in range(config.seed, config.seed + options.batch_orders)
                )
            step_seconds = None
            if options.timing_steps > 0:
                first = None if orders is None else orders[0][0].to(dev)
                step_seconds = time_optimizer_step(module, x, y, config, first, options.timing_steps)

        kernel_seconds = kernel.seconds
        t_dyn = time.perf_counter()
        lrs = learning_rates(config)
        schedule = SGDSchedule(
            lr=lrs,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            batch_size=config.batch_size,
            batch_orders=orders if engine is Engine.DISCRETE else None,
        )
        op = KernelOperator(kernel.k_train_train)
        y_cpu = data.y.cpu()
        stride = options.distance_stride or max(1, config.steps // 50)
        traj = simulate(
            op,
            kernel.f0,
            y_cpu,
            schedule,
            loss=loss,
            engine=engine,
            jw0=jw0,
            w0_sq_norm=w0_sq,
            paths=options.sde_paths,
            noise=options.sde_noise,
            substeps=options.sde_substeps,
            seed=config.seed,
            distance_stride=stride,
            progress=progress,
        )
        loss_mean, loss_lo, loss_hi = _quantiles(traj.loss)
        err_mean, err_lo, err_hi = _quantiles(traj.error)
        spec = op.spectrum_for(kernel.classes)
        r0 = -loss_grad(loss, kernel.f0, y_cpu)
        r_final = -loss_grad(loss, traj.f_final, y_cpu)
        proj0 = spec.project(r0).pow(2)
        proj_final = spec.project(r_final).pow(2).mean(0)
        eps_list = options.eps
        times = epsilon_times(loss_mean, eps_list, basis="loss", definition=options.eps_definition)
        times += epsilon_times(err_mean, eps_list, basis="error", definition=options.eps_definition)
        levels = []
        for level in options.levels:
            hit = torch.nonzero(loss_mean <= level * loss_mean[0]).flatten()
            levels.append(LevelTime(level, int(hit[0]) if hit.numel() else None))
        dynamics_seconds = time.perf_counter() - t_dyn

    dist = traj.distance.mean(0)
    w0_norm = math.sqrt(w0_sq)
    final_dist = float(dist[-1])
    if math.isfinite(final_dist) and final_dist > options.distance_warning * w0_norm:
        warnings.append(
            f"the predicted ||w_T - w0|| = {final_dist:.3g} is {final_dist / w0_norm:.1%} of ||w0|| = {w0_norm:.3g} "
            f"(above {options.distance_warning:.0%}): the network may leave its linearization; trust the curves less"
        )
    if kernel.method is KernelMethod.PSEUDO:
        warnings.append("the pseudo-NTK drops the class-to-class structure of Theta; its error is not bounded here")
    if engine in (Engine.ODE, Engine.CLOSED_FORM) and config.batch_size is not None:
        warnings.append(f"engine {engine.value!r} ignores the SGD noise of batch size {config.batch_size}")
    if engine is not Engine.DISCRETE and config.momentum > 0:
        warnings.append(f"engine {engine.value!r} models momentum {config.momentum} by the effective lr lr/(1-m)")
    head_info = asdict(head_start)
    if probe is not None:
        head_info["probe"] = asdict(probe)
    return Prediction(
        config=config,
        options=options,
        model=model.name,
        data=data.name,
        n=data.n,
        classes=kernel.classes,
        trainable=trainable,
        num_trainable=kernel.num_params,
        head_start=head_info,
        engine=engine.value,
        loss=_floats(loss_mean),
        loss_low=_floats(loss_lo),
        loss_high=_floats(loss_hi),
        error=_floats(err_mean),
        error_low=_floats(err_lo),
        error_high=_floats(err_hi),
        paired_loss=_floats(traj.loss[0]),
        paired_error=_floats(traj.error[0]),
        distance_steps=tuple(int(s) for s in traj.distance_steps),
        weight_distance=_floats(dist),
        paired_weight_distance=_floats(traj.distance[0]),
        lr=lrs,
        eps_times=times,
        level_times=tuple(levels),
        eigenvalues=_floats(spec.eigenvalues),
        projections_initial=_floats(proj0),
        projections_final=_floats(proj_final),
        kernel={
            "method": kernel.method.value,
            "dim": kernel.dim,
            "num_params": kernel.num_params,
            "seconds": kernel.seconds,
            "peak_rss_mib": kernel.peak_rss_mib,
            "pseudo": kernel.pseudo,
        },
        step_seconds=step_seconds,
        estimated_run_seconds=None if step_seconds is None else step_seconds * config.steps,
        seconds=time.perf_counter() - start,
        kernel_seconds=kernel_seconds,
        dynamics_seconds=dynamics_seconds,
        peak_rss_mib=pm.peak_rss_mib,
        w0_norm=w0_norm,
        status=traj.status,
        message=traj.message,
        warnings=tuple(warnings),
    )
