"""Real fine-tuning, exactly as a user runs it with torch.optim, recording the ground truth."""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import asdict

import torch
from tqdm.auto import tqdm

from .._losses import error_rate, loss_value
from ..data import ImageData, batch_schedule, check_finite_data
from ..errors import TrainlessError
from ..models import HeadStart, LoadedModel, check_finite_parameters, select_trainable, warm_head
from ._config import FinetuneConfig
from ._record import RunRecord, RunStatus


def make_optimizer(config: FinetuneConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """torch.optim.SGD or AdamW with the config's hyper-parameters."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=config.lr, betas=config.adam_betas, eps=config.adam_eps, weight_decay=config.weight_decay
        )
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
    )


def make_scheduler(config: FinetuneConfig, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """The config's schedule as torch.optim.lr_scheduler objects, stepped once per optimizer step."""
    sched = torch.optim.lr_scheduler
    main_steps = config.steps - config.warmup_steps
    main: sched.LRScheduler
    if config.schedule == "step":
        main = sched.StepLR(opt, step_size=config.step_size, gamma=config.gamma)
    elif config.schedule == "cosine":
        main = sched.CosineAnnealingLR(opt, T_max=main_steps)
    else:
        main = sched.ConstantLR(opt, factor=1.0, total_iters=0)
    if config.warmup_steps == 0:
        return main
    warm = sched.LinearLR(opt, start_factor=config.warmup_start_factor, end_factor=1.0, total_iters=config.warmup_steps)
    return sched.SequentialLR(opt, [warm, main], milestones=[config.warmup_steps])


def learning_rates(config: FinetuneConfig) -> tuple[float, ...]:
    """The lr of each of the config's steps, as the real run's scheduler sets them (step t uses entry t).

    Steps torch's own schedulers on a dummy parameter, so predictions use exactly the real run's lrs.
    """
    opt = make_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    sched = make_scheduler(config, opt)
    out = []
    for _ in range(config.steps):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        sched.step()
    return tuple(out)


def evaluate(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, chunk: int) -> tuple[float, float]:
    """(mean loss, error rate) of ``module`` on all of (x, y), in chunks of ``chunk`` samples."""
    total_loss, wrong = 0.0, 0.0
    n = x.shape[0]
    with torch.no_grad():
        for i in range(0, n, chunk):
            logits = module(x[i : i + chunk])
            yb = y[i : i + chunk]
            total_loss += float(loss_value(loss, logits, yb)) * yb.shape[0]
            wrong += error_rate(logits, yb) * yb.shape[0]
    return total_loss / n, wrong / n


def _distance(params: list[torch.nn.Parameter], w0: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return math.sqrt(sum(float((p - q).pow(2).sum()) for p, q in zip(params, w0, strict=True)))


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def check_problem(model: LoadedModel, data: ImageData, config: FinetuneConfig) -> None:
    """The checks a real run and a prediction share, before any expensive work: the config's type, an
    empty set, labels outside the head, the model's input size, batch size vs N, NaN/inf in data or weights."""
    if not isinstance(config, FinetuneConfig):
        raise TrainlessError(f"config must be a FinetuneConfig, got {type(config).__name__}")
    if data.n == 0:
        raise TrainlessError("the training set is empty (0 samples)")
    if int(data.y.max()) >= model.num_classes or int(data.y.min()) < 0:
        raise TrainlessError(
            f"labels must lie in [0, {model.num_classes - 1}] for a {model.num_classes}-way head, "
            f"got [{int(data.y.min())}, {int(data.y.max())}]"
        )
    if model.resolution is not None and tuple(data.x.shape[-2:]) != (model.resolution, model.resolution):
        raise TrainlessError(
            f"model {model.name!r} is built for {model.resolution} px inputs, got images of shape "
            f"{tuple(data.x.shape[1:])}"
        )
    config.check_against(data.n)
    check_finite_data(data.x, f"dataset {data.name!r}")
    check_finite_parameters(model.module, f"model {model.name!r}")
    check_output(model, data)


def check_output(model: LoadedModel, data: ImageData) -> None:
    """The model on one training sample (no gradient) must return a (1, C) tensor of logits for its C-way head:
    a user module that returns a tuple, a dict or another width is refused here, not deep inside a run."""
    module = model.module
    param = next(module.parameters(), None)
    x1 = data.x[:1] if param is None else data.x[:1].to(param.device)
    training = module.training
    module.eval()  # a module left in train mode must not move its BatchNorm statistics here
    try:
        with torch.no_grad():
            out = module(x1)
    except Exception as exc:
        raise TrainlessError(
            f"model {model.name!r} failed on one sample of shape {tuple(data.x.shape[1:])} from dataset "
            f"{data.name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        module.train(training)
    if not isinstance(out, torch.Tensor):
        raise TrainlessError(
            f"model {model.name!r} must return a tensor of (N, C) logits, got {type(out).__name__}: give trainless "
            "a module whose forward returns the logits alone"
        )
    if tuple(out.shape) != (1, model.num_classes):
        raise TrainlessError(
            f"model {model.name!r} must return (N, {model.num_classes}) logits for its {model.num_classes}-way head, "
            f"got shape {tuple(out.shape)} for one sample"
        )


def check_test_data(model: LoadedModel, data: ImageData, test_data: ImageData | None) -> ImageData | None:
    """Held-out data must look like the training data: an ImageData, not empty, the same sample shape and
    dtype, classes among the training set's, finite. Returns it with its labels in the training set's
    numbering (a test set holding only some of the classes is renumbered by ``from_tensors``)."""
    if test_data is None:
        return None
    if not isinstance(test_data, ImageData):
        raise TrainlessError(
            f"test_data must be an ImageData (trainless.load_test_split / from_tensors), got {type(test_data).__name__}"
        )
    if test_data.n == 0:
        raise TrainlessError("the test set is empty (0 samples)")
    if tuple(test_data.x.shape[1:]) != tuple(data.x.shape[1:]) or test_data.x.dtype != data.x.dtype:
        raise TrainlessError(
            f"test data must have the training data's sample shape and dtype {tuple(data.x.shape[1:])} "
            f"{data.x.dtype}, got {tuple(test_data.x.shape[1:])} {test_data.x.dtype}"
        )
    y = test_data.y
    if test_data.class_labels != data.class_labels:
        unknown = sorted(set(test_data.class_labels) - set(data.class_labels))
        if unknown:
            raise TrainlessError(
                f"the test set has classes {unknown} that the training set {data.class_labels} does not have"
            )
        where = {c: i for i, c in enumerate(data.class_labels)}
        y = torch.tensor([where[test_data.class_labels[int(v)]] for v in test_data.y], dtype=torch.int64)
    if int(y.max()) >= model.num_classes or int(y.min()) < 0:
        raise TrainlessError(
            f"test labels must lie in [0, {model.num_classes - 1}] for a {model.num_classes}-way head, "
            f"got [{int(y.min())}, {int(y.max())}]"
        )
    check_finite_data(test_data.x, f"test dataset {test_data.name!r}")
    return ImageData(test_data.x, y, test_data.name, data.class_labels, test_data.source_indices)


def finetune(
    model: LoadedModel,
    data: ImageData,
    config: FinetuneConfig,
    *,
    trainable: str = "all",
    head_start: HeadStart | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    stop_after: int | None = None,
    test_data: ImageData | None = None,
    observer: Callable[[int, torch.nn.Module], None] | None = None,
) -> RunRecord:
    """Fine-tune ``model`` on ``data`` with ``config`` and record the whole-train-set curves.

    BatchNorm statistics stay frozen and dropout off (the module stays in eval mode while gradients flow);
    only the parameters chosen by :func:`~trainless.models.select_trainable` (``trainable``) are updated,
    and ``trainable`` is applied here so the record says what was trained. ``head_start`` warms the head
    by linear probing first (LP-FT) when asked. Minibatches follow
    :func:`~trainless.data.batch_schedule` (the DataLoader's order for ``config.seed``). The same model
    seed, data and config give the same curve.

    stop_after: run only the first ``stop_after`` steps of the config's run (same lr schedule and batch
    order as the whole run; the closed-loop predictor observes them), 1 <= stop_after <= steps.

    test_data: held-out samples (same classes): their loss and error rate are recorded at the same steps
    as the training curves (``RunRecord.test_loss`` / ``test_error``), outside the step timing.
    observer: called as ``observer(t, module)`` at w_t before every step t and once after the last (t = T
    steps run), outside the step timing (e.g. a linearity probe computing the kernel along the run). It
    must not change the weights.

    The model is updated in place. Returns a :class:`RunRecord`; a run whose loss becomes non-finite stops
    there with status DIVERGED.
    """
    return _finetune(
        model,
        data,
        config,
        trainable=trainable,
        head_start=head_start,
        device=device,
        progress=progress,
        stop_after=stop_after,
        test_data=test_data,
        observer=observer,
    )[0]


def _finetune(
    model: LoadedModel,
    data: ImageData,
    config: FinetuneConfig,
    *,
    trainable: str = "all",
    head_start: HeadStart | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    stop_after: int | None = None,
    test_data: ImageData | None = None,
    observer: Callable[[int, torch.nn.Module], None] | None = None,
) -> tuple[RunRecord, tuple[torch.Tensor, ...] | None]:
    """:func:`finetune`, also returning torch's momentum buffers where the run stopped (one per trained parameter,
    in the module's order; None without momentum): what a closed-loop prediction continues from."""
    check_problem(model, data, config)
    test_data = check_test_data(model, data, test_data)
    if stop_after is not None and not (isinstance(stop_after, int) and 1 <= stop_after <= config.steps):
        raise TrainlessError(f"stop_after must be an integer in [1, {config.steps}] (the steps), got {stop_after!r}")
    head_start = head_start or HeadStart()
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    start_time = time.perf_counter()
    module = model.module.to(dev)
    module.eval()
    x, y = data.x.to(dev), data.y.to(dev)
    x_test = y_test = None
    if test_data is not None:
        x_test, y_test = test_data.x.to(dev), test_data.y.to(dev)
    probe = warm_head(model, x, y, config.loss, head_start)
    select_trainable(model, trainable)
    params = [p for p in module.parameters() if p.requires_grad]
    w0 = [p.detach().clone() for p in params]
    opt = make_optimizer(config, params)
    sched = make_scheduler(config, opt)
    batches = batch_schedule(data.n, config.batch_size, config.steps, drop_last=config.drop_last, seed=config.seed)
    full_batch = config.batch_size is None

    eval_steps: list[int] = []
    losses: list[float] = []
    errors: list[float] = []
    dists: list[float] = []
    test_losses: list[float] = []
    test_errors: list[float] = []
    lrs: list[float] = []
    step_seconds: list[float] = []
    eval_seconds = 0.0
    status, message = RunStatus.COMPLETED, f"{config.steps} steps completed"

    def record(t: int, loss_t: float, err_t: float, dist_t: float | None = None) -> None:
        eval_steps.append(t)
        losses.append(loss_t)
        errors.append(err_t)
        dists.append(_distance(params, w0) if dist_t is None else dist_t)

    def record_test() -> None:
        # At w_t, before step t (full batch records the training loss after the step, from its forward).
        tl, te = evaluate(module, x_test, y_test, config.loss, config.eval_batch_size)
        test_losses.append(tl)
        test_errors.append(te)

    bar = tqdm(total=stop_after or config.steps, desc="fine-tuning", unit="step", disable=not progress, leave=False)
    try:
        for t, batch in enumerate(batches):
            if stop_after is not None and t == stop_after:
                message = f"stopped after {stop_after} of {config.steps} steps, as asked"
                break
            due = t % config.eval_stride == 0
            if observer is not None:
                e0 = time.perf_counter()
                observer(t, module)
                eval_seconds += time.perf_counter() - e0
            if due and x_test is not None:
                e0 = time.perf_counter()
                record_test()
                eval_seconds += time.perf_counter() - e0
            if due and not full_batch:
                e0 = time.perf_counter()
                record(t, *evaluate(module, x, y, config.loss, config.eval_batch_size))
                eval_seconds += time.perf_counter() - e0
            xb, yb = (x, y) if full_batch else (x[batch.to(dev)], y[batch.to(dev)])
            lrs.append(float(opt.param_groups[0]["lr"]))
            # Full batch records after the step (its forward is the loss at w_t), so take ||w_t - w0|| now.
            dist_t = _distance(params, w0) if due and full_batch else None
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            logits = module(xb)
            value = loss_value(config.loss, logits, yb)
            value.backward()
            opt.step()
            sched.step()
            step_seconds.append(time.perf_counter() - t0)
            if due and full_batch:
                # Full batch in natural order: the step's own forward is the whole-train-set loss at w_t.
                e0 = time.perf_counter()
                record(t, float(value.detach()), error_rate(logits.detach(), yb), dist_t)
                eval_seconds += time.perf_counter() - e0
            if not math.isfinite(float(value.detach())):
                status = RunStatus.DIVERGED
                message = f"the loss became non-finite at step {t}: lower the learning rate (lr={config.lr})"
                break
            bar.update(1)
            if due:
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
        if status is RunStatus.COMPLETED:
            e0 = time.perf_counter()
            record(len(step_seconds), *evaluate(module, x, y, config.loss, config.eval_batch_size))
            if x_test is not None:
                record_test()
            if observer is not None:
                observer(len(step_seconds), module)
            eval_seconds += time.perf_counter() - e0
            if not math.isfinite(losses[-1]):
                status = RunStatus.DIVERGED
                message = f"the loss became non-finite by step {len(step_seconds)}: lower the learning rate"
    finally:
        bar.close()
        for p in params:
            p.grad = None

    head_info: dict = asdict(head_start)
    if probe is not None:
        head_info["probe"] = asdict(probe)
    # torch's momentum buffers where the run stopped, one per trained parameter (None without momentum or steps):
    # a closed-loop prediction continues the run from them.
    buffers = None
    if config.momentum > 0 and step_seconds:
        buffers = tuple(opt.state[p]["momentum_buffer"].detach().clone() for p in params)
    record_out = RunRecord(
        config=config,
        model=model.name,
        data=data.name,
        n=data.n,
        class_labels=data.class_labels,
        trainable=trainable,
        num_trainable=sum(p.numel() for p in params),
        head_start=head_info,
        device=str(dev),
        eval_steps=tuple(eval_steps),
        loss=tuple(losses),
        error=tuple(errors),
        weight_distance=tuple(dists),
        lr=tuple(lrs),
        batches=tuple(tuple(int(i) for i in b) for b in batches[: len(step_seconds)]),
        step_seconds=tuple(step_seconds),
        eval_seconds=eval_seconds,
        total_seconds=time.perf_counter() - start_time,
        peak_rss_mib=_peak_rss_mib(),
        status=status,
        message=message,
        test_n=0 if test_data is None else test_data.n,
        test_loss=tuple(test_losses),
        test_error=tuple(test_errors),
    )
    return record_out, buffers
