"""``trainless bench``: run a suite of cases (predict + real fine-tune each), resumable, and report."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .._constraints import InstanceOf, OneOf, Pattern, TupleOf, validate
from ..bench import load_suite, run_suite
from ..errors import ConfigError
from ..report import write_bench_report
from ._common import add_format_argument, add_progress_argument, render_json, render_rows, want_progress


@dataclass(frozen=True)
class BenchJob:
    """What ``trainless bench`` runs: a suite file, the output directory (cases are cached under
    ``out/cases`` and skipped when present), the device and whether to show progress. repredict: make the
    cached cases' predictions again against their cached real runs (after a change to the predictor).
    cached_only: run nothing, report the cases cached so far. only: with repredict, the predictions to make
    again (keys of a result's ``predictions``, e.g. ``discrete+updates``); the others stay as cached. cases:
    case-id prefixes: run (or predict again) only these cases; the other cached ones are reported as they are."""

    suite: str = "bench/suites/quick.toml"
    out: str = "runs/bench"
    device: str | None = None
    progress: bool = False
    repredict: bool = False
    cached_only: bool = False
    only: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()

    _constraints: ClassVar[dict] = {
        "suite": Pattern(r".+", "a suite TOML file"),
        "out": Pattern(r".+", "a directory path"),
        "device": InstanceOf(str, optional=True),
        "progress": OneOf((False, True)),
        "repredict": OneOf((False, True)),
        "cached_only": OneOf((False, True)),
        "only": TupleOf(Pattern(r"\S+", "a prediction key"), may_be_empty=True),
        "cases": TupleOf(Pattern(r"[0-9a-f]+", "a case-id prefix (hex)"), may_be_empty=True),
    }

    def __post_init__(self) -> None:
        validate(self)
        if self.only and not self.repredict:
            raise ConfigError(f"BenchJob.only={self.only} selects predictions to make again: it needs repredict")


@dataclass(frozen=True)
class BenchReport:
    job: BenchJob
    summary: dict[str, Any]
    files: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"job": asdict(self.job), "summary": self.summary, "files": list(self.files)}


def run_bench(job: BenchJob) -> BenchReport:
    """Load the suite (its errors come before any work), run what is not cached, write results.csv,
    summary.json, the figures and report.md."""
    suite = load_suite(job.suite)
    results, summary = run_suite(
        suite,
        job.out,
        device=job.device,
        progress=job.progress,
        repredict=job.repredict,
        cached_only=job.cached_only,
        only=frozenset(job.only) if job.only else None,
        cases=job.cases,
    )
    files = write_bench_report(results, summary, job.out)
    out = [f"{job.out}/results.csv", f"{job.out}/summary.json", *(str(f) for f in files)]
    return BenchReport(job, summary, tuple(out))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def render_bench(report: BenchReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    s = report.summary
    ratio = {k: "-" if s[k] is None else f"{s[k]:.1f}x" for k in ("cost_ratio_gd_median", "cost_ratio_sgd_median")}
    rows = [
        (
            "suite",
            f"{s['suite']}: {s['cases_compared']} of {s['cases']} cases compared ({s['suite_cases']} in the suite)",
        ),
        ("GD T_eps error", f"median {_pct(s['gd_rel_error_median'])}, p95 {_pct(s['gd_rel_error_p95'])}"),
        ("SGD T_eps error", f"median {_pct(s['sgd_rel_error_median'])}, p95 {_pct(s['sgd_rel_error_p95'])}"),
        ("cost ratio", f"GD {ratio['cost_ratio_gd_median']}, SGD {ratio['cost_ratio_sgd_median']} (median)"),
        ("loss levels", f"median relative error {_pct(s['abs_steps_rel_error_median'])}"),
        ("final loss", f"median relative error {_pct(s['final_loss_rel_error_median'])}"),
        *(
            (
                f"trust ({name})",
                f"flags {t['flagged']} of {t['cases']} cases, {_pct(t['hit_rate'])} of the {t['bad_cases']} with "
                f"an error above {t['bad_case_threshold']:.0%}; unflagged p95 {_pct(t['band_unflagged']['p95'])}",
            )
            for name, t in (
                ("frozen", s.get("trust")),
                ("updates", s.get("trust_updates")),
                ("updates/auto", s.get("trust_updates_auto")),
            )
            if t and t["cases"]
        ),
        *(
            (f"bands ({mode})", _bands_text(f))
            for mode, f in sorted(s.get("modes", {}).items())
            if f.get("steps_band_pairs") or f.get("loss_band_coverage_median") is not None
        ),
        ("wrote", ", ".join(report.files)),
    ]
    return render_rows(rows)


def _bands_text(f: dict) -> str:
    """How the packaged loss and steps bands held a mode's real runs (``_figures``' fields)."""
    inside = round(f["steps_band_inside"] * f["steps_band_pairs"]) if f["steps_band_pairs"] else 0
    return (
        f"the real loss inside the benchmark's loss band at a median {_pct(f['loss_band_coverage_median'])} of the "
        f"steps, the real steps inside its steps band at {inside} of {f['steps_band_pairs']} targets (each band made "
        "to hold 90% of the packaged runs alike; a suite it was made from is in-sample)"
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bench",
        help="run a benchmark suite: predicted vs real fine-tuning, case by case",
        description="Run every case of a suite TOML file (see bench/suites/) as a prediction and a real "
        "fine-tuning run; finished cases are cached in OUT/cases and skipped when run again. Writes "
        "results.csv (one row per case, engine, basis and eps), summary.json, figures and report.md.",
    )
    p.add_argument("suite", help="the suite TOML file, e.g. bench/suites/quick.toml")
    p.add_argument("--out", default="runs/bench", help="output directory (default runs/bench)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--repredict",
        action="store_true",
        help="make the cached cases' predictions again and compare them with their cached real runs (no training)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="KEY",
        help="with --repredict, make only these predictions again (e.g. discrete+updates); keep the cached others",
    )
    p.add_argument(
        "--cases",
        nargs="+",
        default=[],
        metavar="ID",
        help="run (with --repredict: predict again) only the cases whose ids start with these (as in OUT/cases)",
    )
    p.add_argument(
        "--cached-only", action="store_true", help="run nothing: report the cases cached so far (a partial suite)"
    )
    add_format_argument(p)
    add_progress_argument(p)
    p.set_defaults(
        handler=lambda a: render_bench(
            run_bench(
                BenchJob(
                    a.suite,
                    a.out,
                    a.device,
                    want_progress(a.progress),
                    a.repredict,
                    a.cached_only,
                    tuple(a.only),
                    tuple(a.cases),
                )
            ),
            a.format,
        )
    )
    return p
