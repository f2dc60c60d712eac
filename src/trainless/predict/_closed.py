"""Closed-loop prediction (the paper's Sec. 6 future direction): observe k real steps, re-linearize at w_k,
predict the rest."""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from ..data import ImageData
from ..dynamics import Engine
from ..errors import TrainlessError
from ..finetune import FinetuneConfig, RunRecord
from ..finetune._loop import _finetune
from ..kernel import jacobian_vector_product
from ..models import HeadStart, LoadedModel
from ._config import AUTO, MomentumBuffer, PredictConfig, UpdatePath
from ._predict import check_dynamics, linearize, predict_from
from ._result import Prediction, curve_times
from ._trust import closed_loop_level_note, closed_loop_trust, trust_regime


def predict_closed_loop(
    model: LoadedModel,
    data: ImageData,
    config: FinetuneConfig,
    observed_steps: int,
    options: PredictConfig | None = None,
    *,
    trainable: str = "all",
    head_start: HeadStart | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[Prediction, RunRecord]:
    """Really run the first ``observed_steps`` = k steps of ``config`` (the model is updated in place, as by
    :func:`~trainless.finetune.finetune`), linearize the network at w_k, and predict steps k..T with the
    rest of the run's lr schedule and batch orders. Returns the spliced :class:`Prediction` (steps 0..k are
    the real run's curves, band included; k..T predicted; ``observed_steps`` = k; ``seconds`` includes the
    observed steps) and the record of the observed steps.

    Time in optimizer steps. ``options.kernel_updates`` are steps of the whole run, those after k used
    (``"auto"``: :func:`auto_kernel_updates` of the T - k steps left, counted from k): Theta computed again
    along the predicted path from w_k; ``kernel_path`` rows and the returned ``options`` carry the run's steps,
    and the rows' ``weight_distance`` is ||w - w_k||. The endpoint check and the trust flags are made from w_k; the
    trust band and sentence are the closed loop's, as the benchmark measured it (:func:`closed_loop_trust`).

    Under momentum the run goes on with torch's buffer B_k as the observed steps left it: its image J_k B_k (one
    Jacobian-vector product) fills the function-space buffer, so the linearized run continues torch's update rule
    exactly (``Linearization.buffer``; discrete engine). Kernel updates are then taken only along the gradient
    flow (``update_path`` ``"auto"`` or ``"flow"``), where they need no buffer carried through a new Jacobian.
    ``weight_distance`` is ||w_t - w0|| for t <= k and NaN after (the predicted part moves from w_k; its
    distance from w_k is not reported here).
    """
    options = options or PredictConfig()
    check_dynamics(config, Engine(options.engine))
    if config.momentum > 0:
        if Engine(options.engine) is not Engine.DISCRETE:
            raise TrainlessError(
                f"closed-loop prediction under momentum needs the discrete engine (it continues torch's momentum "
                f"buffer), got engine {options.engine!r}"
            )
        own = options.update_path == UpdatePath.OWN.value and options.kernel_updates not in ((), AUTO)
        if options.momentum_buffer == MomentumBuffer.EXACT.value or own:
            raise TrainlessError(
                "closed-loop prediction under momentum takes kernel updates only along the gradient flow "
                "(update_path='auto' or 'flow', momentum_buffer='kept'), got "
                f"update_path={options.update_path!r}, momentum_buffer={options.momentum_buffer!r}"
            )
    k = observed_steps
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < config.steps:
        raise TrainlessError(f"observed_steps must be an integer in [1, {config.steps - 1}], got {k!r}")
    if config.eval_stride != 1:
        raise TrainlessError(
            f"closed-loop prediction needs the observed steps evaluated at every step (eval_stride=1), "
            f"got eval_stride={config.eval_stride}"
        )
    t0 = time.perf_counter()
    observed, buffers = _finetune(
        model, data, config, trainable=trainable, head_start=head_start, device=device, progress=progress, stop_after=k
    )
    if observed.status.value != "completed":
        raise TrainlessError(f"the observed steps diverged ({observed.message}); nothing to continue from")
    observed_seconds = time.perf_counter() - t0
    lin = linearize(
        model,
        data,
        config,
        options,
        trainable=trainable,
        head_start=HeadStart(),  # the head is already where the observed steps left it
        device=device,
        progress=progress,
    )
    if buffers is not None:
        # The observed steps' optimizer ran on the same trained parameters in the module's order.
        names = model.trainable_names()
        jb = jacobian_vector_product(model.module, data.x, dict(zip(names, buffers, strict=True)))
        lin = dataclasses.replace(lin, buffer=jb, buffer_weights=buffers)
    # kernel_updates are steps of the whole run; the prediction from w_k counts its steps from k ("auto" schedules
    # its updates over the T - k steps left, the first one step after w_k).
    if options.kernel_updates != AUTO:
        options = dataclasses.replace(options, kernel_updates=tuple(t - k for t in options.kernel_updates if t > k))
    # Asked to keep the kernel frozen at w_k (no update after k), its trust quotes the frozen closed loop's
    # measurement; under momentum "auto" keeps it frozen too (below 85% zero head inputs), so the default's
    # measurement is already that one.
    frozen = options.kernel_updates == () and config.momentum == 0
    rest = predict_from(lin, config, options, model=model, data=data, progress=progress, start_step=k)
    real_loss, real_err = tuple(observed.loss[:-1]), tuple(observed.error[:-1])

    loss = real_loss + rest.loss
    error = real_err + rest.error
    loss_t = torch.tensor(loss, dtype=torch.float64)
    times, levels = curve_times(loss_t, error, options)
    nan_tail = (math.nan,) * (config.steps - k)
    regime = trust_regime(config.batch_size, lin.n, config.momentum, config.loss)
    trust = None if rest.trust is None else closed_loop_trust(rest.trust, k, config.steps, regime, frozen=frozen)
    note = closed_loop_level_note(k, config.steps, regime, frozen=frozen)
    return (
        dataclasses.replace(
            rest,
            loss=loss,
            loss_low=real_loss + rest.loss_low,
            loss_high=real_loss + rest.loss_high,
            error=error,
            error_low=real_err + rest.error_low,
            error_high=real_err + rest.error_high,
            paired_loss=real_loss + rest.paired_loss,
            paired_error=real_err + rest.paired_error,
            path_losses=tuple(real_loss + path for path in rest.path_losses),
            distance_steps=tuple(range(config.steps + 1)),
            weight_distance=tuple(observed.weight_distance) + nan_tail,
            paired_weight_distance=tuple(observed.weight_distance) + nan_tail,
            lr=tuple(observed.lr) + rest.lr,
            eps_times=times,
            level_times=levels,
            seconds=observed_seconds + rest.seconds,
            observed_steps=k,
            trust=trust,
            warnings=rest.warnings + ((note,) if note else ()),
            kernel_path=tuple(row | {"step": row["step"] + k} for row in rest.kernel_path),
            options=dataclasses.replace(rest.options, kernel_updates=tuple(t + k for t in rest.options.kernel_updates)),
        ),
        observed,
    )
