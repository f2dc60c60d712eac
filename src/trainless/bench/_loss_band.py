"""The loss and steps bands: where the real loss (and the real steps to its levels) lay around the benchmark's
predictions, per trust cell, for :func:`~trainless.predict.loss_band` to quote.

A cell is a trust mode (``frozen``: the kernel frozen at w0; ``updates``: the kernel-updates prediction the default
makes), a :func:`~trainless.predict.trust_regime` and whether the trust signal flagged the prediction. Each cached
case gives one vector per mode it holds a prediction of: log(L_real / L_pred) at the shares
:data:`~trainless.predict.LOSS_BAND_FRACTIONS` of its length. The band is split-conformal (Vovk et al.; Lei et
al. 2018, "Distribution-free predictive inference for regression"): of n vectors, at each share the
floor(0.05 (n + 1))-th and ceil(0.95 (n + 1))-th smallest values, which hold a new exchangeable run with probability
at least 90% at that share. Suites are not exchangeable (each was written to probe something), so the band is
also checked suite by suite: each suite's runs against the band of all the others (``held_out_coverage``).

The steps band (:func:`~trainless.predict.steps_band` quotes it) is made the same way from the steps to the loss
levels and to the eps levels: per cell and target, the bounds of log(t_real / t_pred) over the predictions that
reached the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from ..predict import LOSS_BAND_FRACTIONS, LOSS_BAND_LEVEL, LOSS_BAND_MIN_CASES, steps_target
from ._run import UPDATED, _flags, auto_comparison, result_regime


def loss_log_ratios(result: dict[str, Any], engine: str) -> list[float]:
    """log(L_real(t) / L_pred(t)) of a cached case result at t = round(s T) (at least 1) for each share s of
    :data:`~trainless.predict.LOSS_BAND_FRACTIONS`; the prediction is ``result["predictions"][engine]``'s
    expected curve, the real loss that of step t (linear between the evaluated steps around it, for a run not
    evaluated at every step). +inf where the real loss is not finite (a diverged run) or the predicted one is 0 and
    the real one is not; -inf where the predicted loss is not finite or the real one is 0. float64."""
    pred = [float(v) for v in result["predictions"][engine]["loss"]]
    record = result["record"]
    steps = record.get("eval_steps") or list(range(len(record["loss"])))
    real = {int(t): float(v) if v is not None else math.nan for t, v in zip(steps, record["loss"], strict=True)}
    out = []
    for s in LOSS_BAND_FRACTIONS:
        t = max(1, round(s * (len(pred) - 1)))
        real_t = real[t] if t in real else _between(real, t)
        if not math.isfinite(real_t):
            out.append(math.inf)
        elif not math.isfinite(pred[t]):
            out.append(-math.inf)
        elif pred[t] <= 0:
            out.append(math.inf if real_t > 0 else 0.0)
        else:
            out.append(math.log(real_t / pred[t]) if real_t > 0 else -math.inf)
    return out


def _between(real: dict[int, float], t: int) -> float:
    before = max((u for u in real if u < t), default=min(real))
    after = min((u for u in real if u > t), default=max(real))
    if before == after:
        return real[before]
    w = (t - before) / (after - before)
    return (1 - w) * real[before] + w * real[after]


def conformal_bounds(vectors: list[list[float]], level: float = LOSS_BAND_LEVEL) -> tuple[list, list] | None:
    """The split-conformal bounds of a ``level`` band at each position of the equal-length ``vectors``: the
    floor((1 - level) / 2 (n + 1))-th and ceil((1 + level) / 2 (n + 1))-th smallest of the n values (1-based).
    None when n < :data:`~trainless.predict.LOSS_BAND_MIN_CASES` (a bound would fall off the sample)."""
    n = len(vectors)
    if n < LOSS_BAND_MIN_CASES:
        return None
    # the tolerance keeps float rounding of the shares (0.95 x 20 = 19.000000000000004) off the order statistics
    k_low = math.floor((1 - level) / 2 * (n + 1) + 1e-9)
    k_high = math.ceil((1 + level) / 2 * (n + 1) - 1e-9)
    if k_low < 1 or k_high > n:
        return None
    columns = [sorted(col) for col in zip(*vectors, strict=True)]
    return [c[k_low - 1] for c in columns], [c[k_high - 1] for c in columns]


def _picks(
    results: list[dict[str, Any]], thresholds: dict[str, float | str | None], default_only: bool
) -> Iterator[tuple[tuple[str, str, str], dict[str, Any], str]]:
    """(cell, result, engine) for each prediction the bands are made of: mode ``frozen`` from each case's
    ``discrete`` prediction, mode ``updates`` from the default's kernel-updates prediction
    (:func:`~trainless.bench.auto_comparison`, where the default makes updates), flagged by the trust signal with
    the endpoint threshold ``thresholds[mode]`` (as ``trust_table`` takes it); with ``default_only`` only the one
    the default makes (the updates where it makes them, else the frozen kernel)."""
    for r in results:
        expected = {c["engine"] for c in r["comparisons"] if c.get("curve", "expected") == "expected"}
        picks = [("frozen", "discrete")] if "discrete" in expected else []
        auto = auto_comparison(r)
        if auto is not None and auto["engine"] == UPDATED:
            picks = [("updates", UPDATED)] if default_only else [*picks, ("updates", UPDATED)]
        for mode, engine in picks:
            if mode not in thresholds:
                continue
            flagged = bool(_flags(r["predictions"][engine], mode, thresholds[mode]))
            yield (mode, result_regime(r), "flagged" if flagged else "unflagged"), r, engine


def loss_band_vectors(
    results: list[dict[str, Any]], thresholds: dict[str, float | str | None], default_only: bool = False
) -> dict[tuple[str, str, str], list[list[float]]]:
    """Per cell (mode, regime, ``flagged`` | ``unflagged``) the log-ratio vectors (:func:`loss_log_ratios`) of
    ``results``' predictions (:func:`_picks`: every frozen and default kernel-updates prediction, or with
    ``default_only`` one per case, the one the default makes, for what a user of the default meets)."""
    out: dict[tuple[str, str, str], list[list[float]]] = {}
    for key, r, engine in _picks(results, thresholds, default_only):
        out.setdefault(key, []).append(loss_log_ratios(r, engine))
    return out


def band_hits(vectors: list[list[float]], low: list[float | None], high: list[float | None]) -> list[list[bool]]:
    """For each vector (:func:`loss_log_ratios`), whether each value lies within [``low``, ``high``] at its share;
    a bound of None is unbounded (as the packaged table stores an infinite one)."""
    lows = [-math.inf if v is None else v for v in low]
    highs = [math.inf if v is None else v for v in high]
    return [[lo <= x <= hi for x, lo, hi in zip(vec, lows, highs, strict=True)] for vec in vectors]


def _finite_or_none(values: list[float]) -> list[float | None]:
    # JSON holds no infinities a strict reader accepts: None is an unbounded side (loss_band reads it so).
    return [v if math.isfinite(v) else None for v in values]


def _pooled(per_suite: dict[str, dict]) -> Iterator[tuple[tuple[str, str, str], list]]:
    """Each cell key any suite has, in order, with every suite's entries of it pooled."""
    for key in sorted({k for v in per_suite.values() for k in v}):
        yield key, [x for v in per_suite.values() for x in v.get(key, [])]


def _left_out(per_suite: dict[str, dict], key: tuple[str, str, str], bounds_of: Callable[[list], Any]) -> Iterator:
    """For each suite in turn, its own entries of cell ``key`` and the bounds ``bounds_of`` makes from all the other
    suites' entries of it (None or empty where they make none): how a band held a suite it was not made from."""
    for name, v in per_suite.items():
        yield v.get(key, []), bounds_of([x for other, w in per_suite.items() if other != name for x in w.get(key, [])])


def loss_band_table(
    suites: dict[str, list[dict[str, Any]]], thresholds: dict[str, float | str | None]
) -> dict[str, Any]:
    """The packaged ``loss_band``: per cell with at least :data:`~trainless.predict.LOSS_BAND_MIN_CASES` runs over
    all ``suites`` (name -> cached case results, each case once) its bounds (``low``, ``high``: log ratios per
    share, None unbounded), its number of runs, and ``held_out_coverage`` (the share of (run, share) values inside
    the band of all other suites' runs, each suite in turn; ``held_out_coverage_at_T`` at T alone; over the suites
    whose complement still makes a band)."""
    per_suite = {name: loss_band_vectors(results, thresholds) for name, results in suites.items()}
    cells: dict[str, Any] = {}
    for key, pooled in _pooled(per_suite):
        bounds = conformal_bounds(pooled)
        if bounds is None:
            continue
        inside = inside_at_t = total = 0
        for own, rest in _left_out(per_suite, key, conformal_bounds):
            if not own or rest is None:
                continue
            for hits in band_hits(own, *rest):
                inside += sum(hits)
                inside_at_t += hits[-1]
                total += 1
        mode, regime, flag = key
        cells.setdefault(mode, {}).setdefault(regime, {})[flag] = {
            "low": _finite_or_none(bounds[0]),
            "high": _finite_or_none(bounds[1]),
            "cases": len(pooled),
            "held_out_coverage": inside / (total * len(LOSS_BAND_FRACTIONS)) if total else None,
            "held_out_coverage_at_T": inside_at_t / total if total else None,
        }
    return {
        "fractions": list(LOSS_BAND_FRACTIONS),
        "level": LOSS_BAND_LEVEL,
        "suites": sorted(suites),
        "cells": cells,
    }


def steps_log_ratios(result: dict[str, Any], engine: str) -> dict[str, float]:
    """log(t_real / t_pred) of a cached case result's prediction ``engine`` for each loss level and each eps on the
    loss (keys :func:`~trainless.predict.steps_target`) that the prediction reaches, from its ``expected``
    comparison (the steps as the benchmark scores them); +inf where the real run never got there. float64."""
    comp = next(c for c in result["comparisons"] if c["engine"] == engine and c.get("curve", "expected") == "expected")
    targets = [("level", lv["level"], lv["predicted"], lv["real"]) for lv in comp["levels"]]
    targets += [("eps", e["eps"], e["predicted"], e["real"]) for e in comp["eps"] if e["basis"] == "loss"]
    return {
        steps_target(kind, value): math.inf if real is None else math.log(real / predicted)
        for kind, value, predicted, real in targets
        if predicted
    }


def steps_band_ratios(
    results: list[dict[str, Any]], thresholds: dict[str, float | str | None], default_only: bool = False
) -> dict[tuple[str, str, str], list[dict[str, float]]]:
    """Per cell, as :func:`loss_band_vectors`, each prediction's :func:`steps_log_ratios`."""
    out: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for key, r, engine in _picks(results, thresholds, default_only):
        out.setdefault(key, []).append(steps_log_ratios(r, engine))
    return out


def _target_bounds(ratios: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    out = {}
    for target in sorted({t for d in ratios for t in d}):
        values = [d[target] for d in ratios if target in d]
        bounds = conformal_bounds([[v] for v in values])
        if bounds is not None:
            out[target] = {"low": bounds[0][0], "high": bounds[1][0], "cases": len(values)}
    return out


def steps_hits(ratios: list[dict[str, float]], targets: dict[str, dict[str, Any]]) -> list[bool]:
    """Whether each (prediction, target) log ratio (:func:`steps_log_ratios`) lies within its target's bounds
    (``targets``: as the packaged cell's; a bound of None is +inf: a high one unbounded, a low one a band of runs
    that never got there), over the targets with a band."""
    hits = []
    for d in ratios:
        for target, x in sorted(d.items()):
            b = targets.get(target)
            if b is not None:
                low = math.inf if b["low"] is None else b["low"]
                high = math.inf if b["high"] is None else b["high"]
                hits.append(low <= x <= high)
    return hits


def steps_band_table(
    suites: dict[str, list[dict[str, Any]]], thresholds: dict[str, float | str | None]
) -> dict[str, Any]:
    """The packaged ``steps_band``: per cell, per target (:func:`~trainless.predict.steps_target`) with at least
    :data:`~trainless.predict.LOSS_BAND_MIN_CASES` predictions reaching it over all ``suites`` (name -> cached case
    results), the split-conformal bounds of log(t_real / t_pred) (``low``, ``high``: None unbounded) and the number
    of predictions; per cell its number of runs and ``held_out_coverage`` (the share of (run, target) pairs inside
    the bands of all other suites' runs, each suite in turn, over ``held_out_pairs`` pairs: those whose target the
    other suites hold a band for)."""
    per_suite = {name: steps_band_ratios(results, thresholds) for name, results in suites.items()}
    cells: dict[str, Any] = {}
    for key, pooled in _pooled(per_suite):
        targets = _target_bounds(pooled)
        if not targets:
            continue
        hits = [hit for own, rest in _left_out(per_suite, key, _target_bounds) for hit in steps_hits(own, rest)]
        mode, regime, flag = key
        cells.setdefault(mode, {}).setdefault(regime, {})[flag] = {
            "targets": {
                t: {**b, **dict(zip(("low", "high"), _finite_or_none([b["low"], b["high"]]), strict=True))}
                for t, b in targets.items()
            },
            "cases": len(pooled),
            "held_out_coverage": sum(hits) / len(hits) if hits else None,
            "held_out_pairs": len(hits),
        }
    return {"level": LOSS_BAND_LEVEL, "suites": sorted(suites), "cells": cells}
