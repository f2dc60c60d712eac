"""Figures and a markdown report of a benchmark suite run (the paper's Fig. 1, 5, 6, Table 1, App. C)."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._io import write_text
from ..bench import MISSED_EPS_ERROR, csv_rows, quantile, scored_eps_errors
from ..predict import endpoint_threshold
from ._plots import save_png


def _default_rows(results: list[dict[str, Any]], basis: str = "loss") -> list[dict[str, Any]]:
    """Rows of each case's default engine (its first comparison) on ``basis`` with both times known."""
    out = []
    for r in results:
        if not r["comparisons"]:
            continue
        first = r["comparisons"][0]["engine"]
        for row in csv_rows(r):
            if row["engine"] == first and row["basis"] == basis and row["t_pred"] is not None and row["t_real"]:
                out.append(row)
    return out


def _mean_ci(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, 0.0
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    return m, 1.96 * sd / math.sqrt(len(values))


def plot_scatter(results: list[dict[str, Any]], path: Path) -> tuple[Path, dict[str, float]]:
    """Predicted vs real T_eps (loss), +/-13% and +/-20% lines, a least-squares slope through the origin
    per dataset (Fig. 1). Returns the path and the slopes."""
    rows = _default_rows(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    slopes: dict[str, float] = {}
    for ax, regime in zip(axes, ("gd", "sgd"), strict=True):
        by_data: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for row in rows:
            if row["regime"] == regime:
                by_data[row["data"]].append((row["t_real"], row["t_pred"]))
        top = 1.0
        for i, (name, pts) in enumerate(sorted(by_data.items())):
            xs, ys = zip(*pts, strict=True)
            slope = sum(x * y for x, y in pts) / sum(x * x for x in xs)
            slopes[f"{regime}:{name}"] = slope
            ax.scatter(xs, ys, s=12, color=f"C{i}", alpha=0.7, label=f"{name} (slope {slope:.2f})")
            top = max(top, *xs, *ys)
        for f, style in ((1.0, "-"), (1.13, "--"), (0.87, "--"), (1.2, ":"), (0.8, ":")):
            ax.plot([0, top], [0, f * top], color="k", ls=style, lw=0.8)
        ax.set_xlabel("real T_eps (steps)")
        ax.set_ylabel("predicted T_eps (steps)")
        ax.set_title(f"{regime.upper()}: eps in the grid; lines: exact, +/-13%, +/-20%")
        ax.grid(True, alpha=0.3)
        if by_data:
            ax.legend(fontsize=8)
    return save_png(fig, path), slopes


def plot_cost(results: list[dict[str, Any]], path: Path) -> Path:
    """Real fine-tuning time / prediction time per case (Fig. 5)."""
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    comps = [(r["case_id"], r["comparisons"][0]) for r in results if r["comparisons"]]
    ax.bar(range(len(comps)), [c["cost_ratio"] for _, c in comps], color="C0")
    ax.axhline(30, color="k", ls="--", lw=0.8, label="30x (the paper's low end)")
    ax.set_xlabel("case")
    ax.set_ylabel("real fine-tuning time / prediction time")
    ax.legend()
    return save_png(fig, path)


def plot_error_vs(results: list[dict[str, Any]], path: Path) -> Path:
    """Mean relative T_eps error (loss) with 95% intervals against lr, batch size and N (Fig. 6)."""
    rows = _default_rows(results)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for ax, key, label in zip(
        axes, ("lr", "batch_size", "n"), ("learning rate", "batch size (0: full)", "N"), strict=True
    ):
        groups: dict[float, list[float]] = defaultdict(list)
        for row in rows:
            groups[float(f"{row[key]:.3g}")].append(row["rel_error"])
        xs = sorted(groups)
        stats = [_mean_ci(groups[x]) for x in xs]
        ax.errorbar(range(len(xs)), [m for m, _ in stats], yerr=[c for _, c in stats], fmt="o", capsize=3)
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs], rotation=30)
        ax.set_xlabel(label)
        ax.set_ylabel("relative T_eps error")
        ax.grid(True, alpha=0.3)
    return save_png(fig, path)


def plot_overlays(results: list[dict[str, Any]], path: Path, count: int = 4) -> Path:
    """Predicted (every engine) and real loss curves for the first ``count`` compared cases (App. C)."""
    chosen = [r for r in results if r["comparisons"]][:count]
    fig, axes = plt.subplots(1, max(len(chosen), 1), figsize=(4.5 * max(len(chosen), 1), 4), constrained_layout=True)
    axes = axes if hasattr(axes, "__len__") else [axes]
    for ax, r in zip(axes, chosen, strict=False):
        rec = r["record"]
        ax.plot(rec["eval_steps"], rec["loss"], color="k", lw=2, label="real")
        for i, (engine, pred) in enumerate(r["predictions"].items()):
            ax.plot(range(len(pred["loss"])), pred["loss"], color=f"C{i}", label=engine)
        c = r["case"]
        ax.set_title(f"{c['data']} lr={r['lr']:.2g} B={c['batch_size'] or 'full'} m={c['momentum']}", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    return save_png(fig, path)


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if pct and v > 99:  # a diverged prediction: its relative error says only that
        return ">9999%"
    return f"{v:.0%}" if pct else f"{v:.1f}"


def table1(results: list[dict[str, Any]]) -> str:
    """Mean absolute T_eps error in steps by dataset, tag and eps in {1%, 10%, 40%} (Table 1)."""
    cells: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for row in _default_rows(results):
        if row["eps"] in (0.01, 0.1, 0.4):
            cells[(row["data"], row["tag"] or row["regime"], row["eps"])].append(row["abs_error_steps"])
    keys = sorted({(d, t) for d, t, _ in cells})
    lines = ["| data | tag | eps 1% | eps 10% | eps 40% |", "| --- | --- | --- | --- | --- |"]
    for d, t in keys:
        vals = [cells.get((d, t, e)) for e in (0.01, 0.1, 0.4)]
        lines.append(f"| {d} | {t} | " + " | ".join("-" if not v else f"{sum(v) / len(v):.1f}" for v in vals) + " |")
    return "\n".join(lines)


def ablation_table(results: list[dict[str, Any]]) -> str:
    """Median and 95th-percentile relative T_eps error (loss) per engine / curve and regime."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in results:
        for row in csv_rows(r):
            if row["basis"] == "loss" and row["rel_error"] is not None:
                groups[(row["engine"], row["regime"])].append(row["rel_error"])
    lines = ["| engine / curve | regime | median | p95 | n |", "| --- | --- | --- | --- | --- |"]
    for (engine, regime), v in sorted(groups.items()):
        lines.append(f"| {engine} | {regime} | {_fmt(quantile(v, 0.5))} | {_fmt(quantile(v, 0.95))} | {len(v)} |")
    return "\n".join(lines)


def modes_table(summary: dict[str, Any]) -> str:
    """Every engine / curve compared, with the absolute measures next to the normalized T_eps errors."""
    lines = [
        "| mode | cases | GD median | GD p95 | SGD median | SGD p95 | levels median | final loss median | "
        "SGD band coverage | loss band coverage | steps band | cost (GD) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, f in sorted(summary.get("modes", {}).items()):
        cells = [
            _fmt(f[k])
            for k in (
                "gd_rel_error_median",
                "gd_rel_error_p95",
                "sgd_rel_error_median",
                "sgd_rel_error_p95",
                "abs_steps_rel_error_median",
                "final_loss_rel_error_median",
                "sgd_band_coverage_median",
                "loss_band_coverage_median",
                "steps_band_inside",
            )
        ]
        cost = "-" if f["cost_ratio_gd_median"] is None else f"{f['cost_ratio_gd_median']:.1f}x"
        lines.append(f"| {mode} | {f['cases']} | " + " | ".join(cells) + f" | {cost} |")
    return "\n".join(lines)


def regime_table(results: list[dict[str, Any]]) -> str:
    """Per tag (the suite's regimes) and mode: median and p95 relative T_eps error on the loss, and the
    median relative error of the final loss."""
    errs: dict[tuple[str, str], list[float]] = defaultdict(list)
    finals: dict[tuple[str, str], list[float]] = defaultdict(list)
    cases: dict[tuple[str, str], int] = defaultdict(int)
    for r in results:
        for comp in r["comparisons"]:
            key = (r["case"]["tag"], comp["engine"])
            cases[key] += 1
            finals[key].append(comp["final_loss_relative_error"])
            errs[key].extend(scored_eps_errors(comp))
    lines = [
        "| regime (tag) | mode | cases | median | p95 | final loss (median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in sorted(cases):
        tag, mode = key
        lines.append(
            f"| {tag or '-'} | {mode} | {cases[key]} | {_fmt(quantile(errs[key], 0.5))} | "
            f"{_fmt(quantile(errs[key], 0.95))} | {_fmt(quantile(finals[key], 0.5))} |"
        )
    return "\n".join(lines)


def trust_text(t: dict[str, Any] | None) -> str:
    """The trust signal's hit rate and the error bands of flagged and unflagged cases (a ``trust_table``)."""
    if not t or not t["cases"]:
        return "No case compared."
    hit = "-" if t["hit_rate"] is None else f"{t['hit_rate']:.0%}"
    lines = [
        f"Of {t['cases']} cases, {t['bad_cases']} have a largest relative T_eps error above "
        f"{t['bad_case_threshold']:.0%}; the signal flags {t['flagged']} cases, hit rate {hit} "
        f"of the bad ones, {t['false_alarms']} false alarms.",
        "",
        "| cases | median | p95 |",
        "| --- | --- | --- |",
        f"| unflagged | {_fmt(t['band_unflagged']['median'])} | {_fmt(t['band_unflagged']['p95'])} |",
        f"| flagged | {_fmt(t['band_flagged']['median'])} | {_fmt(t['band_flagged']['p95'])} |",
        "",
        "| case | tag | largest error | flags |",
        "| --- | --- | --- | --- |",
    ]
    for row in sorted(t["rows"], key=lambda r: -r["max_rel_error"]):
        lines.append(
            f"| {row['case_id']} | {row['tag']} | {_fmt(row['max_rel_error'])} | {', '.join(row['flags']) or '-'} |"
        )
    return "\n".join(lines)


def endpoint_rule() -> str:
    """The endpoint flag's rule as the packaged trust bands set it (the R of each mode, or the older gap rule)."""
    rules = []
    for mode in ("frozen", "updates"):
        r = endpoint_threshold(mode)
        rules.append(
            f"{mode}: its loss above {r:.3g}x the predicted final loss (R calibrated on the benchmark)"
            if r is not None
            else f"{mode}: its outputs off the linearized ones by more than half the predicted change"
        )
    return "the real network at the predicted final weights; " + "; ".join(rules)


def write_bench_report(
    results: list[dict[str, Any]], summary: dict[str, Any], out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write the figures and ``report.md`` (summary, Table 1, the ablations, the figures) into ``out_dir``."""
    out = Path(out_dir)
    scatter, slopes = plot_scatter(results, out / "scatter.png")
    files = [scatter, plot_cost(results, out / "cost_ratio.png"), plot_error_vs(results, out / "error_vs.png")]
    files.append(plot_overlays(results, out / "overlays.png"))
    s = summary
    slope_text = ", ".join(f"{k} {v:.2f}" for k, v in slopes.items())
    gd, sgd = (
        " | ".join(
            [_fmt(s[f"{r}_rel_error_median"]), _fmt(s[f"{r}_rel_error_p95"]), _fmt(s[f"cost_ratio_{r}_median"], False)]
        )
        + "x"
        for r in ("gd", "sgd")
    )
    total = s.get("suite_cases", s["cases"])
    partial = " (a partial run: the others were not run yet)" if total > s["cases"] else ""
    text = f"""# Suite `{s["suite"]}`: predicted vs real fine-tuning

{s["cases_compared"]} of {s["cases"]} cases compared (a diverged real run has nothing to compare); the suite has
{total} cases{partial}.
Relative T_eps error on the loss, pooled over the eps grid and the cases (each case's default engine; an eps
the real run reaches and the prediction never does counts {MISSED_EPS_ERROR:.0%}):

| regime | median | 95th percentile | cost ratio (median) |
| --- | --- | --- | --- |
| GD | {gd} |
| SGD | {sgd} |

Absolute measures: steps to reach 50/20/10% of the initial loss, median relative error
{_fmt(s["abs_steps_rel_error_median"])}; final loss, median relative error {_fmt(s["final_loss_rel_error_median"])}.
Extrapolating the real curve from its first k steps matches trainless's mean T_eps error at a median
k = {_fmt(s["baseline_steps_to_match_median"], False)} steps; in {s["baseline_never_matched"]} cases no k up to T
did.

Slopes of predicted vs real T_eps (least squares through the origin): {slope_text}

## Mean absolute T_eps error in steps (Table 1)

{table1(results)}

## Engines and curves (ablation)

{ablation_table(results)}

## Modes: normalized and absolute measures

{modes_table(s)}

SGD band coverage: per SGD case, the share of steps at which the real loss lies inside the predicted 5-95% band
(the linearized model's spread over batch orders), median over cases; a calibrated band would hold the real run
about 90% of the time. Loss band coverage: the same for the benchmark's loss band (`Prediction.real_loss_low` /
`real_loss_high`, made to hold 90% of the packaged runs alike at each step); steps band: the share of (case, target)
pairs whose real steps lay inside the prediction's steps band (`Prediction.steps_band`, 90% likewise). Both are
in-sample for a suite the packaged bands were made from, and empty for cases cached before predictions carried them.

## By regime

{regime_table(results)}

## Trust signal

Flags: `edge` (lr above the linearized stability edge 2(1+m)/sharpness at w0 or at an updated kernel),
`endpoint` ({endpoint_rule()}).

Frozen kernel (each case's default engine):

{trust_text(s.get("trust"))}

With kernel updates along the predicted path (`discrete+updates`):

{trust_text(s.get("trust_updates"))}

With the auto schedule (`discrete+updates/auto`: the updates without momentum, the frozen kernel with it, as
`auto_kernel_updates` gives a user):

{trust_text(s.get("trust_updates_auto"))}

![scatter](scatter.png)
![cost](cost_ratio.png)
![error vs](error_vs.png)
![overlays](overlays.png)
"""
    write_text(out / "report.md", text)
    files.append(out / "report.md")
    return files
