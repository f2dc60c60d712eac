"""Run a suite: each case predicted and really fine-tuned, cached, then pooled into a summary."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._io import ensure_writable_dir, write_csv, write_json
from ..errors import TrainlessError
from ..finetune import FinetuneConfig, RunRecord, finetune, load_model_and_data
from ..kernel import KernelConfig
from ..models import HeadStart
from ..predict import (
    EDGE_BINS,
    EDGE_OUTCOMES,
    FLOW_EDGE_RATIO,
    PredictConfig,
    UpdatePath,
    auto_guarded_flow,
    auto_halve_updates,
    auto_kernel_updates,
    edge_bin,
    endpoint_ratio,
    endpoint_threshold,
    halved_updates,
    largest_edge_ratio,
    linearize,
    path_phases,
    predict_from,
    resolve_path_samples,
    resolve_update_path,
    trust_flags,
    trust_regime,
)
from ._baseline import steps_to_match
from ._compare import band_coverage, compare
from ._suite import Case, Suite

CSV_COLUMNS = [
    "case_id",
    "tag",
    "model",
    "data",
    "resolution",
    "n",
    "classes",
    "loss",
    "head_start",
    "regime",
    "lr",
    "batch_size",
    "momentum",
    "engine",
    "curve",
    "basis",
    "eps",
    "t_pred",
    "t_real",
    "rel_error",
    "abs_error_steps",
    "final_loss_pred",
    "final_loss_real",
    "cost_ratio",
    "prediction_seconds",
    "real_seconds",
    "edge_ratio",
    "output_gap",
    "flip_fraction",
    "inactive_fraction",
    "kernel_change",
]

UPDATED = "discrete+updates"
"""The key of the prediction with kernel updates along the predicted path (``Case.kernel_updates``)."""

UPDATED_AUTO = "discrete+updates/auto"
"""A mode scored from the cached predictions, not made: what ``kernel_updates=auto_kernel_updates(T, m)`` gives
a user, i.e. the ``discrete+updates`` prediction without momentum and the frozen ``discrete`` one with it (the
auto schedule makes no updates under momentum unless ``update_path="flow"`` is given, and a prediction without
updates is the frozen one)."""


EDGE_LR_RTOL = 1e-6
"""How far (relative) an ``lr_edge`` case's lr, 2N lr_edge / lambda_max of a kernel computed again, may sit from its
cached real run's and still be that run's: the kernel's per-sample gradients are float32, so lambda_max moves in
its last float32 bits with the order of the summations (seen: 2.6e-8 relative with another process sharing the
cores)."""


def auto_comparison(result: dict[str, Any]) -> dict[str, Any] | None:
    """The comparison of a case result that :data:`UPDATED_AUTO` scores: its ``discrete+updates`` comparison,
    or, where ``auto_kernel_updates`` of the case's T, momentum and recorded ``inactive_share`` makes none (with
    momentum, below 85% zero penultimate features) and the guarded flow does not hold (with momentum on minibatches
    without a short last batch, the flow's largest edge ratio at most ``FLOW_EDGE_RATIO``:
    :func:`~trainless.predict.auto_guarded_flow`), its expected-curve ``discrete`` one; None when the case has
    no kernel-updates prediction (or no such comparison). A full-batch prediction in the band where the default
    halves the schedule (:func:`~trainless.predict.auto_halve_updates`) must have been made so."""
    by_engine = {c["engine"]: c for c in result["comparisons"] if c.get("curve", "expected") == "expected"}
    if UPDATED not in by_engine:
        return None
    case = result["case"]
    momentum = case.get("momentum", 0.0)
    # The predictor's own rules decide (no updates: the frozen prediction), so the two cannot drift apart. Under
    # momentum they read the share of zero penultimate features the predictions recorded (None in results cached
    # before it was: those ran at 64-160 px, below the rules' 85%, benchmarks/explore/init_inactive.py).
    made_with = [result["predictions"][key].get("inactive_share") for key in (UPDATED, "discrete")]
    share = next((v for v in made_with if v is not None), None)
    default = PredictConfig()
    scheduled = auto_kernel_updates(case["steps"], momentum, default.update_path, share)
    if not scheduled and auto_guarded_flow(
        momentum,
        case["loss"],
        default.update_path,
        default.momentum_buffer,
        share,
        result["n"],
        case["batch_size"] or None,
        case.get("drop_last", False),
    ):
        # Under momentum on minibatches without a short last batch the default keeps the flow's prediction where the
        # flow's largest edge ratio, at w0 or at a kernel it grew, is at most FLOW_EDGE_RATIO (predict_from), with
        # GD's schedule (as for GD, the suite's kernel_updates are taken to be the schedule's).
        pred = result["predictions"][UPDATED]
        edge = largest_edge_ratio(pred.get("edge_ratio"), pred.get("kernel_path") or ())
        if edge is not None and edge <= FLOW_EDGE_RATIO:
            scheduled = auto_kernel_updates(case["steps"])
    if not scheduled:
        return by_engine.get("discrete")
    if auto_halve_updates(share, momentum, case["batch_size"], result["n"]):
        # The halving rule changes the schedule itself: a prediction made before it (or with it off) is not the
        # default's.
        want = halved_updates(tuple(t for t in case["kernel_updates"] if t < case["steps"]), case["steps"])
        made_steps = tuple(result["predictions"][UPDATED]["options"]["kernel_updates"])
        if made_steps != want:
            raise TrainlessError(
                f"case {result['case_id']}: its {UPDATED} prediction has updates at {list(made_steps)}, the default "
                f"halves the schedule there ({share:.0%} zero head inputs at init) to {list(want)}; make it again: "
                f"trainless bench SUITE --out DIR --repredict --only {UPDATED}"
            )
    made = result["predictions"][UPDATED]["options"].get("update_path", UpdatePath.OWN.value)
    path = resolve_update_path(PredictConfig().update_path, momentum)
    if made != path:
        raise TrainlessError(
            f"case {result['case_id']}: its {UPDATED} prediction was taken along the {made!r} path, the default "
            f"now takes {path!r} there; make it again: trainless bench SUITE --out DIR --repredict --only {UPDATED}"
        )
    made_options = result["predictions"][UPDATED]["options"]
    made_samples = made_options.get("path_samples", 1)
    asked = resolve_path_samples(PredictConfig().path_samples, momentum, case["batch_size"] or None)
    samples = len(path_phases(made_options.get("path_stride"), asked)) + 1  # as many as the predictor makes
    if made_samples != samples:
        raise TrainlessError(
            f"case {result['case_id']}: its {UPDATED} prediction averaged {made_samples} weight paths, the default "
            f"averages {samples} there; make it again: trainless bench SUITE --out DIR --repredict --only {UPDATED}"
        )
    return by_engine[UPDATED]


def kernel_key(method: str) -> str:
    """The key of the kernel ablation's prediction on Theta computed by ``method`` (``Case.kernels``)."""
    return f"discrete@{method}"


def run_case(
    case: Case,
    *,
    device: str | None = None,
    progress: bool = False,
    record: RunRecord | None = None,
    only: frozenset[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Predict and really fine-tune one case; return its result (JSON-ready): the case, the lr used,
    lambda_max, the real record, one prediction per engine, the comparisons (and the paired one for
    minibatch SGD with the discrete engine), the extrapolation baseline and the timings.

    record: the case's real run from an earlier result (``RunRecord.from_dict(result["record"])``): only
    the predictions and comparisons are made again (after a change to the predictor); its config must be
    the one the case gives now. only: make just these predictions (keys as in the result's ``predictions``:
    an engine, ``discrete+updates``, ``discrete@<kernel>``); None: all the case asks for. overrides:
    :class:`~trainless.predict.PredictConfig` fields to set for every prediction (e.g. ``momentum_buffer``)."""
    t0 = time.perf_counter()
    model, data, resolution = load_model_and_data(
        case.model,
        case.data,
        classes=case.classes,
        per_class=case.per_class,
        resolution=case.resolution,
        data_seed=case.data_seed,
        seed=case.seed,
    )
    head = HeadStart(kind=case.head_start)
    options = PredictConfig(
        kernel=KernelConfig(method=case.kernel, dim=case.kernel_dim),
        engine=case.engines[0],
        batch_orders=case.batch_orders,
        eps=case.eps,
        timing_steps=3,
        # The engines' predictions are the paper's, Theta frozen at w0; the updated one is its own key (UPDATED).
        **({"kernel_updates": ()} | (overrides or {})),
    )
    base = FinetuneConfig(
        lr=case.lr or 1e-3,
        steps=case.steps,
        batch_size=case.batch_size or None,
        momentum=case.momentum,
        nesterov=case.nesterov,
        weight_decay=case.weight_decay,
        loss=case.loss,
        schedule=case.schedule,
        drop_last=case.drop_last,
        seed=case.seed,
    )
    lin = linearize(
        model, data, base, options, trainable=case.trainable, head_start=head, device=device, progress=progress
    )
    lam_max = float(lin.operator.spectrum().eigenvalues[0])  # cached: the engines below reuse it
    lr = case.lr if case.lr is not None else case.lr_edge * 2.0 * data.n / lam_max  # type: ignore[operator]
    config = dataclasses.replace(base, lr=lr)
    if record is not None and case.lr is None and math.isclose(record.config.lr, lr, rel_tol=EDGE_LR_RTOL):
        config = dataclasses.replace(config, lr=record.config.lr)  # lambda_max's last bits may differ
    if record is not None and record.config != config:
        raise TrainlessError(
            f"case {case.case_id}: the cached real run's config {record.config} is not the case's {config}; "
            "delete the cached case to run it again"
        )
    predictions = {}
    for engine in case.engines:
        if only is not None and engine not in only:
            continue
        predictions[engine] = predict_from(
            lin, config, dataclasses.replace(options, engine=engine), model=model, data=data
        )
    if case.kernel_updates and (only is None or UPDATED in only):
        predictions[UPDATED] = predict_from(
            lin,
            config,
            dataclasses.replace(
                options,
                engine="discrete",
                kernel_updates=case.kernel_updates,
                update_kernel=(
                    KernelConfig(method=case.update_kernel, dim=case.kernel_dim) if case.update_kernel else None
                ),
            ),
            model=model,
            data=data,
        )
    for method in case.kernels:
        if only is not None and kernel_key(method) not in only:
            continue
        # Its own linearization (kernel, timing steps), so the cost ratio counts all a user would pay.
        k_options = dataclasses.replace(
            options, engine="discrete", kernel=KernelConfig(method=method, dim=case.kernel_dim)
        )
        k_lin = linearize(model, data, base, k_options, trainable=case.trainable, head_start=head, device=device)
        predictions[kernel_key(method)] = predict_from(k_lin, config, k_options, model=model, data=data)
    if record is None:
        record = finetune(
            model, data, config, trainable=case.trainable, head_start=head, device=device, progress=progress
        )
    comparisons = []
    if record.status.value == "completed":
        for engine, pred in predictions.items():
            comparisons.append((engine, compare(pred, record, smooth_window=case.smooth)))
            if engine == "discrete" and config.batch_size is not None:
                comparisons.append(
                    ("discrete-paired", compare(pred, record, smooth_window=case.smooth, curve="paired"))
                )
    baseline: dict[str, Any] = {}
    if comparisons:
        target = comparisons[0][1].mean_relative_eps_error["loss"]
        if target is not None:
            k, errs = steps_to_match(record.loss, case.eps, target)
            baseline = {"target_rel_error": target, "steps_to_match": k, "errors_by_k": errs}
    return {
        "case": dataclasses.asdict(case),
        "case_id": case.case_id,
        "resolution": resolution,
        "n": data.n,
        "lr": lr,
        "lambda_max": lam_max,
        "edge_lr": 2.0 * data.n / lam_max,
        "record": record.to_dict(),
        "predictions": {e: p.to_dict() for e, p in predictions.items()},
        "comparisons": [{"engine": e, **c.to_dict()} for e, c in comparisons],
        "baseline": baseline,
        "seconds": time.perf_counter() - t0,
    }


def merge_predictions(cached: dict[str, Any], fresh: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """A cached case result with the predictions ``keys`` (and their comparisons, the paired one included)
    taken from ``fresh`` (a :func:`run_case` of the same case and real run made with ``only=keys``); the
    comparisons keep their cached order (the first is the default engine's), the baseline is recomputed only
    by a fresh default engine."""
    engines = {c["engine"]: c for c in fresh["comparisons"]}
    replaced = set(keys) | ({"discrete-paired"} if "discrete" in keys else set())
    comparisons = [engines.get(c["engine"], c) if c["engine"] in replaced else c for c in cached["comparisons"]]
    had = {c["engine"] for c in cached["comparisons"]}
    comparisons += [c for e, c in engines.items() if e not in had]
    first = cached["comparisons"][0]["engine"] if cached["comparisons"] else None
    return {
        **cached,
        "predictions": {**cached["predictions"], **{k: fresh["predictions"][k] for k in keys}},
        "comparisons": comparisons,
        "baseline": fresh["baseline"] if first in keys else cached["baseline"],
    }


_FIELD_PREDICTIONS = {"kernel_updates": frozenset({UPDATED}), "update_kernel": frozenset({UPDATED}), "tag": frozenset()}
"""Case fields that change one prediction alone (``tag`` none): an earlier version of a case that differs only
in them keeps its other predictions when ``only`` makes those again."""


def _earlier_version(case: Case, candidates: list[dict[str, Any]], only: frozenset[str]) -> dict[str, Any] | None:
    """The cached result of an earlier version of ``case`` (same real run) that differs from it only in fields
    whose predictions ``only`` makes again, relabelled as ``case`` (its other predictions, comparisons and
    baseline hold for it unchanged); None if there is none. The earlier version's file is left in place."""
    now = dataclasses.asdict(case)
    for prior in candidates:
        then = dataclasses.asdict(Case(**_case_fields(prior["case"])))
        changed = {k for k in now if now[k] != then[k]}
        if all(k in _FIELD_PREDICTIONS and _FIELD_PREDICTIONS[k] <= only for k in changed) and all(
            key in prior["predictions"] for k in changed for key in _FIELD_PREDICTIONS[k]
        ):
            return {**prior, "case": now, "case_id": case.case_id}
    return None


def _case_fields(d: dict[str, Any]) -> dict[str, Any]:
    """A cached result's case dict as Case keyword arguments (JSON lists back to tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _case_path(out: Path, case: Case) -> Path:
    return out / "cases" / f"{case.case_id}.json"


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (engine or curve, basis, eps) of a case result."""
    case, rows = result["case"], []
    for comp in result["comparisons"]:
        pred = result["predictions"][comp["engine"].removesuffix("-paired")]
        endpoint = pred.get("endpoint") or {}
        kpath = pred.get("kernel_path") or []
        for e in comp["eps"]:
            rows.append(
                {
                    "case_id": result["case_id"],
                    "tag": case["tag"],
                    "model": case["model"],
                    "data": case["data"],
                    "resolution": result["resolution"],
                    "n": result["n"],
                    "classes": case["classes"],
                    "loss": case["loss"],
                    "head_start": case["head_start"],
                    "regime": "gd" if case["batch_size"] == 0 else "sgd",
                    "lr": result["lr"],
                    "batch_size": case["batch_size"],
                    "momentum": case["momentum"],
                    "engine": comp["engine"],
                    "curve": comp["curve"],
                    "basis": e["basis"],
                    "eps": e["eps"],
                    "t_pred": e["predicted"],
                    "t_real": e["real"],
                    "rel_error": e["relative_error"],
                    "abs_error_steps": None
                    if e["predicted"] is None or e["real"] is None
                    else abs(e["predicted"] - e["real"]),
                    "final_loss_pred": comp["final_loss_predicted"],
                    "final_loss_real": comp["final_loss_real"],
                    "cost_ratio": comp["cost_ratio"],
                    "prediction_seconds": comp["prediction_seconds"],
                    "real_seconds": comp["real_seconds"],
                    "edge_ratio": pred.get("edge_ratio"),
                    "output_gap": endpoint.get("output_gap"),
                    "flip_fraction": endpoint.get("flip_fraction"),
                    "inactive_fraction": endpoint.get("inactive_fraction"),
                    "kernel_change": kpath[-1]["relative_change"] if kpath else None,
                }
            )
    return rows


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile with linear interpolation between order statistics (numpy's default); None if empty."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


MISSED_EPS_ERROR = 1.0
"""The relative T_eps error scored when the real run reaches eps and the prediction never does (a diverged or
stalled prediction): 100%, as a missed loss level is scored, rather than no figure, which would drop the worst
predictions from the medians and percentiles."""


def scored_eps_errors(comparison: dict[str, Any], basis: str = "loss") -> list[float]:
    """The relative T_eps errors of a comparison (``Comparison.to_dict()``) on ``basis`` that the benchmark
    pools: each eps the real run reaches, a prediction that never reaches it scored ``MISSED_EPS_ERROR``."""
    out = []
    for e in comparison["eps"]:
        if e["basis"] != basis:
            continue
        if e["relative_error"] is not None:
            out.append(e["relative_error"])
        elif e["real"] and e["predicted"] is None:
            out.append(MISSED_EPS_ERROR)
    return out


def with_band_coverage(result: dict[str, Any]) -> dict[str, Any]:
    """A case result whose comparisons all carry ``band_coverage`` (:class:`~trainless.bench.Comparison`):
    results cached before the field existed get it computed from their cached curves, the same way."""
    comps = []
    for comp in result["comparisons"]:
        if "band_coverage" not in comp:
            coverage = None
            if comp.get("curve", "expected") == "expected":
                pred = result["predictions"][comp["engine"]]
                coverage = band_coverage(pred["loss_low"], pred["loss_high"], result["record"]["loss"], comp["steps"])
            comp = {**comp, "band_coverage": coverage}
        comps.append(comp)
    return {**result, "comparisons": comps}


def _figures(comps: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Pooled figures of (regime, comparison) pairs: relative T_eps errors on the loss over the eps grid by
    regime, the error basis, cost ratios, the loss levels, the final loss, the SGD band's coverage (median
    over cases of the share of steps the real loss lies inside the predicted 5-95% band), and how the benchmark's
    own bands held the real runs (the loss band: median over cases of the share of steps inside it; the steps band:
    the share of (case, target) pairs inside it, over ``steps_band_pairs``)."""
    rel: dict[str, list[float]] = {"gd": [], "sgd": []}
    rel_error_basis: dict[str, list[float]] = {"gd": [], "sgd": []}
    cost: dict[str, list[float]] = {"gd": [], "sgd": []}
    levels: list[float] = []
    finals = []
    coverage = []
    loss_band = []
    steps_band = []
    for regime, comp in comps:
        if regime == "sgd" and comp.get("band_coverage") is not None:
            coverage.append(comp["band_coverage"])
        # the benchmark's own bands, on predictions that carry them (cached before they existed: none)
        if comp.get("loss_band_coverage") is not None:
            loss_band.append(comp["loss_band_coverage"])
        steps_band.extend(b["inside"] for b in comp.get("steps_band", ()))
        rel[regime].extend(scored_eps_errors(comp, "loss"))
        rel_error_basis[regime].extend(scored_eps_errors(comp, "error"))
        cost[regime].append(comp["cost_ratio"])
        for lv in comp["levels"]:
            if lv["real"]:
                levels.append(1.0 if lv["predicted"] is None else abs(lv["predicted"] - lv["real"]) / lv["real"])
        finals.append(comp["final_loss_relative_error"])
    return {
        "gd_rel_error_median": quantile(rel["gd"], 0.5),
        "gd_rel_error_p95": quantile(rel["gd"], 0.95),
        "sgd_rel_error_median": quantile(rel["sgd"], 0.5),
        "sgd_rel_error_p95": quantile(rel["sgd"], 0.95),
        "gd_error_basis_rel_error_median": quantile(rel_error_basis["gd"], 0.5),
        "sgd_error_basis_rel_error_median": quantile(rel_error_basis["sgd"], 0.5),
        "cost_ratio_gd_median": quantile(cost["gd"], 0.5),
        "cost_ratio_sgd_median": quantile(cost["sgd"], 0.5),
        "abs_steps_rel_error_median": quantile(levels, 0.5),
        "final_loss_rel_error_median": quantile(finals, 0.5),
        "loss_band_coverage_median": quantile(loss_band, 0.5),
        "steps_band_inside": sum(steps_band) / len(steps_band) if steps_band else None,
        "steps_band_pairs": len(steps_band),
        "sgd_band_coverage_median": quantile(coverage, 0.5),
        "sgd_band_cases": len(coverage),
    }


BAD_CASE = 0.25
"""A case whose largest relative T_eps error on the loss (default engine, over the eps grid) exceeds this
is one the trust signal should flag (the fidelity issue's target)."""


def trust_mode(engine: str) -> str:
    """The trust band's mode of a prediction engine key: ``updates`` for kernel updates, else ``frozen``."""
    return "updates" if engine == UPDATED else "frozen"


def _flags(prediction: dict[str, Any], mode: str, threshold: float | str | None) -> list[str]:
    limit = prediction["options"].get("endpoint_warning", 0.5)
    edge = largest_edge_ratio(prediction.get("edge_ratio"), prediction.get("kernel_path") or ())
    ratio = endpoint_threshold(mode) if threshold == "packaged" else threshold
    return trust_flags(edge, prediction.get("endpoint"), limit, ratio)  # type: ignore[arg-type]


def result_regime(result: dict[str, Any]) -> str:
    """A cached case result's :func:`~trainless.predict.trust_regime` (from its case and N)."""
    case = result["case"]
    return trust_regime(case["batch_size"], result["n"], case["momentum"], case["loss"])


def direction_table(results: list[dict[str, Any]], engine: str) -> dict[str, dict[str, int]]:
    """Which way the predictions of ``engine`` (a key of the results' ``predictions``) miss, per
    :func:`~trainless.predict.trust_regime`: over every (case, eps) pair on the loss where the prediction and
    the real run both reach the eps level at different steps, ``early`` counts those the prediction reaches
    first (a prediction running ahead of the real run), ``pairs`` all of them."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        comp = next((c for c in r["comparisons"] if c["engine"] == engine), None)
        if comp is None:
            continue
        row = out.setdefault(result_regime(r), {"early": 0, "pairs": 0})
        for e in comp["eps"]:
            if e["basis"] == "loss" and None not in (e["predicted"], e["real"]) and e["predicted"] != e["real"]:
                row["pairs"] += 1
                row["early"] += int(e["predicted"] < e["real"])
    return out


def run_outcome(result: dict[str, Any]) -> str:
    """What a cached case result's real run did by step T, one of :data:`~trainless.predict.EDGE_OUTCOMES`:
    ``diverged`` (recorded as diverged, its loss at T not finite or above its initial loss), ``stalled`` (above half
    its initial loss), else ``converged``."""
    record = result["record"]
    first, last = float(record["loss"][0]), float(record["loss"][-1])
    if record["status"] == "diverged" or not math.isfinite(last) or last > first:
        return "diverged"
    return "stalled" if last > first / 2 else "converged"


def edge_outcome_table(results: list[dict[str, Any]]) -> dict[str, list[dict[str, int]]]:
    """What the real runs past their stability edge did: per :func:`result_regime`, one row per
    :data:`~trainless.predict.EDGE_BINS` bin of the lr over the edge at w0 (the ``edge_ratio`` of the case's first
    prediction that records one, :func:`~trainless.predict.edge_bin`), counting :func:`run_outcome`. Runs at or
    below the edge, and results without an edge ratio, are left out."""
    out: dict[str, list[dict[str, int]]] = {}
    for r in results:
        ratios = (p.get("edge_ratio") for p in r["predictions"].values())
        ratio = next((v for v in ratios if v is not None and not math.isnan(v)), None)
        i = edge_bin(ratio)
        if i is None:
            continue
        rows = out.setdefault(result_regime(r), [dict.fromkeys(EDGE_OUTCOMES, 0) for _ in EDGE_BINS])
        rows[i][run_outcome(r)] += 1
    return out


def trust_table(
    results: list[dict[str, Any]], engine: str | None = None, threshold: float | str | None = "packaged"
) -> dict[str, Any]:
    """How well the trust signal (:func:`~trainless.predict.trust_flags`) separates the cases, for the
    predictions of ``engine`` (None: each case's default engine): per case its flags, its largest relative
    T_eps error (loss) and its endpoint-loss ratio; the hit rate (the share of cases above ``BAD_CASE``
    that are flagged), and the error band of flagged and unflagged cases (median and 95th percentile of
    every case's eps-pooled relative T_eps errors, and their number of cases). threshold: the endpoint
    ratio R (``packaged``: the calibrated one in trust_bands.json for the engine's mode; None: the older
    output-gap rule)."""
    rows = []
    pooled: dict[bool, list[float]] = {True: [], False: []}
    for r in results:
        if engine == UPDATED_AUTO:
            comps = [c for c in (auto_comparison(r),) if c is not None]
        else:
            comps = [c for c in r["comparisons"] if engine is None or c["engine"] == engine][:1]
        if not comps:
            continue
        comp = comps[0]
        errs = scored_eps_errors(comp)
        if not errs:
            continue
        pred = r["predictions"][comp["engine"]]
        flags = _flags(pred, trust_mode(comp["engine"]), threshold)
        pooled[bool(flags)].extend(errs)
        rows.append(
            {
                "case_id": r["case_id"],
                "tag": r["case"]["tag"],
                "max_rel_error": max(errs),
                "flags": flags,
                "edge_ratio": largest_edge_ratio(pred.get("edge_ratio"), pred.get("kernel_path") or ()),
                "endpoint_ratio": endpoint_ratio(pred.get("endpoint")),
            }
        )
    bad = [row for row in rows if row["max_rel_error"] > BAD_CASE]
    return {
        "bad_case_threshold": BAD_CASE,
        "cases": len(rows),
        "bad_cases": len(bad),
        "flagged": sum(1 for row in rows if row["flags"]),
        "hit_rate": sum(1 for row in bad if row["flags"]) / len(bad) if bad else None,
        "false_alarms": sum(1 for row in rows if row["flags"] and row["max_rel_error"] <= BAD_CASE),
        "band_unflagged": {
            "median": quantile(pooled[False], 0.5),
            "p95": quantile(pooled[False], 0.95),
            "cases": sum(1 for row in rows if not row["flags"]),
        },
        "band_flagged": {
            "median": quantile(pooled[True], 0.5),
            "p95": quantile(pooled[True], 0.95),
            "cases": sum(1 for row in rows if row["flags"]),
        },
        "rows": rows,
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled figures for the default engine (each case's first) and kernel (see :func:`_figures`), the
    extrapolation baseline, and under ``modes`` the same figures for every engine / curve compared and for
    :data:`UPDATED_AUTO` (scored from those comparisons)."""
    default: list[tuple[str, dict[str, Any]]] = []
    modes: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    matched, unmatched = [], 0
    for r in map(with_band_coverage, results):
        if not r["comparisons"]:
            continue
        regime = "gd" if r["case"]["batch_size"] == 0 else "sgd"
        default.append((regime, r["comparisons"][0]))
        for comp in r["comparisons"]:
            modes.setdefault(comp["engine"], []).append((regime, comp))
        auto = auto_comparison(r)
        if auto is not None:
            modes.setdefault(UPDATED_AUTO, []).append((regime, auto))
        k = r["baseline"].get("steps_to_match")
        if k is None:
            unmatched += 1
        else:
            matched.append(k)
    return {
        "cases": len(results),
        "cases_compared": len(default),
        **_figures(default),
        "baseline_steps_to_match_median": quantile([float(k) for k in matched], 0.5),
        "baseline_never_matched": unmatched,
        "modes": {mode: {"cases": len(comps), **_figures(comps)} for mode, comps in modes.items()},
        "trust": trust_table(results),
        "trust_updates": trust_table(results, UPDATED),
        "trust_updates_auto": trust_table(results, UPDATED_AUTO),
    }


def run_suite(
    suite: Suite,
    out_dir: str | os.PathLike[str],
    *,
    device: str | None = None,
    progress: bool = False,
    repredict: bool = False,
    cached_only: bool = False,
    only: frozenset[str] | None = None,
    cases: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run every case of ``suite`` not already cached under ``out_dir/cases`` (resumable), then write
    ``results.csv`` and ``summary.json``. Returns the case results and the summary.

    repredict: make the predictions of the cached cases again and compare them with their cached real
    runs (no fine-tuning): for a changed predictor, at the cost of the predictions alone.
    cached_only: run nothing; summarize the cases already cached (a suite still running, or stopped); the
    summary's ``suite_cases`` then says how many the suite has.
    only: with repredict, make just these predictions again (keys as in a result's ``predictions``, e.g.
    ``discrete+updates``) and keep the cached others, their comparisons and the baseline; a case cached
    without any of them is left as it is. A case whose kernel-update steps changed (a new case id) starts from
    its earlier version's result the same way, written under the new id (the earlier file stays: delete it
    if the suite no longer has that version).
    cases: case-id prefixes (as the files under ``out_dir/cases`` are named): run, or with repredict predict
    again, only the cases they name; the suite's other cached cases are summarized as they are. Each prefix
    must name at least one case of the suite."""
    if repredict and cached_only:
        raise TrainlessError("repredict and cached_only exclude each other: one re-runs predictions, one runs nothing")
    if only is not None and not repredict:
        raise TrainlessError(f"only={sorted(only)} selects predictions to make again: it needs repredict")
    unknown = [p for p in cases if not any(c.case_id.startswith(p) for c in suite.cases)]
    if unknown:
        raise TrainlessError(f"cases {unknown} name no case of suite {suite.name!r} (case ids are hex prefixes)")
    out = ensure_writable_dir(out_dir)
    ensure_writable_dir(out / "cases")
    results = []

    def chosen(case: Case) -> bool:
        return not cases or any(case.case_id.startswith(p) for p in cases)

    todo = [c for c in suite.cases if chosen(c) and (repredict or not _case_path(out, c).is_file())]
    earlier: dict[str, list[dict[str, Any]]] = {}
    if repredict:
        # Every cached result by run key: a case whose prediction settings changed (a new case id) reuses the
        # real run of its earlier versions (the first one's), and with ``only`` their other predictions.
        for path in sorted((out / "cases").glob("*.json")):
            cached = json.loads(path.read_text(encoding="utf-8"))
            earlier.setdefault(Case(**_case_fields(cached["case"])).run_key, []).append(cached)
    bar = tqdm(
        total=len(suite.cases),
        initial=len(suite.cases) - len(todo),
        desc=f"suite {suite.name}",
        unit="case",
        disable=not progress,
    )
    try:
        for case in suite.cases:
            path = _case_path(out, case)
            cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            if cached is not None and (not repredict or not chosen(case)):
                results.append(cached)
                continue
            if cached_only or not chosen(case):
                continue
            if cached is None and only is not None:
                cached = _earlier_version(case, earlier.get(case.run_key, []), only)
            if cached is not None:
                record = RunRecord.from_dict(cached["record"])
            elif repredict and case.run_key in earlier:
                record = RunRecord.from_dict(earlier[case.run_key][0]["record"])
            else:
                record = None
            if only is not None and cached is not None:
                keys = only & set(cached["predictions"])
                if not keys:  # none of them to make again: the cached file stays as it is
                    results.append(cached)
                    bar.update(1)
                    continue
                fresh = run_case(case, device=device, progress=False, record=record, only=frozenset(keys))
                result = merge_predictions(cached, fresh, keys)
            else:
                result = run_case(case, device=device, progress=False, record=record)
            write_json(path, result)
            results.append(result)
            bar.update(1)
    finally:
        bar.close()
    write_csv(out / "results.csv", [row for r in results for row in csv_rows(r)], CSV_COLUMNS)
    summary = {"suite": suite.name, "suite_cases": len(suite.cases), **summarize(results)}
    write_json(out / "summary.json", summary)
    return results, summary
