"""Algorithm 1 of Zancato et al. (2020, App. A) end to end: f0, Theta, then the linearized dynamics."""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from .._losses import Loss, loss_grad, loss_hessian, loss_value
from .._memory import PeakMemory
from ..data import ImageData, batch_schedule
from ..dynamics import (
    Engine,
    HeldOut,
    KernelOperator,
    KernelUpdate,
    MomentumCarry,
    MomentumSegment,
    SGDSchedule,
    Trajectory,
    TrajectoryStatus,
    simulate,
)
from ..errors import TrainlessError
from ..finetune import FinetuneConfig, check_problem, check_test_data, learning_rates, make_optimizer
from ..kernel import KernelMethod, KernelResult, compute_kernel, jacobian_vector_product
from ..models import HeadStart, LoadedModel, penultimate_features, select_trainable, warm_head
from ._carry import BufferCarry
from ._config import (
    AUTO,
    FLOW_EDGE_RATIO,
    FLOW_INACTIVE_SHARE,
    REFINE_INACTIVE_SHARE,
    AboveEdge,
    EdgeCapShape,
    MomentumBuffer,
    PredictConfig,
    UpdatePath,
    UpdateShape,
    auto_edge_cap,
    auto_guarded_flow,
    auto_halve_updates,
    auto_kernel_updates,
    auto_path_stride,
    auto_refine_updates,
    far_from_linearization,
    halved_updates,
    path_phases,
    refined_updates,
    resolve_path_samples,
    resolve_update_path,
    short_last_batch,
)
from ._diagnosis import diagnose_spectrum
from ._endpoint import WeightPath
from ._flow import FlowPoint, flow_path
from ._preserve import preserved
from ._result import Prediction, curve_times
from ._samples import path_mean
from ._trust import (
    closed_loop_hint,
    edge_outcome_note,
    endpoint_threshold,
    largest_edge_ratio,
    loss_band,
    loss_band_text,
    steps_band,
    steps_band_text,
    trust_flags,
    trust_regime,
    trust_summary,
)


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


@dataclass(frozen=True, eq=False)
class Linearization:
    """The network at w0 as the function-space dynamics see it (step 1 of Algorithm 1), reusable across
    engines and hyper-parameters that keep the loss, the head start, the trained subset and the batch size.

    kernel: Theta and f0 (:class:`~trainless.kernel.KernelResult`, float64); operator: Theta as a
    :class:`~trainless.dynamics.KernelOperator`, whose spectrum is computed once for every engine that uses
    it. y: (N,) int64 labels (CPU).
    jw0: (N, C) float64 J w0 (None unless asked for: weight decay needs it). w0_sq_norm: ||w0||^2 of the
    trained parameters. step_seconds: median time of one real optimizer step on this hardware for the batch
    size it was timed with (``timed_batch_size``; None when not timed). loss: the loss the head start used.
    seconds / peak_rss_mib: the wall time and memory peak of this stage.
    head_state: the head's state_dict after a head start that changed it (linear probing), so the endpoint
    check can rebuild w0; None for a fresh head (the module's own).
    held_out: the test points (Theta(X_test, X), f0_test, y_test, and J_test w0 with weight decay), when
    linearized with ``test_data``; None otherwise.
    buffer, buffer_weights: for a run continued under momentum from weights real steps reached (the closed
    loop): torch's momentum buffer B there, one tensor per trained parameter (``buffer_weights``, the module's
    order, as the optimizer holds it), and its image J B, (N, C) float64 (``buffer``), which the discrete
    engine's first step uses as torch's does (``simulate(initial_buffer=...)``). None for a run from w0.
    """

    kernel: KernelResult
    operator: KernelOperator
    y: torch.Tensor
    jw0: torch.Tensor | None
    w0_sq_norm: float
    step_seconds: float | None
    timed_batch_size: int | None
    loss: str
    model: str
    data: str
    n: int
    trainable: str
    head_start: dict[str, Any]
    seconds: float
    peak_rss_mib: float
    head_state: dict[str, torch.Tensor] | None = None
    held_out: HeldOut | None = None
    buffer: torch.Tensor | None = None
    buffer_weights: tuple[torch.Tensor, ...] | None = None


def check_dynamics(config: FinetuneConfig, engine: Engine) -> None:
    """The optimizer and engine checks, before any expensive work."""
    if config.optimizer != "sgd":
        raise TrainlessError(
            f"optimizer {config.optimizer!r} has no function-space dynamics (its per-parameter scaling needs the "
            "weights); predict supports optimizer='sgd' (with momentum, Nesterov, weight decay, schedules)"
        )
    loss = Loss(config.loss)
    if not engine.supports(loss):
        ok = ", ".join(repr(e.value) for e in Engine if e.supports(loss))
        raise TrainlessError(f"engine {engine.value!r} does not support loss {loss.value!r}; use {ok}")
    if engine is Engine.CLOSED_FORM and config.weight_decay > 0:
        raise TrainlessError("engine 'closed-form' has no weight decay; use 'discrete', 'ode' or 'sde'")


def linearize(
    model: LoadedModel,
    data: ImageData,
    config: FinetuneConfig,
    options: PredictConfig | None = None,
    *,
    trainable: str = "all",
    head_start: HeadStart | None = None,
    with_jw0: bool | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    test_data: ImageData | None = None,
) -> Linearization:
    """Step 1 of Algorithm 1: the head start, f0, Theta by ``options.kernel``, J w0 (when ``with_jw0``, or by
    default when ``config.weight_decay`` > 0), and ``options.timing_steps`` real optimizer steps timed with
    the config's batch size. The model's weights and requires_grad flags are restored before returning.

    test_data: held-out samples: Theta is computed on the training and test points together, (N + M)^2
    blocks (the kernel engine has one input set), and split into Theta(X, X) and Theta(X_test, X)."""
    options = options or PredictConfig()
    if not isinstance(options, PredictConfig):
        raise TrainlessError(f"options must be a PredictConfig, got {type(options).__name__}")
    check_problem(model, data, config)
    test_data = check_test_data(model, data, test_data)
    head_start = head_start or HeadStart()
    with_jw0 = config.weight_decay > 0 if with_jw0 is None else with_jw0
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    module = model.module.to(dev)
    module.eval()
    x, y = data.x.to(dev), data.y.to(dev)
    with PeakMemory() as pm, preserved(module):
        probe = warm_head(model, x, y, config.loss, head_start)
        head_state = None
        if probe is not None:
            head_state = {k: v.detach().clone() for k, v in model.head_module().state_dict().items()}
        select_trainable(model, trainable)
        params = [p for p in module.parameters() if p.requires_grad]
        w0_sq = float(sum(float(p.detach().double().pow(2).sum()) for p in params))
        held_out = None
        if test_data is None:
            kernel = compute_kernel(module, x, options.kernel, progress=progress)
            jw0 = jacobian_vector_product(module, x) if with_jw0 else None
        else:
            n = data.n
            both = torch.cat([x, test_data.x.to(dev)])
            joint = compute_kernel(module, both, options.kernel, progress=progress)
            kernel = dataclasses.replace(joint, k_train_train=joint.k_train_train[:n, :n], f0=joint.f0[:n])
            jw_both = jacobian_vector_product(module, both) if with_jw0 else None
            jw0 = None if jw_both is None else jw_both[:n]
            held_out = HeldOut.of(
                joint.k_train_train[n:, :n], joint.f0[n:], test_data.y, None if jw_both is None else jw_both[n:]
            )
        step_seconds = None
        if options.timing_steps > 0:
            first = None
            if config.batch_size is not None:
                first = batch_schedule(data.n, config.batch_size, 1, seed=config.seed)[0].to(dev)
            step_seconds = time_optimizer_step(module, x, y, config, first, options.timing_steps)
    head_info = asdict(head_start)
    if probe is not None:
        head_info["probe"] = asdict(probe)
    return Linearization(
        kernel=kernel,
        operator=KernelOperator(kernel.k_train_train),
        y=data.y.cpu(),
        jw0=jw0,
        w0_sq_norm=w0_sq,
        step_seconds=step_seconds,
        timed_batch_size=config.batch_size,
        loss=config.loss,
        model=model.name,
        data=data.name,
        n=data.n,
        trainable=trainable,
        head_start=head_info,
        seconds=time.perf_counter() - start,
        peak_rss_mib=pm.peak_rss_mib,
        head_state=head_state,
        held_out=held_out,
    )


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
    test_data: ImageData | None = None,
) -> Prediction:
    """Predict the fine-tuning run ``finetune(model, data, config, trainable=..., head_start=...)`` would
    make, without training: Algorithm 1 of Zancato et al. (2020).

    1. f0 = f(X) and Theta = J J^T at w0 (the pretrained body and the head as ``head_start`` leaves it), by
       ``options.kernel`` (:func:`~trainless.kernel.compute_kernel`), w.r.t. the parameters ``trainable``
       selects; J w0 when weight decay is on (:func:`linearize`);
    2. the linearized training f_t in function space by ``options.engine`` (exact discrete-time SGD by
       default; the paper's ODE / SDE, or the MSE closed form) with the config's optimizer, lr schedule and
       batch orders (:func:`predict_from`); by default (``options.kernel_updates="auto"``) Theta is computed
       again at a few steps along the predicted path without momentum, where the frozen Theta_0 predicts
       a fresh head's training too slow (``kernel_updates=()``: Theta_0 throughout, the paper's);
    3. the loss and error curves, their epsilon-training-times, Theta's spectrum and the residual's
       projections on it, the predicted ||w_t - w0||, and the wall-clock estimate from real optimizer
       steps timed on this hardware.

    test_data: held-out samples of the same classes: the linearized model's loss and error on them
    (``Prediction.test_loss`` / ``test_error``; Lee et al. eq. 10, eq. 19 for the MSE closed form), from
    Theta(X_test, X). Discrete and closed-form engines, without kernel updates.

    The model's weights and requires_grad flags are restored before returning. Only ``optimizer='sgd'``
    has function-space dynamics. Returns a frozen :class:`Prediction`.
    """
    options = options or PredictConfig()
    if not isinstance(options, PredictConfig):
        raise TrainlessError(f"options must be a PredictConfig, got {type(options).__name__}")
    check_dynamics(config, Engine(options.engine))  # before linearize, which checks the problem itself
    if test_data is not None:
        if Engine(options.engine) not in (Engine.DISCRETE, Engine.CLOSED_FORM):
            raise TrainlessError(
                f"test data needs the 'discrete' or 'closed-form' engine (the weights' coordinates are tracked "
                f"there), got engine {options.engine!r}"
            )
        if options.scheduled_updates:
            raise TrainlessError("test data does not support kernel updates yet (Theta(X_test, X) would change too)")
    lin = linearize(
        model,
        data,
        config,
        options,
        trainable=trainable,
        head_start=head_start,
        device=device,
        progress=progress,
        test_data=test_data,
    )
    return predict_from(lin, config, options, progress=progress, model=model, data=data)


def predict_from(
    lin: Linearization,
    config: FinetuneConfig,
    options: PredictConfig | None = None,
    *,
    progress: bool = False,
    start_step: int = 0,
    model: LoadedModel | None = None,
    data: ImageData | None = None,
) -> Prediction:
    """Steps 2-3 of Algorithm 1 from a :class:`Linearization`: the dynamics by ``options.engine`` and the
    figures. ``config`` may differ from the one linearized with in lr, schedule, steps, momentum and seed;
    not in the loss when the head was probed, nor in the batch size for the wall-clock estimate.
    start_step: the linearization was taken after this many of the config's steps; the prediction covers
    steps start_step..T (lrs and batches of the whole run from there on), indexed from 0.
    model, data: the model and data linearized (weights as they were then). When given, and
    ``options.endpoint_check`` is on, the real network is evaluated at the predicted final weights
    (:class:`~trainless.predict.EndpointCheck` in ``Prediction.endpoint``); ``options.kernel_updates`` needs
    them: at those steps Theta is computed again at the weights the linearized run has reached (the
    paired path's), and the outputs carry on under the new kernel (``Prediction.kernel_path``). With
    ``options.refine_updates`` (by default where at least 90% of the penultimate features are zero at init, without
    momentum) a schedule whose kernel trace more than doubled between two updates is refined once: predicted again
    with an update at each such segment's midpoint (:func:`~trainless.predict.refined_updates`); by default from 85%
    to below 90%, on a full-batch run without momentum, every segment is halved up front instead
    (:func:`~trainless.predict.halved_updates`).
    With ``options.path_samples`` above 1 and a path stride, all this is done along that many weight paths, their moves
    at phases spread over the stride, and the curves averaged (:func:`~trainless.predict._samples.path_mean`; the
    prediction's ``options.path_samples`` says how many were made)."""
    options = options or PredictConfig()
    if not isinstance(options, PredictConfig):
        raise TrainlessError(f"options must be a PredictConfig, got {type(options).__name__}")
    # The share decides auto's choices (updates under momentum, the refinement without). It is measured before the
    # first pass, so that the first pass keeps its kernels (for the second to reuse) only where one may follow.
    share = _inactive_share(model, data)
    where = {"progress": progress, "start_step": start_step, "model": model, "data": data, "share": share}
    samples = resolve_path_samples(options.path_samples, config.momentum, config.batch_size)
    options = dataclasses.replace(options, path_samples=samples)
    first = _predict_sample(lin, config, options, where)
    stride = first.options.path_stride if first.kernel_path else None
    phases = path_phases(stride, samples)
    if not phases:
        # Without moves between updates (or a stride of 1) every path is this one: the options say one was made.
        one = dataclasses.replace(first, options=dataclasses.replace(first.options, path_samples=1))
        return _hinted(_banded(_cost_warned(one), lin, config, start_step), lin, config, start_step)
    others = []
    for phase in phases:
        if progress:
            tqdm.write(f"weight path {len(others) + 2} of {len(phases) + 1} (path_samples)", file=sys.stderr)
        others.append(_predict_sample(lin, config, options, where | {"phase": phase}))
    pred = _cost_warned(path_mean((first, *others), phases, options, lin.seconds))
    return _hinted(_banded(pred, lin, config, start_step), lin, config, start_step)


def _banded(pred: Prediction, lin: Linearization, config: FinetuneConfig, start_step: int) -> Prediction:
    """``pred`` with its benchmark loss band (:func:`~trainless.predict.loss_band`: ``real_loss_low``,
    ``real_loss_high`` and ``trust["loss_band"]``) and steps band (:func:`~trainless.predict.steps_band`:
    ``steps_band`` and ``trust["steps_band"]``) where they apply: a prediction from w0 whose endpoint was checked
    (the bands' predictions all were, and their flags could be raised by it), in a cell with a band."""
    if start_step or pred.trust is None or pred.endpoint is None:
        return pred
    regime = trust_regime(config.batch_size, lin.n, config.momentum, config.loss)
    flagged = bool(pred.trust["flags"])
    trust, fields = dict(pred.trust), {}
    band = loss_band(pred.loss, pred.trust["mode"], regime, flagged)
    if band is not None:
        low, high, info = band
        trust["loss_band"] = {**info, "text": loss_band_text(info, low[-1], high[-1])}
        fields |= {"real_loss_low": low, "real_loss_high": high}
    steps = steps_band(pred.eps_times, pred.level_times, pred.steps, pred.trust["mode"], regime, flagged)
    if steps is not None:
        bands, info = steps
        trust["steps_band"] = {**info, "text": steps_band_text(bands, info)}
        fields["steps_band"] = bands
    return dataclasses.replace(pred, trust=trust, **fields) if fields else pred


def _hinted(pred: Prediction, lin: Linearization, config: FinetuneConfig, start_step: int) -> Prediction:
    """``pred`` with what to do where its trust signal is flagged and it starts at w0: what the closed loop
    (observing real steps first) bought on the benchmark's runs of its regime (:func:`closed_loop_hint`)."""
    if start_step or pred.trust is None or not pred.trust["flags"]:
        return pred
    hint = closed_loop_hint(trust_regime(config.batch_size, lin.n, config.momentum, config.loss), config.steps)
    return pred if hint is None else dataclasses.replace(pred, warnings=(*pred.warnings, hint))


def _cost_warned(pred: Prediction) -> Prediction:
    """``pred`` with a warning where its kernel updates (over all its weight paths) cost more than
    :data:`COSTLY_UPDATES` of the estimated real run: what a cheaper prediction gives up."""
    seconds, run = pred.seconds, pred.estimated_run_seconds
    if not pred.kernel_path or run is None or seconds <= COSTLY_UPDATES * run:
        return pred
    paths = len(pred.path_losses) or 1
    cheaper = (
        f"; one weight path (--path-samples 1; PredictConfig(path_samples=1)) costs about 1/{paths} of this, "
        "with a less steady curve (as accurate below the stability edge on the benchmark's suites run since two "
        "became the default)"
        if paths > 1
        else ""
    )
    warning = (
        f"this prediction took {_seconds(seconds)}, {seconds / run:.0%} of the estimated real run ({_seconds(run)}): "
        f"the {len(pred.kernel_path)} kernel updates along the path"
        + (f", made along {paths} weight paths," if paths > 1 else "")
        + " cost most of it"
        + cheaper
        + "; the frozen kernel (--kernel-updates none; PredictConfig(kernel_updates=())) costs one kernel (35-65 s on "
        "the quick start, on 2 CPU cores) but predicts a fresh head's late curve too slow"
    )
    return dataclasses.replace(pred, warnings=(*pred.warnings, warning))


def _predict_sample(
    lin: Linearization, config: FinetuneConfig, options: PredictConfig, where: dict[str, Any]
) -> Prediction:
    """:func:`predict_from` along one weight path: its moves at the phase ``where.get("phase", 0)`` of the stride
    (see ``PredictConfig.path_samples``), with the refinement or the halving where asked."""
    share = where["share"]
    with_network = where["model"] is not None and where["data"] is not None
    guarded = options.kernel_updates == AUTO and auto_guarded_flow(
        config.momentum,
        config.loss,
        options.update_path,
        options.momentum_buffer,
        share,
        lin.n,
        config.batch_size,
        config.drop_last,
    )
    # From w0 only: the closed loop's figures under momentum were measured with the frozen kernel.
    if guarded and where["start_step"] == 0 and _updates_supported(options, lin, config, with_network):
        return _predict_guarded_flow(lin, config, options, where)
    if options.refine_updates == AUTO and auto_halve_updates(share, config.momentum, config.batch_size, lin.n):
        halved = _predict_halved(lin, config, options, where)
        if halved is not None:
            return halved
    may_refine = options.refine_updates is True or (
        options.refine_updates == AUTO and auto_refine_updates(share, config.momentum)
    )
    kernels: dict[int, KernelResult] | None = {} if may_refine else None
    pred = _predict_path(lin, config, options, **where, kernels=kernels)
    if not pred.kernel_path or kernels is None:
        return _refined_choice(pred, False, share)
    steps = tuple(int(row["step"]) for row in pred.kernel_path)
    schedule = refined_updates(steps, tuple(float(row["trace_ratio"]) for row in pred.kernel_path))
    if schedule == steps:
        return _refined_choice(pred, True, share)
    added = sorted(set(schedule) - set(steps))
    note = (
        "the kernel's trace more than doubled between updates"
        + (f" ({share:.0%} of the penultimate features are zero at init)" if share is not None else "")
        + f": predicted again with updates also at steps {', '.join(map(str, added))} (refine_updates; on the "
        "benchmark's 32 px runs, where the kernel grows by factors, this lowered the largest T_eps error on 12 of "
        "the 14 runs it refined and raised it on one)"
    )
    if where["progress"]:
        tqdm.write(note, file=sys.stderr)
    # Up to the first added step the second pass follows the first one's path (same updates, same weight moves):
    # its kernels there are the first pass's, and are not computed again.
    reuse = {t: k for t, k in kernels.items() if t < added[0]}
    again = _predict_path(
        lin,
        config,
        dataclasses.replace(pred.options, kernel_updates=schedule, refine_updates=False),
        **where,
        kernels=reuse,
    )
    return dataclasses.replace(
        _refined_choice(again, True, share),
        warnings=(*again.warnings, note),
        # Both passes are the prediction's cost: the first one's kernel path decided the second's schedule.
        **_costs_of(pred, again),
    )


def _predict_halved(
    lin: Linearization, config: FinetuneConfig, options: PredictConfig, where: dict[str, Any]
) -> Prediction | None:
    """One pass with every segment of the kernel-update schedule (``options.kernel_updates``, "auto" resolved as
    :func:`_predict_path` would) halved (:func:`~trainless.predict.halved_updates`); None where that schedule is
    empty (nothing to halve)."""
    share = where["share"]
    steps_left = config.steps - where["start_step"]
    with_network = where["model"] is not None and where["data"] is not None
    base = (
        _auto_updates(options, lin, config, steps_left, with_network=with_network, inactive_share=share)
        if options.kernel_updates == AUTO
        else tuple(t for t in options.kernel_updates if t < steps_left)
    )
    if not base:
        return None
    schedule = halved_updates(base, steps_left)
    note = (
        f"{share:.0%} of the penultimate features are zero at init, below the refinement's "
        f"{REFINE_INACTIVE_SHARE:.0%}: the kernel-update schedule was halved up front, updates at steps "
        f"{', '.join(map(str, schedule))} (refine_updates; on the benchmark's 14 full-batch runs at 85-89% zero, "
        "predicted slow before, this lowered the largest T_eps error on 10 and raised it on one)"
    )
    if where["progress"]:
        tqdm.write(note, file=sys.stderr)
    pred = _predict_path(lin, config, dataclasses.replace(options, kernel_updates=schedule), **where)
    return dataclasses.replace(_refined_choice(pred, True, share), warnings=(*pred.warnings, note))


def _predict_guarded_flow(
    lin: Linearization, config: FinetuneConfig, options: PredictConfig, where: dict[str, Any]
) -> Prediction:
    """A momentum run predicted along the gradient flow (GD's auto schedule), kept where its largest edge ratio, at
    w0 or at a kernel it grows, is at most :data:`FLOW_EDGE_RATIO`; else predicted again with the frozen kernel,
    which is returned (both passes counted in its cost). See :func:`~trainless.predict.auto_guarded_flow`."""
    steps_left = config.steps - where["start_step"]
    # The flow path is full-batch GD whatever the run's optimizer: GD's schedule (auto_kernel_updates).
    schedule = auto_kernel_updates(steps_left)
    flow = _predict_path(lin, config, dataclasses.replace(options, kernel_updates=schedule), **where)
    edge = largest_edge_ratio(flow.edge_ratio, flow.kernel_path)
    measured = (
        "on the benchmark's momentum runs with no short last batch, the flow was better than the frozen kernel by "
        "the largest T_eps error on 15 of the 24 cached runs at most half the edge it was found on and worse on 1; "
        "on the suites written to test it before they ran, better on 7 and worse on 3 of 22 runs at most half the "
        "edge (unseen64-68, T_eps p95 58% -> 50%, nearer the real loss at T on 20), and better on 4 and worse on 1 "
        "of unseen69's six between 0.5 and 0.65 of it (p95 75% -> 69%)"
    )
    if edge is not None and edge <= FLOW_EDGE_RATIO:
        note = (
            f"momentum {config.momentum:g}: predicted along the gradient flow and kept, the lr at most "
            f"{edge:.2g}x its stability edge at w0 and at every kernel the flow grew (at most {FLOW_EDGE_RATIO:g} "
            f"keeps it; kernel_updates='auto'): {measured}"
        )
        return dataclasses.replace(_refined_choice(flow, False, where["share"]), warnings=(*flow.warnings, note))
    frozen = _predict_path(lin, config, dataclasses.replace(options, kernel_updates=()), **where)
    at = "the lr's edge ratio could not be measured" if edge is None else f"the lr at {edge:.2g}x its stability edge"
    note = (
        f"momentum {config.momentum:g}: the frozen kernel's prediction; along the gradient flow {at} (at w0 or at a "
        f"kernel the flow grew), above {FLOW_EDGE_RATIO:g}, where the flow overshot on the benchmark "
        f"(kernel_updates='auto'; --update-path flow gives it anyway)"
    )
    return dataclasses.replace(
        _refined_choice(frozen, False, where["share"]),
        warnings=(*frozen.warnings, note),
        **_costs_of(flow, frozen),
    )


def _costs_of(*passes: Prediction) -> dict[str, float]:
    """The time fields of a prediction made in several passes: each the sum over ``passes``."""
    fields = ("seconds", "kernel_seconds", "dynamics_seconds")
    return {f: sum(getattr(p, f) for p in passes) for f in fields}


def _refined_choice(pred: Prediction, refined: bool, share: float | None) -> Prediction:
    """The prediction with ``options.refine_updates`` resolved to the choice made and the share it rested on."""
    return dataclasses.replace(
        pred, options=dataclasses.replace(pred.options, refine_updates=refined), inactive_share=share
    )


def _inactive_share(model: LoadedModel | None, data: ImageData | None) -> float | None:
    """The share of exactly-zero entries of the penultimate features over ``data`` at the model's weights (see
    ``Prediction.inactive_share``); None without the model and data, or for a model whose head is not its last
    operation."""
    if model is None or data is None:
        return None
    device = next(model.module.parameters()).device
    try:
        feats = penultimate_features(model, data.x.to(device))
    except TrainlessError:
        return None
    return float((feats == 0).float().mean())


def _predict_path(
    lin: Linearization,
    config: FinetuneConfig,
    options: PredictConfig,
    *,
    progress: bool,
    start_step: int,
    model: LoadedModel | None,
    data: ImageData | None,
    kernels: dict[int, KernelResult] | None = None,
    share: float | None = None,
    phase: int = 0,
) -> Prediction:
    """:func:`predict_from` without the refinement: one pass of the dynamics, with the kernel updates and the
    endpoint check where asked. share: the share of zero penultimate features at init (:func:`_inactive_share`),
    for ``kernel_updates="auto"``. kernels: the updates' kernels by step, along the run's own path: one found there
    is used instead of being computed (the caller vouches that the path reaches the same weights at that step),
    one computed is stored. phase: the weight moves (path_stride) start at step stride - phase (0: at the stride).
    """
    steps_left = config.steps - start_step
    with_network = model is not None and data is not None
    # What "auto" makes here; the endpoint warning of a frozen prediction also points at it when it is not empty.
    auto_here = _auto_updates(options, lin, config, steps_left, with_network=with_network, inactive_share=share)
    options = dataclasses.replace(
        options,
        kernel_updates=auto_here if options.kernel_updates == AUTO else tuple(options.kernel_updates),
        edge_cap=auto_edge_cap(steps_left) if options.edge_cap == AUTO else options.edge_cap,
    )
    updates = tuple(t for t in options.kernel_updates if t < steps_left)
    if updates and not with_network:
        raise TrainlessError("kernel updates compute Theta along the predicted path: pass model= and data=")
    _check_prediction(lin, config, Engine(options.engine), start_step)
    regime = trust_regime(config.batch_size, lin.n, config.momentum, config.loss)
    start_edge = _start_edge(lin, config, options, start_step)
    linear_notes: list[str] = []
    linear = False
    if start_edge[2] < 1.0:
        # A network that is linear in its trained weights (a head trained alone, a linear model) has no catapult:
        # its real run is the linearized one and diverges past the edge too.
        gap = 0.0 if lin.trainable == "head" else None
        if gap is None and with_network:
            gap = _one_step_gap(model, data, lin, config, start_step)
        linear = gap is not None and gap < LINEAR_GAP
        if linear:
            start_edge = (start_edge[0], start_edge[1], 1.0)
            linear_notes.append(
                f"the network is linear in its trained weights (trainable {lin.trainable!r}; one step's output gap "
                f"{gap:.1g}): its real run is the linearized one, so it diverges past the edge too (above_edge "
                "does not apply)"
            )
    if model is None or data is None or not (options.endpoint_check or updates):
        pred = _predict_trajectory(
            lin, config, options, progress=progress, start_step=start_step, start_edge=start_edge
        )[0]
        flags = trust_flags(pred.edge_ratio, None, options.endpoint_warning, endpoint_threshold("frozen"))
        trust = trust_summary(
            flags, "frozen", steps=config.steps, endpoint_checked=False, regime=regime, model=lin.model
        )
        return dataclasses.replace(pred, trust=trust, warnings=(*pred.warnings, *linear_notes))
    t_path = time.perf_counter()
    if progress and updates:
        # The updates are most of the prediction's time (minutes on a CPU): say so before they start, not only
        # in the cost note at the end.
        tqdm.write(_updates_note(updates, lin, config), file=sys.stderr)
    kernel_path: list[dict[str, float]] = []
    kernel_seconds = hook_seconds = 0.0
    with preserved(model.module):
        if lin.head_state is not None:
            model.head_module().load_state_dict(lin.head_state)
        path = WeightPath(model, data, lin.trainable)
        theta0 = lin.operator.matrix
        trace0 = float(theta0.diagonal().sum())

        # The lrs the linearized run uses (scaled to the edge for an MSE run past it, see AboveEdge).
        lrs = [lr * start_edge[2] for lr in learning_rates(config)[start_step:]]
        # Past the edge the linearized MSE run diverges: under above_edge="edge" a grown kernel is capped too,
        # unless the network is linear in its weights (its real run diverges there as well, see above).
        cap = options.edge_cap or (_trains_at_edge(config, options) and not linear)

        current = [lin.operator]

        # With momentum the buffer is a weight-space vector that J maps into function space: it must follow J.
        exact = options.momentum_buffer == MomentumBuffer.EXACT.value
        carry = BufferCarry(path) if config.momentum > 0 and exact else None

        # Steps where only the weights move (path_stride): the engine calls the hook there too.
        path_taken = _update_path(options, config)
        flow = path_taken == UpdatePath.FLOW.value
        if lin.buffer is not None and config.momentum > 0 and updates and (exact or not flow):
            raise TrainlessError(
                "a run continued with its momentum buffer (closed loop) takes kernel updates only along the gradient "
                "flow (update_path='flow' or 'auto', momentum_buffer='kept'): the run's own path would have to carry "
                "the buffer through each new Jacobian"
            )
        stride = options.path_stride
        if stride == AUTO:  # an integer stride is refused with the exact buffer; "auto" gives way to it
            stride = None if exact else auto_path_stride(steps_left, 0.0 if flow else config.momentum)
        stride = stride if updates else None
        # Along the flow path the weights move inside the flow (flow_path); the run itself only switches kernels.
        moves = () if flow else _move_steps(stride, steps_left, updates, phase)

        def kernel_here() -> KernelResult:
            """The real network's kernel at the path's current weights, by the updates' kernel method."""
            return compute_kernel(model.module, path.x, options.update_kernel or options.kernel, progress=progress)

        flow_points: dict[int, FlowPoint | None] = {}
        flow_final: torch.Tensor | None = None
        if flow and updates:
            flow_points, flow_final = flow_path(
                path,
                lin.operator,
                lin.kernel.f0,
                lin.y,
                config.loss,
                lrs,
                config.momentum,
                config.nesterov,
                updates,
                stride,
                kernel_here,
                phase,
            )
            kernel_seconds += sum(p.result.seconds for p in flow_points.values() if p is not None)

        def update(t: int, alpha: torch.Tensor, f: torch.Tensor, segment: MomentumSegment | None) -> KernelOperator:
            nonlocal kernel_seconds
            if t in moves:
                path.move_to(alpha)  # a diverging run's non-finite weights: the next kernel update reports it
                return current[0]
            nan = math.nan
            diverged = {"step": t, "weight_distance": nan, "trace_ratio": nan, "relative_change": nan}
            diverged |= {"edge_ratio": nan, "scale": nan, "residual_rate": nan, "seconds": 0.0}
            diverged |= {"path_loss_real": nan, "path_loss_linear": nan, "path_output_gap": nan}
            reused = False
            if flow:
                point = flow_points.get(t)
                if point is None:  # the flow's weights went non-finite: keep the last kernel
                    kernel_path.append(diverged)
                    return current[0]
                result, distance, f_path = point.result, point.distance, point.f_linear
                op = KernelOperator(result.k_train_train)
            else:
                moved = path.move_to(alpha, shift=carry.shift(segment.carry) if carry and segment else None)
                if carry is not None:
                    carry.started(t)
                if not moved:
                    # The linearized run is diverging: no kernel exists at these weights; keep the last one.
                    kernel_path.append(diverged)
                    return current[0]
                reused = kernels is not None and t in kernels
                try:
                    result = kernels[t] if reused else kernel_here()
                    op = KernelOperator(result.k_train_train)
                except TrainlessError:  # non-finite outputs or kernel at weights far out: diverging as well
                    kernel_path.append(diverged)
                    return current[0]
                if kernels is not None:
                    kernels[t] = result
                kernel_seconds += 0.0 if reused else result.seconds
                distance, f_path = path.distance(), f
            # The kernel's pass also gives the real network's outputs at the path's weights: how far the real
            # network there is from the linearized run, early as well as at the end (the endpoint check).
            moved_by = float((f_path - lin.kernel.f0).norm())
            path_gap = float((result.f0 - f_path).norm()) / moved_by if moved_by > 0 else nan
            theta = op.matrix
            base = result.k_train_train
            if options.update_shape == UpdateShape.SCALED.value:
                # The growth's size from the path, its shape from w0 (see UpdateShape.SCALED).
                base = lin.kernel.k_train_train * (float(theta.diagonal().sum()) / trace0)
                op = KernelOperator(base)
            # The grown kernel can put the rest of the run past the stability edge (the real network then
            # stabilizes itself; the linearized one diverges): the trust signal takes the largest ratio.
            hessian = loss_hessian(config.loss, f)
            sharp = op.sharpness(hessian)
            ratio = max(lrs[t:]) * sharp / (2.0 * (1.0 + config.momentum))
            scale = 1.0
            if cap and ratio > 1.0:
                # Edge of stability (Cohen et al. 2021): a real network whose sharpness grows past 2(1+m)/lr
                # does not diverge; its sharpness hovers at that edge. Bring the new kernel down to it.
                if options.edge_cap_shape == EdgeCapShape.CLIP.value:
                    clipped, _ = op.clipped(hessian, sharp / ratio)  # only the modes past the edge lowered
                    scale = float(clipped.matrix.diagonal().sum()) / float(op.matrix.diagonal().sum())
                    op = clipped
                else:
                    scale = 1.0 / ratio
                    op = KernelOperator(base * scale)
            # How much faster the new kernel drives down what is left to fit than Theta_0 would: far above the
            # trace ratio, its growth concentrates on the residual (the updated path feeds on itself; measured
            # against the real network's kernels in benchmarks/oracle_kernels.py).
            g = loss_grad(config.loss, f, lin.y)
            g_theta0_g = float((g * lin.operator.matvec(g)).sum())
            rate = float((g * op.matvec(g)).sum()) / g_theta0_g if g_theta0_g > 0 else nan
            kernel_path.append(
                {
                    "step": t,
                    "weight_distance": distance,
                    "trace_ratio": float(theta.diagonal().sum()) / trace0,
                    "relative_change": float((theta - theta0).norm() / theta0.norm()),
                    "edge_ratio": ratio,
                    "scale": scale,
                    "residual_rate": rate,
                    "seconds": 0.0 if reused else result.seconds,
                    "path_loss_real": float(loss_value(config.loss, result.f0, lin.y)),
                    "path_loss_linear": float(loss_value(config.loss, f_path, lin.y)),
                    "path_output_gap": path_gap,
                }
            )
            current[0] = op
            return op

        def timed_update(
            t: int, alpha: torch.Tensor, f: torch.Tensor, segment: MomentumSegment | None
        ) -> KernelOperator:
            nonlocal hook_seconds
            t_hook = time.perf_counter()
            try:
                return update(t, alpha, f, segment)
            finally:
                hook_seconds += time.perf_counter() - t_hook

        pred, traj = _predict_trajectory(
            lin,
            config,
            options,
            progress=progress,
            start_step=start_step,
            update_kernel=timed_update if updates else None,
            carry_momentum=carry if updates else None,
            switch_steps=tuple(sorted(updates + moves)),
            start_edge=start_edge,
        )
        check = None
        alpha = traj.alpha_final[0]
        completed = traj.status is TrajectoryStatus.COMPLETED and bool(torch.isfinite(alpha).all())
        shift = carry.shift(float(traj.carry_final[0])) if carry and traj.carry_final is not None else None
        if lin.buffer_weights is not None and traj.carry_final is not None and config.momentum > 0:
            # A run continued with torch's buffer B: the weights also moved by -carry B (simulate's initial_buffer).
            shift = [-float(traj.carry_final[0]) * b for b in lin.buffer_weights]
        if flow and updates:
            # The path already stands at the flow's end (flow_path): check the real network there.
            if completed and flow_final is not None:
                check = path.check(config.loss, flow_final)
                final_distance = path.distance()
        elif completed and (options.endpoint_check or updates) and path.move_to(alpha, float(traj.c_final[0]), shift):
            check = path.check(config.loss, traj.f_final[0])
            final_distance = path.distance()
    if carry is not None:
        for row in kernel_path:
            row["carry_seconds"] = carry.seconds.get(int(row["step"]), 0.0)
    warnings = [*pred.warnings, *linear_notes]
    dist, paired = list(pred.weight_distance), list(pred.paired_weight_distance)
    if updates:
        # The engine stops tracking ||w_t - w0|| once J changes; the moved weights give it at each update.
        at = {row["step"]: row["weight_distance"] for row in kernel_path}
        if check is not None:
            at[config.steps - start_step] = final_distance
            far = _distance_warning(final_distance, lin, options)
            warnings.extend([far] if far else [])
        for i, s in enumerate(pred.distance_steps):
            if s in at:
                dist[i] = paired[i] = at[s]
    if check is not None and options.endpoint_check and check.output_gap > options.endpoint_warning:
        warnings.append(
            f"at the predicted final weights the real network's outputs differ from the linearized ones by "
            f"{check.output_gap:.0%} of the predicted change (real loss {check.loss_real:.3g} vs predicted "
            f"{check.loss_linear:.3g}; {check.flip_fraction:.1%} of the activations switch piece): the run leaves "
            "the linearization along its path; trust the late curve less"
            + (
                "; kernel updates along the path (the default, --kernel-updates auto; "
                "PredictConfig(kernel_updates='auto')) follow the kernel as it changes and, on the "
                "benchmark's runs without momentum, predicted the late curve and the final loss much closer, at "
                "several times this prediction's cost"
                if not updates and auto_here
                else ""
            )
        )
    over = [row for row in kernel_path if math.isfinite(row["edge_ratio"]) and row["edge_ratio"] > 1.0]
    if over:
        warnings.append(
            f"the kernel grown along the predicted path puts the lr at {over[0]['edge_ratio']:.2g}x its stability "
            f"edge from step {over[0]['step']} on: the rest of the prediction may oscillate or diverge while the "
            "real network stabilizes itself; read it as a bound"
        )
    if updates and config.momentum > 0 and not flow:
        warnings.append(
            f"kernel updates with momentum {config.momentum:g} along the run's own path (update_path='own'): on the "
            "benchmark's momentum runs they scored worse than the frozen kernel as often as better (the updated "
            "minibatch run can turn unstable while the real one does not); update_path='auto' takes them along a "
            "full-batch gradient flow"
        )
    elif updates and config.momentum > 0:
        # benchmarks/explore/flow_default.py: every cached momentum case of the bench, then unseen31, 2026-12-04.
        here = largest_edge_ratio(pred.edge_ratio, kernel_path)
        warnings.append(
            f"kernel updates with momentum {config.momentum:g} along a full-batch gradient flow: on the benchmark's "
            "50 momentum runs better than the frozen kernel on 28 and worse on 13 (largest T_eps error per run; on "
            "the first 44, median 48% -> 33%, loss at T 549% -> 39% off), the worst where the lr is above half the "
            "stability edge"
            + (f" (here {here:.2g}x it)" if here is not None else "")
            + (
                f"; made by kernel_updates='auto' because {share:.0%} of the penultimate features are zero at init: "
                "there (28-32 px on the benchmark) the frozen kernel ran far too slow, and the flow was better on "
                "19 of the 23 momentum runs measured at 85-98% zero (worse on four, one at half the stability edge)"
                if far_from_linearization(share, FLOW_INACTIVE_SHARE) and options.kernel_updates == auto_here
                else ""
            )
            + "; compare with the frozen kernel (--kernel-updates none)"
        )
    if updates and steps_left > LONGEST_MEASURED_STEPS and options.kernel_updates == auto_here:
        warnings.append(
            f"a run of {steps_left} steps with the auto kernel updates (at steps {', '.join(map(str, updates))}): "
            f"the schedule was measured on runs of up to T = {LONGEST_MEASURED_STEPS} (suites unseen24 and "
            "unseen26); past that its last kernels each stand for more steps, and the eight T = 1000 runs measured "
            "since (suites unseen27 to unseen29) were all predicted too fast late, by 2-47% at eps 1% (three off by "
            "more than 25%, at lr 5e-4 and 7e-4, one of them not flagged): trust the late curve less"
        )
    extra = time.perf_counter() - t_path - pred.dynamics_seconds
    seconds = pred.seconds + extra
    endpoint = check.to_dict() if check is not None and options.endpoint_check else None
    mode = "updates" if updates else "frozen"
    edge = largest_edge_ratio(pred.edge_ratio, kernel_path)
    flags = trust_flags(edge, endpoint, options.endpoint_warning, endpoint_threshold(mode))
    return dataclasses.replace(
        pred,
        options=(dataclasses.replace(options, path_stride=stride, update_path=path_taken) if updates else options),
        trust=trust_summary(
            flags, mode, steps=config.steps, endpoint_checked=endpoint is not None, regime=regime, model=lin.model
        ),
        endpoint=endpoint,
        kernel_path=tuple(kernel_path),
        weight_distance=tuple(dist),
        paired_weight_distance=tuple(paired),
        warnings=tuple(warnings),
        seconds=seconds,
        kernel_seconds=pred.kernel_seconds + kernel_seconds,
        dynamics_seconds=pred.dynamics_seconds - hook_seconds,  # the engine's time less the kernels' and moves'
    )


def _move_steps(stride: int | None, steps: int, updates: tuple[int, ...], phase: int = 0) -> tuple[int, ...]:
    """The steps (counted from the prediction's start, below ``steps``) where the path's weights move without a
    kernel update: every ``stride`` steps from step stride - ``phase``, the update steps left out (they move the
    weights anyway)."""
    return () if stride is None else tuple(t for t in range(stride - phase, steps, stride) if t not in updates)


def _updates_note(updates: tuple[int, ...], lin: Linearization, config: FinetuneConfig) -> str:
    """What the kernel updates will cost, from the kernel at w0's time, and the real run's estimate."""
    each = lin.kernel.seconds
    step = _step_seconds(lin, config)
    steps = ", ".join(map(str, updates))
    text = (
        f"kernel updates: {len(updates)} more kernels along the predicted path (steps {steps}), about "
        f"{_seconds(each)} each as at w0, {_seconds(len(updates) * each)} in all"
    )
    if step is not None:
        text += f"; the real run is estimated at {_seconds(step * config.steps)}"
    return text + " (--kernel-updates none, PredictConfig(kernel_updates=()): the frozen kernel alone)"


def _step_seconds(lin: Linearization, config: FinetuneConfig) -> float | None:
    """One real optimizer step's time for ``config`` (None when not timed, or timed with another batch size)."""
    return lin.step_seconds if lin.timed_batch_size == config.batch_size else None


def _seconds(x: float) -> str:
    """A duration for a message: three significant digits below 100 s (a tiny run's 0.5 s is not "0 s")."""
    return f"{x:.0f} s" if x >= 100 else f"{x:.3g} s"


LONGEST_MEASURED_STEPS = 600
"""The longest run (in optimizer steps) the auto kernel-update schedule was measured on: T = 600 (suites unseen24,
unseen26), where the schedule anchored at the start with the edge cap (auto_kernel_updates, auto_edge_cap) gave
largest relative T_eps errors of 11-50% per case; the schedule scaled with T had given 26-180%. Four runs at T = 1000
(unseen27, unseen28) gave 13-47%, early at eps 1% on all four; the two at lr 5e-4 bad (27%, unflagged, and 47%), too
fast late: past 600 steps the prediction warns."""


COSTLY_UPDATES = 0.5
"""Above this share of the estimated real run, a prediction with kernel updates says what they cost and what the
frozen kernel would (on the quick start, 204 s against an estimated 227 s; at N = 200, 255 s against 282 s)."""


LINEAR_GAP = 1e-3
"""Below this one-step output gap (:func:`_one_step_gap`) the network counts as linear in its trained weights: a
tolerance for float32 round-off (about 1e-6 on a linear model), far below a nonlinear network's gap after a step
past its stability edge."""


def _one_step_gap(
    model: LoadedModel, data: ImageData, lin: Linearization, config: FinetuneConfig, start_step: int
) -> float:
    """The real network after one full-batch GD step at the run's largest lr from the linearization's weights,
    against the linearized model there: ``EndpointCheck.output_gap`` (0 for a network linear in its trained
    weights). One vector-Jacobian product and two forward passes on the N samples; the weights are restored."""
    lr = max(learning_rates(config)[start_step:])
    alpha = -(lr / lin.n) * loss_grad(config.loss, lin.kernel.f0, lin.y)  # w - w0 = J^T alpha, f = f0 + Theta alpha
    with preserved(model.module):
        if lin.head_state is not None:
            model.head_module().load_state_dict(lin.head_state)
        path = WeightPath(model, data, lin.trainable)
        if not path.move_to(alpha):
            return math.inf
        return path.check(config.loss, lin.kernel.f0 + lin.operator.matvec(alpha)).output_gap


def _check_prediction(lin: Linearization, config: FinetuneConfig, engine: Engine, start_step: int) -> None:
    """The config against the linearization and the engine, before any work."""
    check_dynamics(config, engine)
    config.check_against(lin.n)
    if not 0 <= start_step < config.steps:
        raise TrainlessError(f"start_step must be in [0, {config.steps - 1}], got {start_step}")
    if config.weight_decay > 0 and lin.jw0 is None:
        raise TrainlessError("weight decay needs J w0: linearize with with_jw0=True")
    if lin.head_start.get("kind") != "fresh" and config.loss != lin.loss:
        raise TrainlessError(f"the head was probed with loss {lin.loss!r}; the config trains {config.loss!r}")


def _start_edge(
    lin: Linearization, config: FinetuneConfig, options: PredictConfig, start_step: int
) -> tuple[float, float, float]:
    """At the linearization's weights: the linearized loss's sharpness (float64, per unit lr), the edge ratio of
    the run's largest lr from ``start_step`` on, and the factor ``options.above_edge`` puts on the lrs (1 / ratio
    for an MSE run past the edge under ``edge``, else 1)."""
    # Full-batch heavy-ball GD on a quadratic of curvature S is stable iff lr < 2 (1 + m) / S; S is the
    # linearized loss's sharpness at w0 (exact for MSE, the start of the run for cross-entropy).
    sharp = lin.operator.sharpness(loss_hessian(Loss(config.loss), lin.kernel.f0))
    top_lr = max(learning_rates(config)[start_step:])
    ratio = top_lr * sharp / (2.0 * (1.0 + config.momentum)) if sharp > 0 else 0.0
    return sharp, ratio, 1.0 / ratio if _trains_at_edge(config, options) and ratio > 1.0 else 1.0


def _short_batch_warning(
    orders: tuple[tuple[torch.Tensor, ...], ...] | None,
    loss: list[float],
    n: int,
    batch_size: int | None,
    momentum: float = 0.0,
) -> str | None:
    """A warning when every epoch of ``n`` samples ends in a short batch (``drop_last=False``, as DataLoader draws
    them): such a step averages the loss of fewer samples at the same lr, a larger step per sample. None otherwise.
    Every batch order has its short batches at the same steps, so the first of ``orders`` says where.

    Without momentum, when the predicted expected loss (``loss``: steps 0..len(orders[0])) rises at those steps by
    more than the other steps lower it (medians of the change relative to the loss before the step): the linearized
    run shows the kick itself, and the warning quotes it. With momentum the linearized run shows no such kick (the
    buffer carries the run past it), while the real one climbed back up: the warning then rests on the batch's
    size alone (at most :data:`SHORT_BATCH_MOMENTUM_SHARE` of a full batch) and quotes the benchmark's twins.

    Measured (docs/measurements.md, unseen61 and unseen62, each written to test it before it ran): twins that
    differ only in drop_last (N = 50, batch 16: a batch of 2 closes each epoch as drawn). Plain SGD, four pairs:
    the largest T_eps error larger as drawn on three, p95 27% against 18%. Momentum 0.9, four pairs: the real loss
    climbed back up early on all four as drawn (peak in steps 10-60 over the low of steps 0-10 1.7-18x, against
    1.0-1.9x), the largest error larger on three, p95 58% against 50%, and the one run that failed (past its edge)
    was drawn with the short batch, its twin converging. At two other shapes (unseen63: N = 100 at batch 32, a last
    batch of 4; N = 50 at batch 8, a last batch of 2), two pairs each: larger as drawn on three of the four, p95 57%
    against 28%; the warning fired on three of the four as drawn (not on a plain SGD photo run whose real loss showed
    no kick either, 2% off) and on none of their twins."""
    if not orders or batch_size is None:
        return None
    sizes = [len(b) for b in orders[0]]
    short = [t for t, size in enumerate(sizes) if size < batch_size]
    full = [t for t, size in enumerate(sizes) if size == batch_size]
    if not short or not full:
        return None
    size = sizes[short[0]]
    head = f"each epoch ends in a batch of {size} of {batch_size} samples (drop_last=False, as DataLoader draws them)"
    fix = "drop_last=True (--drop-last) gives every step a full batch"
    if momentum > 0:
        if not short_last_batch(n, batch_size, drop_last=False):  # the orders kept it: not dropped
            return None
        return (
            f"{head}, a step {batch_size / size:.2g}x larger per sample, which momentum carries on; the linearized run "
            "shows no kick there, but on the benchmark's momentum twins that differed only in it (a batch of 2 of "
            "16) the real loss climbed back up early on all four (1.7-18x its early low, against 1.0-1.9x with "
            "drop_last), the T_eps p95 was 58% against 50%, and the one that failed was drawn with it; " + fix
        )

    def change(steps: list[int]) -> float:
        # Relative to the loss before the step: the kick is in proportion to what is left to fit.
        return statistics.median((loss[t + 1] - loss[t]) / loss[t] for t in steps if loss[t] > 0)

    def pct(v: float) -> str:
        return f"{100 * v:+.0f}%" if abs(v) >= 0.1 else f"{100 * v:+.2g}%"

    rise, fall = change(short), change(full)
    # Only when a short step undoes more than a full step gains: then the sawtooth shows in the curve.
    if not rise > abs(fall):
        return None
    return (
        f"{head}: at those steps the predicted loss changes by a median {pct(rise)} of itself (the other steps by "
        f"{pct(fall)}), a sawtooth whose troughs cross the loss levels, so a small change in the kick moves a T_eps "
        f"by a whole epoch ({-(-n // batch_size)} steps); on the benchmark's plain SGD twins that differed only in it "
        "(a batch of 2 of 16) the T_eps p95 was 27% against 18% with drop_last; " + fix
    )


def _distance_warning(final_distance: float, lin: Linearization, options: PredictConfig) -> str | None:
    """The warning for a predicted ||w_T - w0|| above ``options.distance_warning`` of ||w0||, if it is."""
    w0_norm = math.sqrt(lin.w0_sq_norm)
    if not (math.isfinite(final_distance) and final_distance > options.distance_warning * w0_norm):
        return None
    return (
        f"the predicted ||w_T - w0|| = {final_distance:.3g} is {final_distance / w0_norm:.1%} of ||w0|| = "
        f"{w0_norm:.3g} (above {options.distance_warning:.0%}): the network may leave its linearization; trust the "
        "curves less"
    )


def _auto_updates(
    options: PredictConfig,
    lin: Linearization,
    config: FinetuneConfig,
    steps_left: int,
    *,
    with_network: bool,
    inactive_share: float | None = None,
) -> tuple[int, ...]:
    """The steps ``kernel_updates="auto"`` resolves to (see PredictConfig): :func:`auto_kernel_updates` of the
    ``steps_left`` predicted (and, under momentum, of the share of zero penultimate features at init where the
    updates would be taken along the flow), or none where updates are not supported or cannot move the kernel."""
    if not _updates_supported(options, lin, config, with_network):
        return ()
    # The share's rule was measured along the flow; with the exact buffer "auto" takes the run's own path instead.
    flow = _update_path(options, config) == UpdatePath.FLOW.value
    return auto_kernel_updates(steps_left, config.momentum, options.update_path, inactive_share if flow else None)


def _updates_supported(options: PredictConfig, lin: Linearization, config: FinetuneConfig, with_network: bool) -> bool:
    """Whether kernel updates are supported and can change this prediction: the discrete engine, the model and data
    at hand (``with_network``), more than the head trained, no weight decay, no test points."""
    return not (
        options.engine != Engine.DISCRETE.value
        or not with_network
        or lin.trainable == "head"  # f is linear in the head's weights: J, and so Theta, never change
        or config.weight_decay > 0
        or lin.held_out is not None
    )


def _update_path(options: PredictConfig, config: FinetuneConfig) -> str:
    """The :class:`UpdatePath` value the prediction takes its kernel updates along (``"auto"`` resolved)."""
    return resolve_update_path(options.update_path, config.momentum, options.momentum_buffer)


def _trains_at_edge(config: FinetuneConfig, options: PredictConfig) -> bool:
    """Whether a linearized run past the stability edge is trained at the edge (:class:`AboveEdge`): MSE only,
    whose linearized run diverges there."""
    return config.loss == Loss.MSE.value and options.above_edge == AboveEdge.EDGE.value


def _predict_trajectory(
    lin: Linearization,
    config: FinetuneConfig,
    options: PredictConfig | None,
    *,
    progress: bool,
    start_step: int,
    update_kernel: KernelUpdate | None = None,
    carry_momentum: MomentumCarry | None = None,
    switch_steps: tuple[int, ...] = (),
    start_edge: tuple[float, float, float],
) -> tuple[Prediction, Trajectory]:
    """The dynamics and the figures of :func:`predict_from`, which has checked the inputs
    (:func:`_check_prediction`) and gives ``start_edge`` (:func:`_start_edge`, after the linear-network probe).
    switch_steps: the steps (counted from start_step, below T - start_step) the engine calls ``update_kernel``
    at: the kernel updates and, with a path stride, the weight moves."""
    options = options or PredictConfig()
    engine = Engine(options.engine)
    loss = Loss(config.loss)
    warnings: list[str] = []
    kernel = lin.kernel
    with PeakMemory() as pm:
        t_dyn = time.perf_counter()
        orders = None
        if config.batch_size is not None and engine is Engine.DISCRETE:
            orders = tuple(
                tuple(
                    batch_schedule(lin.n, config.batch_size, config.steps, drop_last=config.drop_last, seed=s)[
                        start_step:
                    ]
                )
                for s in range(config.seed, config.seed + options.batch_orders)
            )
        lrs = learning_rates(config)[start_step:]
        sharp, edge_ratio, edge_scale = start_edge
        run_lrs = [lr * edge_scale for lr in lrs]
        schedule = SGDSchedule(
            lr=run_lrs,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            batch_size=config.batch_size,
            batch_orders=orders,
        )
        op = lin.operator
        y_cpu = lin.y
        held_out = lin.held_out
        if held_out is not None and (update_kernel is not None or engine not in (Engine.DISCRETE, Engine.CLOSED_FORM)):
            why = "kernel updates" if update_kernel is not None else f"engine {engine.value!r}"
            warnings.append(f"no test curves: {why} does not carry the test points (use the discrete engine)")
            held_out = None
        stride = options.distance_stride or max(1, config.steps // 50)
        traj = simulate(
            op,
            kernel.f0,
            y_cpu,
            schedule,
            loss=loss,
            engine=engine,
            jw0=lin.jw0,
            w0_sq_norm=lin.w0_sq_norm,
            paths=options.sde_paths,
            noise=options.sde_noise,
            substeps=options.sde_substeps,
            seed=config.seed,
            distance_stride=stride,
            progress=progress,
            kernel_updates=switch_steps if update_kernel else (),
            update_kernel=update_kernel,
            held_out=held_out,
            carry_momentum=carry_momentum if update_kernel else None,
            initial_buffer=lin.buffer if config.momentum > 0 else None,
        )
        loss_mean, loss_lo, loss_hi = _quantiles(traj.loss)
        err_mean, err_lo, err_hi = _quantiles(traj.error)
        spec = op.spectrum_for(kernel.classes)
        r0 = -loss_grad(loss, kernel.f0, y_cpu)
        r_final = -loss_grad(loss, traj.f_final, y_cpu)
        proj0 = spec.project(r0).pow(2)
        proj_final = spec.project(r_final).pow(2).mean(0)
        diagnosis = diagnose_spectrum(op, spec, kernel.f0, y_cpu, run_lrs, config.momentum)
        times, levels = curve_times(loss_mean, err_mean, options)
        dynamics_seconds = time.perf_counter() - t_dyn

    dist = traj.distance.mean(0)
    far = _distance_warning(float(dist[-1]), lin, options)  # NaN with kernel updates: predict_from has it then
    warnings.extend([far] if far else [])
    top_lr = max(lrs)
    # What real runs this far past their edge did (counted from w0: a closed loop's observed steps already say it).
    note = (
        None
        if start_step
        else edge_outcome_note(edge_ratio, trust_regime(config.batch_size, lin.n, config.momentum, config.loss))
    )
    outcomes = f"; {note}" if note else ""
    if edge_scale < 1.0:
        warnings.append(
            f"lr = {top_lr:.3g} is {edge_ratio:.2g}x the linearized MSE loss's stability edge 2(1+m)/sharpness = "
            f"{top_lr / edge_ratio:.3g} at w0, where the linearized run diverges: the prediction trains it at the "
            f"edge (its lrs x {edge_scale:.2g}; above_edge='edge'), as a real network's sharpness falls to the edge "
            "after a first spike (catapult); it does not show that spike, and a run far past the edge may diverge "
            f"instead (above_edge='diverge' gives the linearized run as it is){outcomes}"
        )
    elif edge_ratio > 1.0:
        warnings.append(
            f"lr = {top_lr:.3g} is {edge_ratio:.2g}x the linearized loss's stability edge 2(1+m)/sharpness = "
            f"{top_lr / edge_ratio:.3g} at w0: the prediction {'diverges' if loss is Loss.MSE else 'may oscillate'}"
            ", while a real network either stabilizes itself there (edge of stability) or diverges"
            f"{outcomes}; lower the lr or read the prediction as a bound"
        )
    if config.momentum > 0 and not options.kernel_updates and loss is Loss.CE and edge_ratio <= 1.0 and not start_step:
        # (From a real w_k, start_step > 0, the closed loop's own figures apply: closed_loop_level_note.)
        # benchmarks/explore/momentum_retention.py (the buffer's pull) and the momentum runs below the edge of the
        # bench suites: 32 when this was written (docs/measurements.md, "Kernel updates under momentum"), 92 since
        # (every cached one, 2026-12-05). The flow's figures: benchmarks/explore/flow_edge_rule.py over the cached runs
        # at most half the edge and below FLOW_INACTIVE_SHARE, the held-out tests of unseen46 and unseen48
        # (flow_path_edge.py), which it failed on T_eps, and unseen65 (momentum_flow_rule.py), which the flow passed
        # on runs without a short last batch, where the default now takes it (auto_guarded_flow; docs/fidelity.md).
        short_batch = short_last_batch(lin.n, config.batch_size, config.drop_last)
        warnings.append(
            f"momentum {config.momentum:g} with the frozen kernel: on the benchmark's cross-entropy momentum runs "
            "below the stability edge the real run often started slower (as the Jacobian changes, the buffer's "
            "pull along the residual fell to 0.2-0.75 of the linearized one's by step 5, 4 runs) and nearly always "
            "ended lower (the predicted loss at T was above the real one on 86 of 92, median 7.4x): read the "
            "late curve and the loss at T as an upper bound"
            + (
                f"; at most {FLOW_EDGE_RATIO:g} of the stability edge (here {edge_ratio:.2g}x it) kernel updates "
                "along the gradient "
                "flow (--update-path flow) ended nearer the real loss at T, and the default takes them where no "
                "epoch ends in a short batch (unseen65: T_eps p95 35% -> 27%), but not here: this run's epochs end "
                "in one, as most runs of the two held-out suites where the flow's T_eps were no better (p95 50% -> 82% "
                "and 65% -> 69%); drop_last=True (--drop-last) would take them"
                if edge_ratio <= FLOW_EDGE_RATIO and short_batch
                else ""
            )
        )
    if loss_mean[-1] > loss_mean[0]:
        warnings.append("the predicted loss ends above where it starts: the linearized run does not train")
    if bool((loss_hi[1:] > loss_lo[1:]).any()):
        # Measured against real runs (benchmarks/sgd_band.py, sgd_expected.py: 24 cases, 3-4 real runs each): the
        # real loss lay inside this band at a median 8-63% of the steps, mostly because the expected curve runs
        # ahead of the real runs' mean (54 of 57 eps pairs with updates and no momentum); the real spread is
        # 1.4-2.3x the band's without momentum, 0.7x with it.
        where = f"{options.batch_orders} batch orders" if engine is Engine.DISCRETE else f"{options.sde_paths} paths"
        warnings.append(
            f"the 5-95% band is the linearized run's spread over {where}; on the benchmark's SGD runs the real loss "
            "lay outside it at most steps (the expected curve itself was off by more than the band is wide): read "
            "it as the batch-order spread around a curve that may be off, not as a range the run will stay in"
        )
    short = _short_batch_warning(orders, loss_mean, lin.n, config.batch_size, config.momentum)
    warnings.extend([short] if short else [])
    if kernel.method is KernelMethod.PSEUDO:
        warnings.append("the pseudo-NTK drops the class-to-class structure of Theta; its error is not bounded here")
    if engine in (Engine.ODE, Engine.CLOSED_FORM) and config.batch_size is not None:
        warnings.append(f"engine {engine.value!r} ignores the SGD noise of batch size {config.batch_size}")
    if engine is not Engine.DISCRETE and config.momentum > 0:
        warnings.append(f"engine {engine.value!r} models momentum {config.momentum} by the effective lr lr/(1-m)")
    step_seconds = _step_seconds(lin, config)
    if lin.step_seconds is not None and step_seconds is None:
        warnings.append("no wall-clock estimate: the step was timed with another batch size")
    return Prediction(
        config=config,
        options=options,
        model=lin.model,
        data=lin.data,
        n=lin.n,
        classes=kernel.classes,
        trainable=lin.trainable,
        num_trainable=kernel.num_params,
        head_start=lin.head_start,
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
        level_times=levels,
        eigenvalues=_floats(spec.eigenvalues),
        projections_initial=_floats(proj0),
        projections_final=_floats(proj_final),
        spectral=diagnosis.to_dict(),
        kernel={
            "method": kernel.method.value,
            "dim": kernel.dim,
            "num_params": kernel.num_params,
            "seconds": kernel.seconds,
            "peak_rss_mib": kernel.peak_rss_mib,
            "pseudo": kernel.pseudo,
            "column_groups": kernel.column_groups,
        },
        step_seconds=step_seconds,
        estimated_run_seconds=None if step_seconds is None else step_seconds * config.steps,
        seconds=lin.seconds + dynamics_seconds,
        kernel_seconds=kernel.seconds,
        dynamics_seconds=dynamics_seconds,
        peak_rss_mib=max(lin.peak_rss_mib, pm.peak_rss_mib),
        w0_norm=math.sqrt(lin.w0_sq_norm),
        status=traj.status,
        message=traj.message,
        warnings=tuple(warnings),
        sharpness=sharp,
        edge_ratio=edge_ratio,
        edge_scale=edge_scale,
        test_n=0 if held_out is None else held_out.m,
        test_loss=() if traj.test_loss is None else _floats(traj.test_loss.mean(0)),
        test_error=() if traj.test_error is None else _floats(traj.test_error.mean(0)),
    ), traj
