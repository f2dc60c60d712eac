"""Fidelity modes on the embedded default vs its real runs: the frozen kernel (the paper's), kernel updates
along the predicted path (auto: T/15, T/6, T/3, 2T/3), without weight moves between them and with the default
auto path stride (``updates-auto+stride``), with --every-25 every 25 steps, and with --sketch-dims the auto
updates computed by CountSketch (cheaper updates; the kernel at w0 stays exact).

Uses the real runs that `trainless validate` saved (same model, head init, data and seeds), so nothing is
trained here. For each mode: the relative T_eps error on the loss at eps {1, 5, 10, 20, 40}% (the paper's
normalized metric), the relative error of the steps to reach 50 / 20 / 10% of the initial loss, the final
loss, the trust signal and the prediction's cost. Prints a table and writes
benchmarks/results/fidelity_default.csv.

    python benchmarks/fidelity_default.py --real benchmarks/results/validate/lr1e-3 benchmarks/results/validate/lr1e-4
    python benchmarks/fidelity_default.py --real benchmarks/results/validate/lr1e-3 --sketch-dims 4096 16384 \
        --out benchmarks/results/fidelity_sketch.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import statistics
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from trainless import FinetuneConfig
from trainless._io import write_csv
from trainless.bench import MISSED_EPS_ERROR, UPDATED, Case, run_case
from trainless.bench._run import BAD_CASE
from trainless.dynamics import SGDSchedule, epsilon_time
from trainless.finetune import RunRecord, learning_rates, load_model_and_data
from trainless.kernel import KernelConfig
from trainless.models import HeadStart
from trainless.predict import PredictConfig, auto_kernel_updates, linearize, predict_from

EPS = (0.01, 0.05, 0.1, 0.2, 0.4)
LEVELS = (0.5, 0.2, 0.1)


T = TypeVar("T")


def case_arguments(doc: str | None, out: Path, nargs: str = "+") -> argparse.Namespace:
    """The command line of the scripts that re-score cached bench cases: case files (``cases``) and ``--out``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs=nargs, type=Path)
    ap.add_argument("--out", type=Path, default=out)
    return ap.parse_args()


def comparison_scores(comparison: dict) -> dict[str, float]:
    """From a bench comparison (``Comparison.to_dict()``): largest and median relative T_eps error on the loss,
    median level error, and the loss at T (predicted, real, relative error)."""
    eps = [r["relative_error"] for r in comparison["eps"] if r["basis"] == "loss" and r["relative_error"] is not None]
    levels = [
        abs(r["predicted"] - r["real"]) / r["real"] if r["predicted"] is not None else 1.0
        for r in comparison["levels"]
        if r["real"]
    ]
    return {
        "eps_max": max(eps) if eps else float("nan"),
        "eps_median": statistics.median(eps) if eps else float("nan"),
        "levels_median": statistics.median(levels) if levels else float("nan"),
        "final_loss_error": comparison["final_loss_relative_error"],
        "final_loss_pred": comparison["final_loss_predicted"],
        "final_loss_real": comparison["final_loss_real"],
    }


def off_by(predicted: float, real: float) -> float:
    """How many times a predicted loss is off the real one, max(p/r, r/p), signed negative where the prediction is the
    lower (NaN unless both are positive): the bench's relative error |p - r| / r stops at 100% below the real loss and
    has no bound above, so it favours a prediction that ends low; this does not."""
    if predicted <= 0 or real <= 0:
        return float("nan")
    return predicted / real if predicted >= real else -real / predicted


TIE = 0.01
"""Two largest per-case errors within this (1 point) count as a tie in :class:`Tally`."""


class Tally:
    """A candidate prediction against a baseline, case by case, as the held-out tests fixed in the suite files
    count them: better, worse or tied on the largest relative T_eps error on the loss (a tie within ``TIE``), and
    each side's (eps, loss) errors pooled over the cases for their p95 and median. ``key``: the per-case figure of
    :func:`comparison_scores` compared (``final_loss_error`` counts by the loss at T instead)."""

    def __init__(self, key: str = "eps_max") -> None:
        self.key = key
        self.better = self.worse = self.tie = 0
        self.base: list[float] = []
        self.new: list[float] = []
        self.scores: list[tuple[dict[str, float], dict[str, float]]] = []  # per case, (base, new)

    def add(self, base: dict, new: dict) -> tuple[dict[str, float], dict[str, float]]:
        """Count one case from its two bench comparisons; returns their :func:`comparison_scores`."""
        a, b = comparison_scores(base), comparison_scores(new)
        loss_eps = [[r["relative_error"] for r in comp["eps"] if r["basis"] == "loss"] for comp in (base, new)]
        self.count(a, b, *loss_eps)
        return a, b

    def count(self, a: dict[str, float], b: dict[str, float], base_eps: list[float], new_eps: list[float]) -> None:
        """Count one case from its two sides' scores (at least ``key``) and (eps, loss) errors, where the cases are
        scored from curves rather than bench comparisons (:func:`curve_scores_of`)."""
        self.scores.append((a, b))
        self.base += base_eps
        self.new += new_eps
        diff = b[self.key] - a[self.key]
        if diff < -TIE:
            self.better += 1
        elif diff > TIE:
            self.worse += 1
        else:
            self.tie += 1

    @property
    def cases(self) -> int:
        return self.better + self.worse + self.tie

    def p95(self, side: str) -> float:
        """The pooled p95 of ``side`` (``base`` or ``new``)."""
        return float(np.percentile(getattr(self, side), 95))

    def median(self, side: str) -> float:
        return float(np.median(getattr(self, side)))

    def figures(self, key: str, side: str) -> list[float]:
        """One :func:`comparison_scores` figure of ``side`` (``base`` or ``new``), per case counted."""
        return [pair[side == "new"][key] for pair in self.scores]

    def loss_factors(self, side: str) -> list[float]:
        """:func:`off_by` of ``side``'s loss at T, per case counted."""
        return [
            off_by(pair[side == "new"]["final_loss_pred"], pair[side == "new"]["final_loss_real"])
            for pair in self.scores
        ]

    def passed(self) -> bool:
        """The held-out test: better on more cases than worse, and a pooled p95 not higher."""
        return self.better > self.worse and self.p95("new") <= self.p95("base")

    def summary(self) -> str:
        """The counts, pooled p95 and median of both sides, cases above :data:`BAD_CASE` and the test's verdict, as the
        exploration scripts' summary lines end."""
        above = [sum(x > BAD_CASE for x in self.figures("eps_max", side)) for side in ("base", "new")]
        return (
            f"better on {self.better}, worse on {self.worse}, tied on {self.tie}; pooled T_eps p95 "
            f"{self.p95('base'):.1%} -> {self.p95('new'):.1%}, median {self.median('base'):.1%} -> "
            f"{self.median('new'):.1%}; cases above 25% {above[0]} -> {above[1]}; "
            f"test {'passed' if self.passed() else 'FAILED'}"
        )


def expected(result: dict, engine: str) -> dict:
    """A cached bench case's comparison of ``engine`` on its expected curve (not the paired one)."""
    return next(c for c in result["comparisons"] if c["engine"] == engine and c.get("curve", "expected") == "expected")


def eps_triples(cached: dict, comp: dict) -> str:
    """The predicted T_eps of two comparisons of one case and the real one, per eps on the loss ("a/b/real ...")."""
    return " ".join(
        f"{a['predicted']}/{b['predicted']}/{a['real']}"
        for a, b in zip(cached["eps"], comp["eps"], strict=True)
        if a["basis"] == "loss"
    )


def score_line(s: dict[str, float]) -> str:
    """One line of :func:`comparison_scores`'s figures (the exploration scripts' log format)."""
    return (
        f"T_eps max {s['eps_max']:.0%} med {s['eps_median']:.0%} levels {s['levels_median']:.0%} "
        f"loss at T {s['final_loss_error']:.0%}"
    )


def fresh_ce_cases(suites: Iterable[Path], steps: int | None = None) -> list[tuple[Path, dict]]:
    """The cached cross-entropy runs with a fresh head of the bench ``suites`` (their ``cases/*.json``), each
    file's path and loaded result, in case-id order; ``steps``: only the runs of that length T."""
    out = []
    for suite in suites:
        for p in (Path(suite) / "cases").glob("*.json"):
            d = json.loads(p.read_text(encoding="utf-8"))
            c = d["case"]
            if c["loss"] == "ce" and c.get("head_start", "fresh") == "fresh" and steps in (None, c["steps"]):
                out.append((p, d))
    return sorted(out, key=lambda pd: pd[0].stem)


def cached_updated_cases(paths: Iterable[str | Path]) -> Iterator[tuple[Path, dict, dict]]:
    """The cached bench cases (``cases/*.json`` paths) without momentum that have a kernel-updates prediction (what
    ``--kernel-updates auto`` updates): each case file's path, its loaded result and its cached kernel-updates
    comparison. Others are skipped silently."""
    for p in map(Path, paths):
        d = json.loads(p.read_text())
        if d["case"]["momentum"] or UPDATED not in d["predictions"]:
            continue
        yield p, d, next(c for c in d["comparisons"] if c["engine"] == UPDATED)


def cached_flow_cases(paths: Iterable[str | Path]) -> Iterator[tuple[Path, dict, dict]]:
    """The cached bench cases (``cases/*.json`` paths) with momentum whose kernel-updates prediction took its updates
    along the gradient flow: each case file's path, its loaded result and that prediction. Others are skipped."""
    for p in map(Path, paths):
        d = json.loads(p.read_text(encoding="utf-8"))
        pred = d["predictions"].get(UPDATED)
        if d["case"].get("momentum") and pred is not None and pred["options"].get("update_path") == "flow":
            yield p, d, pred


def repredict_updated(
    d: dict, overrides: dict | None = None, case_changes: dict | None = None
) -> tuple[Case, dict, dict | None]:
    """Make a cached bench case's kernel-updates prediction again (its real run from the cache): the case, the
    new result and its kernel-updates comparison (None when the real run has nothing to compare). overrides:
    PredictConfig fields; case_changes: Case fields (e.g. ``kernel_updates``) that leave the real run as it is."""
    case = Case.from_dict({**d["case"], **(case_changes or {})})
    result = run_case(case, record=RunRecord.from_dict(d["record"]), only=frozenset({UPDATED}), overrides=overrides)
    return case, result, next((c for c in result["comparisons"] if c["engine"] == UPDATED), None)


def curve_figures(curve: np.ndarray, real: np.ndarray) -> dict:
    """A loss curve against the real one, as the exploration scripts pool it: the relative T_eps errors (``eps``,
    :func:`eps_errors`), their largest (``max``), the median level error (``levels``) and the loss at T's relative
    error (``final``)."""
    eps, lv = eps_errors(curve, real), level_errors(curve, real)
    return {
        "eps": eps,
        "max": max(eps),
        "levels": statistics.median(lv) if lv else float("nan"),
        "final": abs(curve[-1] - real[-1]) / real[-1],
    }


def pool_figures(pooled: dict[str, dict[str, list[float]]], key: str, curve: np.ndarray, real: np.ndarray) -> dict:
    """:func:`curve_figures` of ``curve``, also added to ``pooled[key]`` (its eps errors extended, its largest,
    level and loss-at-T errors appended), as the exploration scripts pool their modes over cases."""
    s = curve_figures(curve, real)
    acc = pooled.setdefault(key, {"eps": [], "levels": [], "final": [], "max": []})
    acc["eps"].extend(s["eps"])
    for k in ("levels", "final", "max"):
        acc[k].append(s[k])
    return s


def curve_scores_of(figures: dict) -> dict[str, float]:
    """:func:`curve_figures` under the keys of :func:`comparison_scores` that :class:`Tally` counts by."""
    return {"eps_max": figures["max"], "final_loss_error": figures["final"]}


def stop_time(hh_mm: str | None) -> dt.datetime | None:
    """The next UTC time of day ``HH:MM`` (today's, or tomorrow's when it has passed): a script's ``--stop-at``,
    after which it starts no further case. None for None."""
    if hh_mm is None:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    hh, mm = map(int, hh_mm.split(":"))
    stop = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return stop + dt.timedelta(days=1) if stop < now else stop


def until_stop(items: Iterable[T], hh_mm: str | None) -> Iterator[T]:
    """``items`` one by one until the UTC time of day ``hh_mm`` (:func:`stop_time`) has passed, then a line saying
    so: a script's ``--stop-at``, after which it starts no further case. All of them for None."""
    stop = stop_time(hh_mm)
    for item in items:
        if stop is not None and dt.datetime.now(dt.timezone.utc) > stop:
            print(f"# stopped at {hh_mm} UTC", flush=True)
            return
        yield item


def kept_path(root: Path, case_file: Path) -> Path:
    """Where ``stride_heldout.py --save ROOT`` keeps the new prediction of a suite's case file
    (``ROOT/<suite>/<case id>.json.gz``)."""
    return root / case_file.parent.parent.name / f"{case_file.stem}.json.gz"


def load_kept(path: Path) -> dict:
    """A prediction kept by :func:`keep_result` (gzipped JSON)."""
    return json.loads(gzip.decompress(path.read_bytes()))


def keep_result(path: Path, result: dict) -> None:
    """Keep a :func:`run_case` result's new prediction at ``path`` (:func:`kept_path`): only its predictions and
    comparisons, the case file's other parts being in the suite already; written to a temporary file and moved into
    place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = {k: result[k] for k in ("case_id", "predictions", "comparisons", "baseline")}
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(keep, allow_nan=True).encode()))
    tmp.replace(path)


def climb_back(real_loss: list[float]) -> float:
    """A real run's largest loss in steps 10-60 over its smallest in the first 10 steps (above 1: the loss climbed
    back up after its first descent, as momentum runs at small batches do)."""
    return max(real_loss[10:60]) / min(real_loss[:10])


def curve_scores(curve: np.ndarray, real: np.ndarray) -> str:
    """One line of the exploration scripts: largest and median relative T_eps error, median level error, and
    the loss at T against the real one (relative error)."""
    eps, lv = eps_errors(curve, real), level_errors(curve, real)
    return (
        f"T_eps max {max(eps):.0%} med {statistics.median(eps):.0%} levels "
        f"{statistics.median(lv) if lv else float('nan'):.0%} final {curve[-1]:.4f} vs {real[-1]:.4f} "
        f"({abs(curve[-1] - real[-1]) / real[-1]:.0%})"
    )


def load_cached_case(d: dict):
    """A cached bench case's (``cases/*.json``, loaded) case, real run's config, the kernel config of its
    kernel-updates prediction, and the model and data as the case had them at w0 (same seeds)."""
    case = Case.from_dict(d["case"])
    config = FinetuneConfig.from_dict(d["record"]["config"])
    kconf = KernelConfig(**d["predictions"][UPDATED]["options"]["kernel"])
    model, data, _ = load_model_and_data(
        case.model,
        case.data,
        classes=case.classes,
        per_class=case.per_class,
        resolution=d["resolution"],
        data_seed=case.data_seed,
        seed=config.seed,
    )
    return case, config, kconf, model, data


def linearize_cached(d: dict):
    """:func:`load_cached_case` and the linearization at w0 with the case's kernel-updates kernel config, head
    and trainable set (no step timed): case, config, kconf, model, data, lin."""
    case, config, kconf, model, data = load_cached_case(d)
    lin = linearize(
        model,
        data,
        config,
        PredictConfig(kernel=kconf, timing_steps=0),
        trainable=case.trainable,
        head_start=HeadStart(case.head_start),
    )
    return case, config, kconf, model, data, lin


def real_outputs(path) -> torch.Tensor:
    """The real network's outputs at a ``trainless.predict._endpoint.WeightPath``'s current weights, (N, C)
    float64 on the CPU (no gradient; tiles of 256 samples)."""
    with torch.no_grad():
        return torch.cat([path.model.module(path.x[i : i + 256]).double() for i in range(0, len(path.x), 256)]).cpu()


def schedule_of(config: FinetuneConfig, batch_orders=None) -> SGDSchedule:
    """The function-space engine's schedule for a real run's config (``batch_orders``: tuples of index
    tensors, one per order, for a minibatch run)."""
    return SGDSchedule(
        lr=learning_rates(config),
        momentum=config.momentum,
        nesterov=config.nesterov,
        batch_size=config.batch_size,
        batch_orders=batch_orders,
    )


def eps_errors(pred: np.ndarray, real: np.ndarray) -> list[float]:
    """Relative T_eps errors of a loss curve against the real one, scored as the bench pools them
    (``trainless.bench.scored_eps_errors``: an eps the real run reaches and pred never does counts
    ``MISSED_EPS_ERROR``)."""
    out = []
    for e in EPS:
        tr, tp = epsilon_time(real, e)[0], epsilon_time(pred, e)[0]
        if tr:
            out.append(MISSED_EPS_ERROR if tp is None else abs(tp - tr) / tr)
    return out


def auc(bad: list[float], good: list[float]) -> float:
    """The area under the ROC curve of a statistic separating bad cases from good ones: P(a bad case's value > a good
    case's), ties half; nan without both."""
    pairs = [(b > g) + 0.5 * (b == g) for b in bad for g in good]
    return sum(pairs) / len(pairs) if pairs else math.nan


def level_errors(pred: np.ndarray, real: np.ndarray) -> list[float]:
    out = []
    for level in LEVELS:
        hr = np.nonzero(real <= level * real[0])[0]
        hp = np.nonzero(pred <= level * pred[0])[0]
        if len(hr) and hr[0] > 0:
            out.append(1.0 if not len(hp) else abs(hp[0] - hr[0]) / hr[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", nargs="+", required=True, help="`trainless validate` output directories (run.json)")
    ap.add_argument("--out", default="benchmarks/results/fidelity_default.csv")
    ap.add_argument("--every-25", action="store_true", help="also kernel updates every 25 steps (one kernel each)")
    ap.add_argument(
        "--sketch-dims",
        type=int,
        nargs="*",
        default=[],
        help="also the auto updates with CountSketch update kernels of these dimensions (the kernel at w0 exact)",
    )
    a = ap.parse_args()
    rows = []
    for real_dir in a.real:
        run = json.loads((Path(real_dir) / "run.json").read_text())
        config = FinetuneConfig.from_dict(run["config"])
        real = np.array(run["loss"])
        classes = len(run["class_labels"])
        model, data, _ = load_model_and_data(
            run["model"],
            run["data"],
            classes=classes,
            per_class=run["n"] // classes,
            resolution=64,
            data_seed=0,
            seed=config.seed,
        )
        base = PredictConfig()
        lin = linearize(model, data, config, base)
        auto = auto_kernel_updates(config.steps)
        # The updates modes without weight moves between the kernels (path_stride=None, as first measured),
        # and the default now: the auto stride (T/30 without momentum).
        modes = {"frozen": ((), None, None), "updates-auto": (auto, None, None)}
        modes["updates-auto+stride"] = (auto, None, "auto")
        if a.every_25:
            modes["updates-every-25"] = (tuple(range(25, config.steps, 25)), None, None)
        for dim in a.sketch_dims:
            modes[f"updates-auto@countsketch{dim}"] = (auto, KernelConfig(method="countsketch", dim=dim), None)
        for mode, (updates, update_kernel, stride) in modes.items():
            opts = PredictConfig(kernel_updates=updates, update_kernel=update_kernel, path_stride=stride)
            pred = predict_from(lin, config, opts, model=model, data=data)
            loss = np.array(pred.loss)
            errs, lv = eps_errors(loss, real), level_errors(loss, real)
            row = {
                "real": real_dir,
                "lr": config.lr,
                "mode": mode,
                "kernel_updates": " ".join(map(str, updates)),
                "eps_rel_error_mean": float(np.mean(errs)),
                "eps_rel_error_max": float(np.max(errs)),
                "level_rel_error_mean": float(np.mean(lv)) if lv else None,
                "final_loss_pred": float(loss[-1]),
                "final_loss_real": float(real[-1]),
                "final_loss_rel_error": abs(float(loss[-1]) - float(real[-1])) / float(real[-1]),
                "edge_ratio": pred.edge_ratio,
                "output_gap": None if pred.endpoint is None else pred.endpoint["output_gap"],
                "flags": " ".join(pred.trust["flags"]) if pred.trust else "",
                "trace_ratio_last": pred.kernel_path[-1]["trace_ratio"] if pred.kernel_path else None,
                "prediction_seconds": pred.seconds,
                "update_kernel_seconds": sum(row["seconds"] for row in pred.kernel_path),
                "real_seconds": float(sum(run["step_seconds"])),
            }
            rows.append(row)
            print(
                f"{real_dir} {mode:17s} T_eps mean {row['eps_rel_error_mean']:.1%} max {row['eps_rel_error_max']:.1%}"
                f"  levels {row['level_rel_error_mean'] or 0:.1%}  final {row['final_loss_pred']:.3f} vs "
                f"{row['final_loss_real']:.3f}  cost {row['prediction_seconds']:.0f} s "
                f"vs real {row['real_seconds']:.0f} s"
                f"  flags [{row['flags']}]",
                flush=True,
            )
    write_csv(a.out, rows)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
