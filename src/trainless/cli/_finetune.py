"""``trainless finetune``: really fine-tune a model on a data subset and record the curves."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .._constraints import PROBLEM_CONSTRAINTS, InstanceOf, OneOf, Pattern, validate
from .._io import ensure_writable_dir
from ..data import ImageData, check_dataset_name, load_dataset, load_test_split
from ..finetune import FinetuneConfig, RunRecord, finetune, load_model_and_data
from ..models import HeadStart, LoadedModel, check_model_name
from ..report import plot_run
from ._common import add_format_argument, add_progress_argument, render_json, render_rows, want_progress


@dataclass(frozen=True)
class FinetuneJob:
    """What ``trainless finetune`` runs: a model, a seeded class subset of a dataset, the hyper-parameters.

    model / data: built-in names or ``package.module:factory``; classes / per_class: the subset;
    resolution: input px (None: the model's default); data_seed: seeds the subset; ``finetune.seed`` seeds
    both the head's init and the batch order (one seed, as ``--seed``); trainable: ``all``, ``head`` or
    ``last-K``; out: the output directory.
    test_data: held-out data, ``K`` (K images per class of the same classes, drawn from the built-in
    dataset outside the training subset, seeded by data_seed) or ``package.module:factory`` (the user's
    test set; its labels in the same original numbering as the training data's); None: no test curves.
    """

    model: str = "efficientnet-lite0"
    data: str = "mnist5k"
    classes: int = 5
    per_class: int = 30
    resolution: int | None = None
    data_seed: int = 0
    trainable: str = "all"
    head_start: HeadStart = field(default_factory=HeadStart)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    device: str | None = None
    out: str = "runs/finetune"
    progress: bool = False
    test_data: str | None = None

    _constraints: ClassVar[dict] = {
        **PROBLEM_CONSTRAINTS,
        "head_start": InstanceOf(HeadStart),
        "finetune": InstanceOf(FinetuneConfig),
        "device": InstanceOf(str, optional=True),
        "out": Pattern(r".+", "a directory path"),
        "progress": OneOf((False, True)),
        "test_data": Pattern(
            r"[1-9]\d*|[A-Za-z_][\w.]*:[A-Za-z_]\w*",
            "a number of test images per class, or package.module:factory",
            optional=True,
        ),
    }

    def __post_init__(self) -> None:
        validate(self)
        check_model_name(self.model)
        check_dataset_name(self.data)


@dataclass(frozen=True)
class FinetuneReport:
    """Result of ``run_finetune``: the record and the files written."""

    job: FinetuneJob
    record: RunRecord
    resolution: int | None
    files: tuple[str, ...]
    load_seconds: float

    def to_dict(self) -> dict[str, Any]:
        job = asdict(self.job)
        return {
            "job": job,
            "resolution": self.resolution,
            "files": list(self.files),
            "load_seconds": self.load_seconds,
            "summary": summarize(self.record),
        }


def summarize(r: RunRecord) -> dict[str, Any]:
    """The figures a user reads first, from a run record."""
    return {
        "status": r.status.value,
        "message": r.message,
        "steps_run": r.steps_run,
        "n": r.n,
        "classes": list(r.class_labels),
        "num_trainable": r.num_trainable,
        "initial_loss": r.loss[0],
        "final_loss": r.final_loss,
        "initial_error": r.error[0],
        "final_error": r.final_error,
        "final_weight_distance": r.weight_distance[-1],
        "test_n": r.test_n,
        "final_test_loss": r.test_loss[-1] if r.test_loss else None,
        "final_test_error": r.test_error[-1] if r.test_error else None,
        "median_step_seconds": r.median_step_seconds,
        "train_seconds": sum(r.step_seconds),
        "eval_seconds": r.eval_seconds,
        "total_seconds": r.total_seconds,
        "peak_rss_mib": r.peak_rss_mib,
    }


def load_problem(job: FinetuneJob) -> tuple[LoadedModel, ImageData, FinetuneConfig, int | None, float]:
    """The job's model (head initialised from ``job.finetune.seed``), data subset and optimizer config, the
    resolution used and the seconds loading took. Shared by every command that runs a configuration."""
    t0 = time.perf_counter()
    model, data, resolution = load_model_and_data(
        job.model,
        job.data,
        classes=job.classes,
        per_class=job.per_class,
        resolution=job.resolution,
        data_seed=job.data_seed,
        seed=job.finetune.seed,
    )
    job.finetune.check_against(data.n)
    return model, data, job.finetune, resolution, time.perf_counter() - t0


def load_test_data(job: FinetuneJob, data: ImageData) -> ImageData | None:
    """The job's held-out data (``job.test_data``) for the training subset ``data``; None without it."""
    if job.test_data is None:
        return None
    if job.test_data.isdigit():
        return load_test_split(data, int(job.test_data), seed=job.data_seed)
    return load_dataset(job.test_data, classes=None, per_class=None)


def run_finetune(job: FinetuneJob) -> FinetuneReport:
    """Load, fine-tune, write ``run.json``, ``curves.csv`` and ``curves.png`` into ``job.out``."""
    out = ensure_writable_dir(job.out)
    model, data, config, resolution, load_seconds = load_problem(job)
    record = finetune(
        model,
        data,
        config,
        trainable=job.trainable,
        head_start=job.head_start,
        device=job.device,
        progress=job.progress,
        test_data=load_test_data(job, data),
    )
    json_path, csv_path = record.save(out)
    png_path = plot_run(record, out / "curves.png")
    return FinetuneReport(job, record, resolution, (str(json_path), str(csv_path), str(png_path)), load_seconds)


def problem_rows(
    job: FinetuneJob, resolution: int | None, num_trainable: int, classes: list[int], n: int, cfg: FinetuneConfig
) -> list[tuple[str, str]]:
    """The table rows that say which model, data and optimizer a run or prediction is about."""
    batch = "full batch" if cfg.batch_size is None else f"batch {cfg.batch_size}"
    return [
        (
            "model",
            f"{job.model} at {resolution} px, trained: {job.trainable} "
            f"({num_trainable:,} parameters), head: {job.head_start.kind}",
        ),
        ("data", f"{job.data}, classes {classes}, N={n}"),
        (
            "optimizer",
            f"{cfg.optimizer} lr={cfg.lr:g} momentum={cfg.momentum:g}"
            f"{' nesterov' if cfg.nesterov else ''} wd={cfg.weight_decay:g}, {batch}, "
            f"{cfg.loss} loss, {cfg.schedule} schedule, {cfg.steps} steps",
        ),
    ]


def test_rows(n: int, loss: tuple[float, ...], error: tuple[float, ...]) -> list[tuple[str, str]]:
    """The held-out curves' ends, when there are any."""
    if not loss:
        return []
    return [
        ("test loss", f"{loss[0]:.4g} -> {loss[-1]:.4g} on {n} held-out samples"),
        ("test error", f"{error[0]:.3f} -> {error[-1]:.3f}"),
    ]


def render_finetune(report: FinetuneReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    s = summarize(report.record)
    job, cfg = report.job, report.record.config
    rows = [
        *problem_rows(job, report.resolution, s["num_trainable"], s["classes"], s["n"], cfg),
        ("status", f"{s['status']}: {s['message']}"),
        ("loss", f"{s['initial_loss']:.4g} -> {s['final_loss']:.4g} at step {report.record.eval_steps[-1]}"),
        ("error", f"{s['initial_error']:.3f} -> {s['final_error']:.3f}"),
        ("||w_T - w_0||", f"{s['final_weight_distance']:.4g}"),
        *test_rows(report.record.test_n, report.record.test_loss, report.record.test_error),
        (
            "step time",
            f"median {s['median_step_seconds']:.3f} s; optimizer steps {s['train_seconds']:.1f} s, "
            f"evaluation {s['eval_seconds']:.1f} s, run {s['total_seconds']:.1f} s",
        ),
        ("peak memory", f"{s['peak_rss_mib']:.0f} MiB (process RSS)"),
        ("wrote", ", ".join(report.files)),
    ]
    return render_rows(rows)


def add_problem_arguments(p: argparse.ArgumentParser) -> None:
    """Flags naming the model, the data subset and the seeds (shared by the commands that need them)."""
    g = p.add_argument_group("model and data")
    g.add_argument(
        "--model",
        default="efficientnet-lite0",
        help="built-in model (see `trainless models`) or package.module:factory "
        "(default: efficientnet-lite0, ImageNet weights)",
    )
    g.add_argument(
        "--data",
        default="mnist5k",
        help="built-in dataset (see `trainless datasets`) or package.module:factory (default: mnist5k)",
    )
    g.add_argument("--classes", type=int, default=5, help="number of classes drawn (default 5)")
    g.add_argument("--per-class", type=int, default=30, help="images per class (default 30)")
    g.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="input size in px (default: the model's; 64 for efficientnet-lite0)",
    )
    g.add_argument("--data-seed", type=int, default=0, help="seed of the class subset (default 0)")
    g.add_argument("--seed", type=int, default=0, help="seed of the head init and batch order (default 0)")
    g.add_argument("--trainable", default="all", help="all | head | last-K (default all)")
    g.add_argument(
        "--test-data",
        default=None,
        metavar="K|FACTORY",
        help="held-out data for test curves: K images per class of the same classes outside the training "
        "subset (built-in datasets), or package.module:factory (default: none)",
    )
    g.add_argument(
        "--head-start",
        choices=("fresh", "linear-probe"),
        default="fresh",
        help="fresh head (default) or warmed by linear probing (LP-FT)",
    )
    g.add_argument("--probe-steps", type=int, default=100, help="most linear-probe GD steps (default 100)")
    g.add_argument("--probe-lr", type=float, default=None, help="linear-probe lr (default: 1/smoothness)")
    g.add_argument(
        "--probe-target-loss",
        type=float,
        default=None,
        help="stop the probe at this training loss (default: run all probe steps)",
    )


def add_optimizer_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimizer")
    d = FinetuneConfig()
    g.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr:g})")
    g.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    g.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: full batch, GD)")
    g.add_argument("--drop-last", action="store_true", help="drop each epoch's short last batch")
    g.add_argument("--optimizer", choices=("sgd", "adamw"), default=d.optimizer)
    g.add_argument("--momentum", type=float, default=d.momentum, help="heavy-ball momentum in [0, 1)")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum (as torch.optim.SGD)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--loss", choices=("ce", "mse"), default=d.loss)
    g.add_argument("--schedule", choices=("constant", "step", "cosine"), default=d.schedule)
    g.add_argument("--step-size", type=int, default=d.step_size, help="StepLR step size (steps)")
    g.add_argument("--gamma", type=float, default=d.gamma, help="StepLR factor")
    g.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="linear warmup steps")
    g.add_argument(
        "--eval-stride",
        type=int,
        default=d.eval_stride,
        help="record the whole-train-set loss every this many steps (default 1: every step)",
    )


def job_from_args(a: argparse.Namespace) -> FinetuneJob:
    config = FinetuneConfig(
        lr=a.lr,
        steps=a.steps,
        batch_size=a.batch_size,
        drop_last=a.drop_last,
        optimizer=a.optimizer,
        momentum=a.momentum,
        nesterov=a.nesterov,
        weight_decay=a.weight_decay,
        loss=a.loss,
        schedule=a.schedule,
        step_size=a.step_size,
        gamma=a.gamma,
        warmup_steps=a.warmup_steps,
        eval_stride=a.eval_stride,
        seed=a.seed,
    )
    head = HeadStart(
        kind=a.head_start, probe_steps=a.probe_steps, probe_lr=a.probe_lr, probe_target_loss=a.probe_target_loss
    )
    return FinetuneJob(
        model=a.model,
        data=a.data,
        classes=a.classes,
        per_class=a.per_class,
        resolution=a.resolution,
        data_seed=a.data_seed,
        trainable=a.trainable,
        head_start=head,
        finetune=config,
        device=a.device,
        out=a.out,
        progress=want_progress(a.progress),
        test_data=a.test_data,
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "finetune",
        help="really fine-tune a model and record its curves",
        description="Fine-tune a pretrained model on a class subset exactly as torch.optim does, with "
        "BatchNorm statistics frozen, recording the whole-train-set loss and error per step. "
        "Writes run.json, curves.csv and curves.png into --out.",
    )
    add_problem_arguments(p)
    add_optimizer_arguments(p)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--out", default="runs/finetune", help="output directory (default runs/finetune)")
    add_format_argument(p)
    add_progress_argument(p)
    p.set_defaults(handler=lambda a: render_finetune(run_finetune(job_from_args(a)), a.format))
    return p
