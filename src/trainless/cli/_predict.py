"""``trainless predict``: predict a fine-tuning run's curves and times without training."""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._constraints import InstanceOf, Interval, validate
from .._io import ensure_writable_dir, write_json
from ..dynamics import Engine, EpsDefinition, SDENoise, epsilon_times
from ..errors import ConfigError
from ..extrapolate import DEFAULT_ALPHA, Extrapolation, extrapolate
from ..kernel import KernelConfig, KernelMethod
from ..predict import (
    FLOW_INACTIVE_SHARE,
    HALVE_INACTIVE_SHARE,
    AboveEdge,
    EdgeCapShape,
    MomentumBuffer,
    PredictConfig,
    Prediction,
    UpdatePath,
    UpdateShape,
    far_from_linearization,
    predict,
    predict_closed_loop,
    steps_band_basis,
)
from ..report import plot_extrapolation, plot_prediction, plot_spectral
from ._common import add_format_argument, add_progress_argument, render_json, render_rows
from ._finetune import (
    FinetuneJob,
    add_optimizer_arguments,
    add_problem_arguments,
    job_from_args,
    load_problem,
    load_test_data,
    problem_rows,
    test_rows,
)


@dataclass(frozen=True)
class PredictJob:
    """What ``trainless predict`` runs: a configuration (the same fields as ``trainless finetune``; its
    ``out`` is where the prediction is written) and how to predict it.

    extrapolate_to: None, or N: predict the run on N = classes x (N / classes) samples (drawn as the
    problem's subset is, with per_class N / classes) from the kernel of a seeded subset of classes x per_class
    of them (App. D; :func:`~trainless.extrapolate.extrapolate`); the prediction printed and written is then
    the subset's, with full-batch steps. extrapolate_alpha, extrapolate_k0: the slope correction and the
    projections' tail rank (None: M0 / 10).
    observe: None, or K: the closed loop (:func:`~trainless.predict.predict_closed_loop`): really run the first
    K steps (1 <= K < steps), linearize there (with torch's momentum buffer under momentum) and predict the rest;
    the curves' steps 0..K are the real run's, and the observed run is written too (``observed/``)."""

    problem: FinetuneJob = field(default_factory=lambda: FinetuneJob(out="runs/predict"))
    predict: PredictConfig = field(default_factory=PredictConfig)
    extrapolate_to: int | None = None
    extrapolate_alpha: float = DEFAULT_ALPHA
    extrapolate_k0: int | None = None
    observe: int | None = None

    _constraints: ClassVar[dict] = {
        "problem": InstanceOf(FinetuneJob),
        "predict": InstanceOf(PredictConfig),
        "extrapolate_to": Interval(2, None, integer=True, optional=True),
        "extrapolate_alpha": Interval(0, 1),
        "extrapolate_k0": Interval(1, None, integer=True, optional=True),
        "observe": Interval(1, None, integer=True, optional=True),
    }

    def __post_init__(self) -> None:
        validate(self)
        if self.observe is not None:
            check_observe(self.observe, self.problem, self.extrapolate_to, "PredictJob")
        if self.extrapolate_to is not None:
            n0 = self.problem.classes * self.problem.per_class
            if self.extrapolate_to % self.problem.classes:
                raise ConfigError(
                    f"PredictJob.extrapolate_to must be a multiple of classes = {self.problem.classes} (the same "
                    f"number of samples per class), got {self.extrapolate_to}"
                )
            if self.extrapolate_to < n0:
                raise ConfigError(
                    f"PredictJob.extrapolate_to = {self.extrapolate_to} is below the subset's N0 = {n0} "
                    f"(classes x per_class): extrapolation goes to a larger dataset"
                )
            if self.problem.test_data is not None:
                raise ConfigError("PredictJob: --test-data is not supported with --extrapolate-to")


def check_observe(observe: int, problem: FinetuneJob, extrapolate_to: int | None, where: str) -> None:
    """``--observe K`` against the rest of a job: K below the run's steps, and neither a larger dataset nor test
    data (the closed loop carries neither)."""
    steps = problem.finetune.steps
    if observe >= steps:
        raise ConfigError(
            f"{where}.observe must be below the run's steps = {steps} (it observes that many real steps and predicts "
            f"the rest), got {observe}"
        )
    if extrapolate_to is not None or problem.test_data is not None:
        raise ConfigError(f"{where}: --observe is not supported with --extrapolate-to or --test-data")


@dataclass(frozen=True)
class PredictReport:
    """Result of ``run_predict``: the prediction, the files written and the load time; ``class_labels``: the
    dataset's label of each class 0..C-1 (e.g. the digits drawn)."""

    job: PredictJob
    prediction: Prediction
    resolution: int | None
    files: tuple[str, ...]
    load_seconds: float
    extrapolation: Extrapolation | None = None
    class_labels: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "job": {
                "problem": asdict(self.job.problem),
                "predict": self.job.predict.to_dict(),
                "extrapolate_to": self.job.extrapolate_to,
                "extrapolate_alpha": self.job.extrapolate_alpha,
                "extrapolate_k0": self.job.extrapolate_k0,
                "observe": self.job.observe,
            },
            "resolution": self.resolution,
            "class_labels": list(self.class_labels),
            "files": list(self.files),
            "load_seconds": self.load_seconds,
            "summary": summarize_prediction(self.prediction),
        }
        if self.extrapolation is not None:
            out["extrapolation"] = summarize_extrapolation(self.extrapolation)
        return out


def summarize_extrapolation(e: Extrapolation) -> dict[str, Any]:
    """The extrapolation's figures without its per-mode arrays (those are in extrapolation.json)."""
    s = e.spectral
    return {
        "n0": e.n0,
        "n": e.n,
        "loss": e.loss,
        "initial_loss": e.loss_curve[0],
        "final_loss": e.loss_curve[-1],
        "final_loss_subset": e.loss_subset[-1],
        "eps_times": [t.to_dict() for t in e.eps_times],
        "eps_times_subset": [t.to_dict() for t in e.eps_times_subset],
        "level_times": [t.to_dict() for t in e.level_times],
        "power_law": {"c": s.c, "s": s.s, "fit_first": s.fit_first, "fit_last": s.fit_last},
        "alpha": s.alpha,
        "exponent": s.exponent,
        "k0": s.k0,
        "tail": {"a": s.tail_a, "b": s.tail_b if math.isfinite(s.tail_b) else None},
        "residual_total": s.residual_total,
        "residual_total_subset": s.residual_total_subset,
        "seconds": e.seconds,
        "kernel_seconds": e.kernel_seconds,
        "forward_seconds": e.forward_seconds,
        "estimated_run_seconds": e.estimated_run_seconds,
        "warnings": list(e.warnings),
    }


def summarize_prediction(p: Prediction) -> dict[str, Any]:
    """The figures a user reads first."""
    return {
        "status": p.status.value,
        "message": p.message,
        "engine": p.engine,
        "kernel": p.kernel["method"],
        "n": p.n,
        "classes": p.classes,
        "num_trainable": p.num_trainable,
        "steps": p.steps,
        "initial_loss": p.loss[0],
        "final_loss": p.loss[-1],
        "final_loss_band": [p.loss_low[-1], p.loss_high[-1]],
        # where the real loss at T lay around predictions alike on the benchmark (None: no band applies)
        "final_real_loss_band": [p.real_loss_low[-1], p.real_loss_high[-1]] if p.real_loss_low else None,
        "initial_error": p.error[0],
        "final_error": p.error[-1],
        "eps_times": [e.to_dict() for e in p.eps_times],
        "level_times": [lv.to_dict() for lv in p.level_times],
        # where the real run's steps to those targets lay around predictions alike on the benchmark
        "steps_band": [b.to_dict() for b in p.steps_band],
        "final_weight_distance": p.weight_distance[-1],
        "test_n": p.test_n,
        "final_test_loss": p.test_loss[-1] if p.test_loss else None,
        "final_test_error": p.test_error[-1] if p.test_error else None,
        "w0_norm": p.w0_norm,
        "step_seconds": p.step_seconds,
        "estimated_run_seconds": p.estimated_run_seconds,
        "prediction_seconds": p.seconds,
        "kernel_seconds": p.kernel_seconds,
        "dynamics_seconds": p.dynamics_seconds,
        "peak_rss_mib": p.peak_rss_mib,
        "sharpness": p.sharpness,
        "edge_ratio": p.edge_ratio,
        "edge_scale": p.edge_scale,
        "inactive_share": p.inactive_share,
        "endpoint": p.endpoint,
        "kernel_path": list(p.kernel_path),
        "trust": p.trust,
        "warnings": list(p.warnings),
    }


def trust_rows(p: Prediction) -> list[tuple[str, str]]:
    """The trust signals: the lr against the linearized stability edge, and the endpoint check."""
    rows = [
        (
            "stability",
            f"lr at {p.edge_ratio:.2f} x the linearized edge 2(1+m)/S0 (sharpness S0 = {p.sharpness:.4g})"
            + (f"; predicted at the edge: lrs x {p.edge_scale:.3g} (--above-edge)" if p.edge_scale < 1 else ""),
        )
    ]
    if p.inactive_share is not None:
        # The gate of the auto choice this run gets: updates along the flow under momentum, else a denser schedule
        # (halved from 85%, refined from 90%).
        far = far_from_linearization(
            p.inactive_share, FLOW_INACTIVE_SHARE if p.config.momentum > 0 else HALVE_INACTIVE_SHARE
        )
        rows.append(
            (
                "head inputs at init",
                f"{p.inactive_share:.0%} of the penultimate features are exactly zero"
                + (
                    ": far from the linearization (as at 32 px on the benchmark), the kernel will grow by factors"
                    if far
                    else ""
                ),
            )
        )
    e = p.endpoint
    if e is not None:
        flips = "" if not e["units"] else f"; {e['flip_fraction']:.2%} of {e['units']} activations switch piece"
        rows.append(
            (
                "endpoint check",
                f"real net at the predicted w_T: loss {e['loss_real']:.4g} vs predicted {e['loss_linear']:.4g}, "
                f"output gap {e['output_gap']:.1%} of the predicted change{flips}",
            )
        )
    if p.trust is not None:
        rows.append(("trust", p.trust["text"]))
        if "loss_band" in p.trust:
            rows.append(("loss band", p.trust["loss_band"]["text"]))
        if "steps_band" in p.trust:
            # the ranges themselves sit beside the predicted steps in the T_eps and loss-level rows
            rows.append(
                (
                    "steps band",
                    "the real steps beside T_eps and the loss levels: " + steps_band_basis(p.trust["steps_band"]),
                )
            )
    if p.kernel_path:
        growth = ", ".join(
            f"step {row['step']}: x{row['trace_ratio']:.2f} (x{row.get('residual_rate', math.nan):.2f})"
            for row in p.kernel_path
        )
        stride = p.options.path_stride
        moves = "weights moved only there" if stride is None else f"weights also moved every {stride} steps"
        if p.path_losses:
            moves += f"; the curves are the mean of {len(p.path_losses)} paths moved at shifted steps (path_samples)"
        rows.append(
            (
                "kernel updates",
                f"tr Theta / tr Theta_0 along the predicted path (and its rate on the residual): {growth}; {moves}",
            )
        )
    return rows


def run_predict(job: PredictJob) -> PredictReport:
    """Load, predict, write ``prediction.json``, ``prediction.csv``, ``prediction.png`` and ``spectral.png``
    into the job's out; with ``extrapolate_to``, also ``extrapolation.json`` and ``extrapolation.png``."""
    out = ensure_writable_dir(job.problem.out)
    if job.extrapolate_to is not None:
        return _run_extrapolation(job, out)
    model, data, config, resolution, load_seconds = load_problem(job.problem)
    if job.observe is not None:
        pred, observed = predict_closed_loop(
            model,
            data,
            config,
            job.observe,
            job.predict,
            trainable=job.problem.trainable,
            head_start=job.problem.head_start,
            device=job.problem.device,
            progress=job.problem.progress,
        )
        files = _write_prediction(pred, data.y.tolist(), out)
        run_json, run_csv = observed.save(ensure_writable_dir(out / "observed"))
        return PredictReport(
            job, pred, resolution, (*files, str(run_json), str(run_csv)), load_seconds, class_labels=data.class_labels
        )
    pred = predict(
        model,
        data,
        config,
        job.predict,
        trainable=job.problem.trainable,
        head_start=job.problem.head_start,
        device=job.problem.device,
        progress=job.problem.progress,
        test_data=load_test_data(job.problem, data),
    )
    files = _write_prediction(pred, data.y.tolist(), out)
    return PredictReport(job, pred, resolution, files, load_seconds, class_labels=data.class_labels)


def _write_prediction(pred: Prediction, labels: list[int], out: Path) -> tuple[str, ...]:
    json_path, csv_path = pred.save(out)
    png_path = plot_prediction(pred, out / "prediction.png")
    spectral_path = plot_spectral(pred, labels, out / "spectral.png")
    return str(json_path), str(csv_path), str(png_path), str(spectral_path)


def _run_extrapolation(job: PredictJob, out: Path) -> PredictReport:
    n = int(job.extrapolate_to or 0)
    larger = dataclasses.replace(job.problem, per_class=n // job.problem.classes)
    model, data, config, resolution, load_seconds = load_problem(larger)
    ext = extrapolate(
        model,
        data,
        config,
        job.problem.classes * job.problem.per_class,
        job.predict,
        alpha=job.extrapolate_alpha,
        k0=job.extrapolate_k0,
        seed=job.problem.data_seed,
        trainable=job.problem.trainable,
        head_start=job.problem.head_start,
        device=job.problem.device,
        progress=job.problem.progress,
    )
    files = _write_prediction(ext.subset_prediction, data.y[list(ext.subset_indices)].tolist(), out)
    ext_json = out / "extrapolation.json"
    write_json(ext_json, ext.to_dict())
    ext_png = plot_extrapolation(ext, out / "extrapolation.png")
    return PredictReport(
        job,
        ext.subset_prediction,
        resolution,
        (*files, str(ext_json), str(ext_png)),
        load_seconds,
        ext,
        class_labels=data.class_labels,
    )


def extrapolation_rows(e: Extrapolation) -> list[tuple[str, str]]:
    s = e.spectral
    eps = ", ".join(
        f"{a.eps:g}: {format_steps(a.steps)} (N0: {format_steps(b.steps)})"
        for a, b in zip(e.eps_times, e.eps_times_subset, strict=True)
    )
    tail = "zero (the subset's top modes hold the residual)" if not math.isfinite(s.tail_b) else f"b = {s.tail_b:.3g}"
    return [
        ("extrapolated to", f"N = {e.n} from N0 = {e.n0} (App. D; full-batch steps)"),
        ("loss on N", f"{e.loss_curve[0]:.4g} -> {e.loss_curve[-1]:.4g} (on N0: {e.loss_subset[-1]:.4g})"),
        ("T_eps on N", eps + " steps"),
        (
            "spectrum",
            f"lambda_k / N ~ {s.c:.3g} k^-{s.s:.3f} on ranks {s.fit_first}-{s.fit_last} of N0; at N: "
            f"k^-{s.exponent:.3f} (alpha = {s.alpha:g})",
        ),
        ("projections", f"subset's up to k0 = {s.k0}, then a power-law tail {tail}"),
        (
            "est. real run on N",
            "not timed"
            if e.estimated_run_seconds is None
            else f"{e.estimated_run_seconds:.1f} s (a full-batch step on N0 timed here, scaled by N / N0)",
        ),
        (
            "extrapolation cost",
            f"{e.seconds:.1f} s (kernel on N0 {e.kernel_seconds:.1f} s, f0 on N {e.forward_seconds:.1f} s)",
        ),
        *(("warning", w) for w in e.warnings),
    ]


def spectral_rows(p: Prediction) -> list[tuple[str, str]]:
    d = p.spectral
    if d is None:
        return []
    law = "no fit" if d["power_law_s"] is None else f"lambda_k / N ~ k^-{d['power_law_s']:.3f}"
    shares = ", ".join(f"{float(k):.0%} in {v}" for k, v in d["modes_for_share"].items())
    done = [t for t in d["sample_steps"] if t is not None]
    samples = f"{len(done)} of {p.n} samples fitted to 10% of their residual by step {p.steps}"
    if done:
        samples += f" (median step {int(np.median(done))})"
    return [
        ("spectrum", f"{law}; ||dy||^2: {shares} of {d['modes']} eigen-directions"),
        ("per sample", f"{samples}; slowest: {', '.join(str(i) for i in d['slowest'][:5])}"),
    ]


def format_steps(t: int | None) -> str:
    """A step count for tables; '-' for a time that was not reached."""
    return "-" if t is None else str(t)


def eps_rows(p: Prediction) -> list[tuple[str, str]]:
    """One row per eps: the predicted steps on the loss and on the error, with any status that is not
    plainly "reached"; averaged over weight paths (``path_losses``), the range of the paths' own loss T_eps where
    they differ (how much where the weights were moved changed it)."""
    per_path = [
        epsilon_times(c, p.options.eps, basis="loss", definition=p.options.eps_definition) for c in p.path_losses
    ]
    rows = []
    for i, e in enumerate(p.options.eps):
        lt, et = p.eps_time(e, "loss"), p.eps_time(e, "error")
        note = ""
        for t in (lt, et):
            if t.status.value != "reached":
                note = f"  ({t.basis}: {t.status.message})"
                break
        steps = [times[i].steps for times in per_path]
        spread = (
            f" (paths {min(steps)}-{max(steps)})"
            if steps and None not in steps and min(steps) != max(steps)  # type: ignore[type-var]
            else ""
        )
        real = real_range(p, "eps", e)
        rows.append(
            (
                f"T_eps {e:g}",
                f"loss {format_steps(lt.steps)}{spread}{real}, error {format_steps(et.steps)} steps{note}",
            )
        )
    return rows


def real_range(p: Prediction, target: str, value: float) -> str:
    """' (real A-B)': the prediction's steps band for a target (``Prediction.steps_band``), '' without one."""
    for b in p.steps_band:
        if b.target == target and abs(b.value - value) < 1e-12:
            high = "never" if b.high is None else str(b.high)
            return f" (real {b.low}-{high})"
    return ""


def _distance_text(p: Prediction) -> str:
    """The predicted ||w_T - w0||, or, for a closed loop (which does not track it past the observed steps), the
    real run's at step k."""
    d = p.weight_distance[-1]
    if math.isfinite(d) or not p.observed_steps:
        return f"{d:.4g} (||w0|| = {p.w0_norm:.4g})"
    k = p.observed_steps
    return f"not tracked from w_{k} on (closed loop); {p.weight_distance[k]:.4g} at step {k} (||w0|| = {p.w0_norm:.4g})"


def render_predict(report: PredictReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    p = report.prediction
    s = summarize_prediction(p)
    band = "" if p.loss_low[-1] == p.loss_high[-1] else f" (5-95%: {p.loss_low[-1]:.4g}-{p.loss_high[-1]:.4g})"
    est = (
        "not timed" if p.step_seconds is None else f"{p.estimated_run_seconds:.1f} s ({p.step_seconds:.3f} s per step)"
    )
    kdim = f", D'={p.kernel['dim']}" if p.kernel["dim"] else ""
    rows = [
        *problem_rows(report.job.problem, report.resolution, p.num_trainable, list(report.class_labels), p.n, p.config),
        ("prediction", f"engine {p.engine}, kernel {p.kernel['method']}{kdim}; eps as {p.options.eps_definition}"),
        ("status", f"{s['status']}: {s['message']}"),
        *(
            [
                (
                    "observed",
                    f"steps 0-{p.observed_steps} are the real run's (closed loop), the rest predicted from "
                    f"w_{p.observed_steps}",
                )
            ]
            if p.observed_steps
            else []
        ),
        ("loss", f"{p.loss[0]:.4g} -> {p.loss[-1]:.4g} at step {p.steps}{band}"),
        ("error", f"{p.error[0]:.3f} -> {p.error[-1]:.3f}"),
        *eps_rows(p),
        (
            "loss levels",
            ", ".join(
                f"{lv.level:g} L0 at {format_steps(lv.steps)}{real_range(p, 'level', lv.level)}" for lv in p.level_times
            )
            + " (steps; - : not reached)",
        ),
        ("||w_T - w0||", _distance_text(p)),
        *test_rows(p.test_n, p.test_loss, p.test_error),
        *spectral_rows(p),
        *trust_rows(p),
        ("est. real run", est),
        (
            "prediction cost",
            f"{p.seconds:.1f} s (kernels {p.kernel_seconds:.1f} s, dynamics {p.dynamics_seconds:.2f} s, the rest "
            f"{p.seconds - p.kernel_seconds - p.dynamics_seconds:.1f} s), "
            f"peak {p.peak_rss_mib:.0f} MiB; loading {report.load_seconds:.1f} s",
        ),
        *(("warning", w) for w in p.warnings),
        *(extrapolation_rows(report.extrapolation) if report.extrapolation is not None else []),
        ("wrote", ", ".join(report.files)),
    ]
    return render_rows(rows)


def _enum_argument(
    group: argparse._ArgumentGroup, flag: str, enum: type, default: str, help: str, extra: tuple[str, ...] = ()
) -> None:
    """A flag whose values are a DocEnum's members (and ``extra`` ones, e.g. "auto")."""
    group.add_argument(flag, choices=[*extra, *(m.value for m in enum)], default=default, help=help)


def add_prediction_arguments(p: argparse.ArgumentParser) -> None:
    d, k = PredictConfig(), KernelConfig()
    g = p.add_argument_group("prediction")
    g.add_argument("--kernel", choices=[m.value for m in KernelMethod], default=k.method, help="kernel method")
    g.add_argument("--kernel-dim", type=int, default=k.dim, help=f"projection dimension D' (default {k.dim})")
    g.add_argument("--kernel-memory", type=float, default=k.max_memory_mib, help="kernel memory budget, MiB")
    g.add_argument("--engine", choices=[e.value for e in Engine], default=d.engine, help="dynamics engine")
    g.add_argument("--batch-orders", type=int, default=d.batch_orders, help="SGD batch orders averaged")
    _enum_argument(
        g,
        "--above-edge",
        AboveEdge,
        d.above_edge,
        "an MSE run whose lr is past the linearized stability edge: edge (train the linearized model at the "
        "edge, as a real network's sharpness falls there) or diverge (the linearized model as it is)",
    )
    g.add_argument("--sde-paths", type=int, default=d.sde_paths, help="SDE paths")
    g.add_argument("--sde-noise", choices=[e.value for e in SDENoise], default=d.sde_noise)
    g.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=list(d.eps),
        help="epsilon-training-time thresholds (default: 0.01 0.05 0.1 0.2 0.4)",
    )
    g.add_argument("--eps-definition", choices=[e.value for e in EpsDefinition], default=d.eps_definition)
    g.add_argument(
        "--timing-steps", type=int, default=d.timing_steps, help="real optimizer steps timed (0: no estimate)"
    )
    g.add_argument(
        "--kernel-updates",
        nargs="+",
        default=["auto"],
        metavar="STEP",
        help="steps at which Theta is computed again along the predicted path (one kernel each); 'auto' "
        "(default): steps 1, T/15, T/6, T/3, 2T/3 up to T = 150, then 1, 10, 25, 50, 100 and doubling up to 2T/3; "
        "none with a head trained alone, weight decay or the "
        "ODE/SDE engines; with momentum only along a gradient flow, where at least 85%% of the penultimate "
        "features are zero at init or where no epoch ends in a short batch and the flow stays at most half the "
        "stability edge; "
        "'none': the kernel frozen at w0 (the paper's method; about 5x cheaper on the quick "
        "start, its late curve slower)",
    )
    g.add_argument(
        "--update-kernel",
        choices=[m.value for m in KernelMethod],
        default=None,
        help="kernel method of the kernel updates (default: --kernel's); e.g. countsketch for cheaper updates",
    )
    g.add_argument("--update-kernel-dim", type=int, default=k.dim, help="projection dimension of the updates")
    _enum_argument(
        g,
        "--update-shape",
        UpdateShape,
        d.update_shape,
        "what an updated kernel contributes: full (itself) or scaled (Theta_0 scaled to its trace)",
    )
    _enum_argument(
        g,
        "--update-path",
        UpdatePath,
        d.update_path,
        "where the kernel updates are taken: own (the linearized run's own path), flow (a full-batch "
        "gradient flow beside it; with it --kernel-updates auto schedules updates under momentum too) or auto "
        "(the default: flow with momentum, own without)",
        extra=("auto",),
    )
    g.add_argument(
        "--edge-cap",
        choices=["auto", "off", *(m.value for m in EdgeCapShape)],
        default="auto",
        help="an updated kernel that puts the lr past the linearized stability edge: off (as computed), scale "
        "(all of it lowered to the edge), clip (its eigenvalues above the edge's level clipped) or auto (scale on "
        "runs longer than 150 steps, off up to them)",
    )
    g.add_argument(
        "--refine-updates",
        choices=["auto", "on", "off"],
        default="auto",
        help="with kernel updates, predict again with one more update inside every segment whose kernel trace "
        "more than doubled: on, off, or auto (the default: where at least 90%% of the penultimate features are "
        "zero at init, without momentum; from 85%% to below 90%%, full batch, every segment halved up front)",
    )
    g.add_argument(
        "--momentum-buffer",
        choices=[m.value for m in MomentumBuffer],
        default=d.momentum_buffer,
        help="how kernel updates carry the momentum buffer: kept (free, approximate) or exact (one VJP and one "
        "JVP per batch order and update)",
    )
    g.add_argument(
        "--path-stride",
        type=path_stride_from_arg,
        default=d.path_stride,
        metavar="S",
        help="with kernel updates, also move the path's weights every S steps through the Jacobian there (one "
        "VJP each, about one GD step; the kernel stays the last one computed); 'auto' (default): T/30 without "
        "momentum, none with it; 'none': only at the updates",
    )
    g.add_argument(
        "--path-samples",
        type=path_samples_from_arg,
        default=d.path_samples,
        metavar="K",
        help="with kernel updates and a path stride, average the curves of K weight paths whose moves start at "
        "different phases of the stride (K times the cost); 'auto' (default): two without momentum (full batch "
        "or plain SGD), one with it; 1: one path, half the cost, a less steady curve",
    )
    g.add_argument(
        "--no-endpoint-check",
        dest="endpoint_check",
        action="store_false",
        help="skip evaluating the real network at the predicted final weights (a trust signal)",
    )


def path_stride_from_arg(value: str) -> int | str | None:
    """``--path-stride``: an integer, ``auto`` or ``none`` (PredictConfig checks the integer's range)."""
    if value in ("auto", "none"):
        return None if value == "none" else value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes an integer number of steps, 'auto' or 'none', got {value!r}") from None


def path_samples_from_arg(value: str) -> int | str:
    """``--path-samples``: an integer or ``auto`` (PredictConfig checks the integer's range)."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes an integer number of paths or 'auto', got {value!r}") from None


def kernel_updates_from_args(values: list[str]) -> tuple[int, ...] | str:
    """``--kernel-updates``: integers, or the single word ``auto`` (resolved by the prediction, see
    :class:`PredictConfig`) or ``none`` (the frozen kernel)."""
    if values == ["auto"]:
        return "auto"
    if values == ["none"]:
        return ()
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ConfigError(f"--kernel-updates takes integer steps, 'auto' or 'none', got {' '.join(values)!r}") from None


def predict_config_from_args(a: argparse.Namespace) -> PredictConfig:
    return PredictConfig(
        kernel=KernelConfig(method=a.kernel, dim=a.kernel_dim, max_memory_mib=a.kernel_memory),
        engine=a.engine,
        batch_orders=a.batch_orders,
        sde_paths=a.sde_paths,
        sde_noise=a.sde_noise,
        eps=tuple(a.eps),
        eps_definition=a.eps_definition,
        timing_steps=a.timing_steps,
        endpoint_check=a.endpoint_check,
        kernel_updates=kernel_updates_from_args(a.kernel_updates),
        update_kernel=None
        if a.update_kernel is None
        else KernelConfig(method=a.update_kernel, dim=a.update_kernel_dim, max_memory_mib=a.kernel_memory),
        update_shape=a.update_shape,
        edge_cap={"auto": "auto", "off": False}.get(a.edge_cap, True),
        edge_cap_shape=a.edge_cap if a.edge_cap in {m.value for m in EdgeCapShape} else PredictConfig().edge_cap_shape,
        above_edge=a.above_edge,
        momentum_buffer=a.momentum_buffer,
        path_stride=a.path_stride,
        path_samples=a.path_samples,
        update_path=a.update_path,
        refine_updates={"auto": "auto", "on": True, "off": False}[a.refine_updates],
    )


def add_common(p: argparse.ArgumentParser, out: str) -> None:
    add_problem_arguments(p)
    add_optimizer_arguments(p)
    add_prediction_arguments(p)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--out", default=out, help=f"output directory (default {out})")
    add_format_argument(p)
    add_progress_argument(p)


def add_observe_argument(p: argparse.ArgumentParser, writes: str = "") -> None:
    """``--observe K`` (the closed loop), for ``predict`` and ``validate``."""
    g = p.add_argument_group("closed loop (train a few steps, predict the rest)")
    g.add_argument(
        "--observe",
        type=int,
        default=None,
        metavar="K",
        help="really run the first K steps, linearize there (momentum buffer included) and predict the rest" + writes,
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "predict",
        help="predict the loss and error curves and training times without training",
        description="Linearize the model at its pretrained weights, compute the empirical NTK on the training "
        "set and run the linearized training in function space (Zancato et al. 2020, Algorithm 1). Takes the "
        "same flags as `trainless finetune`. Writes prediction.json, prediction.csv and prediction.png.",
    )
    add_common(p, "runs/predict")
    g = p.add_argument_group("larger dataset (App. D)")
    g.add_argument(
        "--extrapolate-to",
        type=int,
        default=None,
        metavar="N",
        help="predict training on N samples (N / classes per class) from the kernel of classes x per_class of "
        "them; writes extrapolation.json and extrapolation.png",
    )
    g.add_argument(
        "--extrapolate-alpha", type=float, default=DEFAULT_ALPHA, help="slope correction (the paper: 0.1-0.2)"
    )
    g.add_argument("--extrapolate-k0", type=int, default=None, help="projections' tail rank (default M0 / 10)")
    add_observe_argument(p, "; writes the observed run to observed/")
    p.set_defaults(handler=lambda a: render_predict(run_predict(predict_job_from_args(a)), a.format))
    return p


def predict_job_from_args(a: argparse.Namespace) -> PredictJob:
    return PredictJob(
        job_from_args(a),
        predict_config_from_args(a),
        extrapolate_to=a.extrapolate_to,
        extrapolate_alpha=a.extrapolate_alpha,
        extrapolate_k0=a.extrapolate_k0,
        observe=a.observe,
    )
