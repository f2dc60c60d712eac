"""``trainless validate``: predict a configuration, really fine-tune it, and compare the two."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .._constraints import InstanceOf, Interval, validate
from .._io import ensure_writable_dir, write_json
from ..bench import Comparison, compare
from ..finetune import RunRecord, finetune
from ..predict import PredictConfig, Prediction, predict, predict_closed_loop, preserved, steps_label
from ..report import plot_prediction
from ..theory import LinearityDiagnostics, LinearityProbe, diagnose_run
from ._common import render_json, render_rows
from ._finetune import FinetuneJob, job_from_args, load_problem, load_test_data, problem_rows
from ._predict import (
    add_common,
    add_observe_argument,
    check_observe,
    format_steps,
    predict_config_from_args,
    summarize_prediction,
)


@dataclass(frozen=True)
class ValidateJob:
    """What ``trainless validate`` runs: the configuration, how to predict it, and the smoothing of the
    real curves before timing them (a trailing moving average of ``smooth_window`` steps; 1: none).
    diagnose: every this many steps of the real run, measure how linear it stays (the kernel drift and the
    output gap to its linearization, :class:`~trainless.theory.LinearityDiagnostics`; one kernel each);
    0: off. observe: None, or K: validate the closed loop (``trainless predict --observe K``): the prediction
    observes the first K real steps, and the whole real run then starts again from the same weights."""

    problem: FinetuneJob = field(default_factory=lambda: FinetuneJob(out="runs/validate"))
    predict: PredictConfig = field(default_factory=PredictConfig)
    smooth_window: int = 1
    diagnose: int = 0
    observe: int | None = None

    _constraints: ClassVar[dict] = {
        "problem": InstanceOf(FinetuneJob),
        "predict": InstanceOf(PredictConfig),
        "smooth_window": Interval(1, None, integer=True),
        "diagnose": Interval(0, None, integer=True),
        "observe": Interval(1, None, integer=True, optional=True),
    }

    def __post_init__(self) -> None:
        validate(self)
        if self.observe is not None:
            check_observe(self.observe, self.problem, None, "ValidateJob")


@dataclass(frozen=True)
class ValidateReport:
    """Result of ``run_validate``."""

    job: ValidateJob
    prediction: Prediction
    record: RunRecord
    comparison: Comparison
    resolution: int | None
    files: tuple[str, ...]
    linearity: LinearityDiagnostics | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": {
                "problem": asdict(self.job.problem),
                "predict": self.job.predict.to_dict(),
                "smooth_window": self.job.smooth_window,
                "diagnose": self.job.diagnose,
                "observe": self.job.observe,
            },
            "linearity": None if self.linearity is None else self.linearity.to_dict(),
            "resolution": self.resolution,
            "files": list(self.files),
            "prediction": summarize_prediction(self.prediction),
            "comparison": self.comparison.to_dict(),
            "loss_band_coverage": self.comparison.loss_band_coverage,
            "steps_band_coverage": self.comparison.steps_band_coverage,
        }


def _steps_band_row(report: ValidateReport) -> str:
    check = report.comparison.steps_band

    def one(c: dict[str, Any]) -> str:
        what = steps_label(c["target"], c["value"])
        real = "never" if c["real"] is None else str(c["real"])
        high = "inf" if c["high"] is None else str(c["high"])
        return f"{what} real {real} in {c['low']}-{high}" + ("" if c["inside"] else " (outside)")

    held = sum(c["inside"] for c in check)
    return (
        f"the real steps inside the benchmark's steps band at {held} of {len(check)} targets: "
        + ", ".join(one(c) for c in check)
        + f" (each held {report.prediction.trust['steps_band']['level']:.0%} of the benchmark's runs alike)"
    )


def run_validate(job: ValidateJob) -> ValidateReport:
    """Predict, then fine-tune the same model (same head init, seed and batch order; the prediction leaves
    the weights as it found them), compare, and write prediction.*, run.json, curves.csv, validation.json
    and validation.png into the job's out."""
    out = ensure_writable_dir(job.problem.out)
    model, data, config, resolution, _ = load_problem(job.problem)
    common = {"trainable": job.problem.trainable, "head_start": job.problem.head_start, "device": job.problem.device}
    test_data = load_test_data(job.problem, data)
    if job.observe is None:
        pred = predict(model, data, config, job.predict, progress=job.problem.progress, test_data=test_data, **common)
    else:
        # The closed loop trains the model in place: the real run starts again from the weights it found. (No test
        # data here: check_observe refuses it.)
        with preserved(model.module):
            pred, _ = predict_closed_loop(
                model, data, config, job.observe, job.predict, progress=job.problem.progress, **common
            )
    probe = None
    if job.diagnose:
        probe = LinearityProbe(data.x, job.diagnose, config.steps, job.predict.kernel)
    record = finetune(model, data, config, progress=job.problem.progress, observer=probe, test_data=test_data, **common)
    comparison = compare(pred, record, smooth_window=job.smooth_window)
    linearity = None if probe is None else diagnose_run(probe, record, data.y)
    files = [*pred.save(out), *record.save(out)]
    write_json(out / "validation.json", comparison.to_dict())
    files.append(out / "validation.json")
    if linearity is not None:
        write_json(out / "linearity.json", linearity.to_dict())
        files.append(out / "linearity.json")
    files.append(plot_prediction(pred, out / "validation.png", record=record))
    return ValidateReport(job, pred, record, comparison, resolution, tuple(str(f) for f in files), linearity)


def test_comparison_rows(c: Comparison) -> list[tuple[str, str]]:
    t = c.test
    if t is None:
        return []
    return [
        (
            "final test loss",
            f"{t['final_loss_predicted']:.4g} vs {t['final_loss_real']:.4g} on {t['n']} held-out samples "
            f"(largest gap along the run {t['loss_max_abs_difference']:.3g})",
        ),
        ("final test error", f"{t['final_error_predicted']:.3f} vs {t['final_error_real']:.3f}"),
    ]


def linearity_rows(d: LinearityDiagnostics | None) -> list[tuple[str, str]]:
    if d is None:
        return []
    at = ", ".join(
        f"{t}: {k:.3g} / {'-' if math.isnan(g) else f'{g:.3g}'}"
        for t, k, g in zip(d.steps, d.kernel_drift, d.output_gap, strict=True)
    )
    return [
        (
            "linearity",
            f"kernel drift ||Theta_t - Theta_0||/||Theta_0|| up to {d.max_kernel_drift:.3g}, output gap "
            f"||f_t - f_lin_t||/||f_t - f_0|| up to {d.max_output_gap:.3g}",
        ),
        ("", f"by step (drift / gap): {at}"),
    ]


def render_validate(report: ValidateReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    p, r, c = report.prediction, report.record, report.comparison
    rows = [
        *problem_rows(report.job.problem, report.resolution, p.num_trainable, list(r.class_labels), p.n, p.config),
        ("prediction", f"engine {p.engine}, kernel {p.kernel['method']}; real curves smoothed over {c.smooth_window}"),
        *(
            [("observed", f"closed loop: steps 0-{p.observed_steps} are real, the rest predicted from them")]
            if p.observed_steps
            else []
        ),
        ("", "predicted vs real (relative error)"),
    ]
    for basis in ("loss", "error"):
        for e in c.eps:
            if e.basis != basis:
                continue
            rel = "-" if e.relative_error is None else f"{e.relative_error:.0%}"
            rows.append(
                (f"T_eps {e.eps:g} ({basis})", f"{format_steps(e.predicted)} vs {format_steps(e.real)} steps ({rel})")
            )
    for lv in c.levels:
        rows.append((f"loss <= {lv.level:g} L0", f"{format_steps(lv.predicted)} vs {format_steps(lv.real)} steps"))
    mean = {k: "-" if v is None else f"{v:.0%}" for k, v in c.mean_relative_eps_error.items()}
    rows += [
        ("mean T_eps error", f"loss {mean['loss']}, error {mean['error']}"),
        (
            "final loss",
            f"{c.final_loss_predicted:.4g} vs {c.final_loss_real:.4g} ({c.final_loss_relative_error:.0%} off)",
        ),
        ("final error", f"{c.final_error_predicted:.3f} vs {c.final_error_real:.3f}"),
        *(
            ()
            if c.band_coverage is None
            else (
                (
                    "band coverage",
                    f"the real loss inside the predicted 5-95% band at {c.band_coverage:.0%} of the steps "
                    "(a calibrated band: about 90%)",
                ),
            )
        ),
        *(
            ()
            if c.loss_band_coverage is None
            else (
                (
                    "loss band",
                    f"the real loss inside the benchmark's loss band at {c.loss_band_coverage:.0%} of the steps "
                    f"(it held {p.trust['loss_band']['level']:.0%} of the benchmark's "
                    f"{p.trust['loss_band']['cases']} runs alike at each step)",
                ),
            )
        ),
        *(() if not c.steps_band else (("steps band", _steps_band_row(report)),)),
        ("||w_T - w0||", f"{p.weight_distance[-1]:.4g} vs {r.weight_distance[-1]:.4g}"),
        *test_comparison_rows(c),
        *linearity_rows(report.linearity),
        (
            "cost",
            f"fine-tuning {c.real_seconds:.1f} s / prediction {c.prediction_seconds:.1f} s = {c.cost_ratio:.1f}x; "
            f"estimated run {p.estimated_run_seconds or float('nan'):.1f} s vs measured {sum(r.step_seconds):.1f} s",
        ),
        *(("warning", w) for w in p.warnings),
        ("wrote", ", ".join(report.files)),
    ]
    return render_rows(rows)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "validate",
        help="predict a configuration, really fine-tune it, and compare",
        description="Runs `trainless predict` and `trainless finetune` on the same configuration (same head "
        "init, seed and batch order) and prints the predicted and real epsilon-training-times side by side, "
        "the curves' gaps and the cost ratio. Writes everything both write, plus validation.json and "
        "validation.png.",
    )
    add_common(p, "runs/validate")
    p.add_argument(
        "--smooth", type=int, default=1, help="moving-average window (steps) on the real curves (default 1: none)"
    )
    p.add_argument(
        "--diagnose",
        type=int,
        default=0,
        metavar="STRIDE",
        help="every STRIDE steps of the real run, measure its kernel drift and its gap to the linearized model "
        "(Lee et al.; one kernel each; writes linearity.json) (default 0: off)",
    )
    add_observe_argument(p)
    p.set_defaults(
        handler=lambda a: render_validate(
            run_validate(ValidateJob(job_from_args(a), predict_config_from_args(a), a.smooth, a.diagnose, a.observe)),
            a.format,
        )
    )
    return p
