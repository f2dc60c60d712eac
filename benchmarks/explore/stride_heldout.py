"""Exploration: a denser weight stride on every cached bench case it would change, kept for a default change.

The candidate rule: ``path_stride = max(MIN_STRIDE, round(T / MOVES))`` (75 moves, never denser than every 2 steps:
stride 2 at T = 150, 4 at T = 300, 8 at T = 600, 13 at T = 1000), against the default's T / 30 (stride 5 at T = 150).
For each selected case, the cached kernel-updates prediction is made again with the candidate stride (the real run
from the cache), scored next to the cached one (line as ``stride_density.py``), counted as the held-out tests count
(:class:`fidelity_default.Tally`), overall and by group (T = 150 or longer; full batch or minibatch; the loss); and the
mean of the two paths' loss curves (``schedule_ensemble.py``'s candidate) counted the same way from the curves.

Selected: every case of the given suite directories whose kernel-updates prediction took the run's own path
(no momentum) with a path stride, less the case ids named in the ``--exclude`` logs (the cases the stride was
already tried on), suite by suite in the order given, case ids sorted within. ``--save DIR`` keeps each new
prediction (``run_case(..., only={"discrete+updates"})``, its comparisons included) as
``DIR/<suite>/<case id>.json.gz``, read back instead of predicting again when the script is run again, so that a
default change can merge them into the suites' case files (``trainless.bench._run.merge_predictions``) without
another 4 hours of predictions.

    python benchmarks/explore/stride_heldout.py --save bench/results/stride75 --stop-at 02:10 \\
        --exclude benchmarks/results/explore/{stride_density_n*,schedule_ensemble_n100}.txt \\
        --suites bench/results/unseen bench/results/unseen2 ...

``--shift`` (2026-12-06): the candidate is the cached stride with its moves shifted by half a stride (the second
path of ``PredictConfig(path_samples=2)``), full-batch CE runs at T = 150 first, kept under its own ``--save``
directory; with ``--merge`` each case then gets the two-path prediction (:func:`two_path_mean`, ``path_mean`` itself).
``--kept-only`` scores the kept cases without predicting any. Its test: ``results/explore/shifted_heldout_test.md``.
``--full-batch`` selects the runs ``path_samples="auto"`` makes two paths on (what ``--merge`` merged, 2026-12-06);
``--minibatch`` the others (plain SGD: since the merge, a full-batch case file holds the two-path mean, which this
script's "cached" column would then misread as one path).

The test, fixed before the first run (2026-12-05/06): on the cases completed before ``--stop-at``, the candidate
better on more cases than worse (largest relative T_eps error on the loss, ties within ``TIE``) with a pooled p95 not
higher.
"""

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np
from fidelity_default import (
    Tally,
    comparison_scores,
    curve_figures,
    curve_scores_of,
    eps_errors,
    keep_result,
    kept_path,
    load_kept,
    repredict_updated,
    score_line,
    stop_time,
)
from gd_trust import auc

from trainless._io import write_json
from trainless.bench import UPDATED, Case
from trainless.bench._compare import compare
from trainless.bench._run import BAD_CASE, merge_predictions
from trainless.dynamics import epsilon_time
from trainless.finetune import RunRecord
from trainless.predict import Prediction
from trainless.predict._samples import path_mean

MOVES, MIN_STRIDE = 75, 2

ap = argparse.ArgumentParser()
ap.add_argument("--suites", nargs="+", type=Path, required=True, help="suite result directories (with cases/)")
ap.add_argument("--exclude", nargs="*", type=Path, default=[], help="logs whose per-case lines name cases to skip")
ap.add_argument("--save", type=Path, default=None, help="keep each new prediction under this directory")
ap.add_argument(
    "--stop-at", default=None, help="start no case after this UTC time of day (HH:MM, today or after midnight)"
)
ap.add_argument("--list", action="store_true", help="only list the selected cases")
ap.add_argument("--kept-only", action="store_true", help="predict nothing: score the cases kept under --save")
ap.add_argument(
    "--shift",
    action="store_true",
    help="candidate: the cached stride with its moves shifted by half a stride (phase_ensemble.py's second path), "
    "full-batch cross-entropy runs at T = 150 first",
)
ap.add_argument(
    "--full-batch",
    action="store_true",
    help="select full-batch cases only (the runs path_samples='auto' makes two paths on), for predicting or --merge",
)
ap.add_argument(
    "--minibatch",
    action="store_true",
    help="select minibatch (SGD) cases only: since the merge, full-batch case files hold the two-path mean already",
)
ap.add_argument(
    "--merge",
    action="store_true",
    help="predict nothing: merge every selected case's kept prediction (--save DIR) into its suite's case file",
)
a = ap.parse_args()


def candidate_stride(steps: int, cached: int) -> int:
    return cached if a.shift else max(MIN_STRIDE, round(steps / MOVES))


if a.shift:
    from trainless.predict import _predict as predict_module  # the package name is shadowed by trainless.predict()

    def shifted_moves(stride: int | None, steps: int, updates: tuple[int, ...], phase: int = 0) -> tuple[int, ...]:
        # The second path of path_samples=2 whatever phase the caller asks: phase stride // 2 (3 at stride 5).
        return original_moves(stride, steps, updates, 0 if stride is None else stride // 2)

    original_moves = predict_module._move_steps

    predict_module._move_steps = shifted_moves


def two_path_mean(d: dict, shifted: dict) -> dict:
    """What ``path_samples=2`` makes of a case, from its cached prediction and the kept shifted one: their
    :func:`~trainless.predict._samples.path_mean` (the same function the option calls) and its comparison, as a
    :func:`run_case` result holding that prediction alone (for ``merge_predictions``)."""
    first, second = (Prediction.from_dict(x["predictions"][UPDATED]) for x in (d, shifted))
    options = dataclasses.replace(first.options, path_samples=2)
    # The second path's linearization was its own process's, not recorded apart: its Theta_0 kernel, most of it, is
    # counted once (its timing steps twice, a little more than the option would count).
    shared = second.kernel["seconds"]
    mean = path_mean(
        (dataclasses.replace(first, options=options), second), (first.options.path_stride // 2,), options, shared
    )
    comparison = compare(mean, RunRecord.from_dict(d["record"]), smooth_window=Case.from_dict(d["case"]).smooth)
    return {
        "case_id": d["case_id"],
        "predictions": {UPDATED: mean.to_dict()},
        "comparisons": [{"engine": UPDATED, **comparison.to_dict()}],
        "baseline": d["baseline"],
    }


def group(d: dict) -> str:
    c = d["case"]
    return f"{'T=150' if c['steps'] == 150 else 'T>150'} {'SGD' if c['batch_size'] else 'GD'} {c['loss']}"


skip = {m.group(1) for log in a.exclude for m in re.finditer(r"^([0-9a-f]{8}) ", log.read_text(), re.M)}
selected, merged = [], 0
for suite in a.suites:
    for p in sorted((suite / "cases").glob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        pred = d["predictions"].get(UPDATED)
        if (
            pred is None
            or d["case"]["momentum"] > 0
            or p.stem[:8] in skip
            or (a.full_batch and d["case"]["batch_size"])
        ):
            continue
        if a.minibatch and not d["case"]["batch_size"]:
            continue
        if pred["options"].get("update_path", "own") != "own" or pred["options"].get("path_stride") is None:
            continue
        if pred["options"].get("path_samples", 1) > 1:
            # Already the two-path mean (merged): scoring it as one path, or merging it again, would average a mean.
            merged += 1
            continue
        selected.append(p)
if a.shift:
    rank = ("T=150 GD ce", "T>150 GD ce", "T=150 SGD ce")
    groups = {p: group(json.loads(p.read_text(encoding="utf-8"))) for p in selected}
    selected.sort(key=lambda p: rank.index(groups[p]) if groups[p] in rank else len(rank))  # stable: suite order kept
print(
    f"# {len(selected)} cases selected from {len(a.suites)} suites ({len(skip)} case ids excluded, {merged} left out "
    "as already the two-path mean)",
    flush=True,
)
if a.list:
    print("\n".join(str(p) for p in selected))
    sys.exit()
if a.merge:
    # Only once every selected case is kept: a suite half at one stride and half at the other would be scored as
    # one default (the bench's auto_comparison refuses a stride other than the default's).
    kept = {p: kept_path(a.save, p) for p in selected}
    missing = [str(p) for p, k in kept.items() if not k.is_file()]
    if missing:
        sys.exit(f"{len(missing)} selected cases have no kept prediction (first: {missing[0]}); predict them first")
    for p, k in kept.items():
        fresh = load_kept(k)
        d = json.loads(p.read_text(encoding="utf-8"))
        assert fresh["case_id"] == d["case_id"], p
        write_json(p, merge_predictions(d, two_path_mean(d, fresh) if a.shift else fresh, {UPDATED}))
    print(f"merged {len(kept)} kept predictions into their suites' case files")
    sys.exit()

stop = stop_time(a.stop_at)

tallies: dict[str, Tally] = {"all": Tally()}
# The mean of the two paths' loss curves, step by step, against the cached one, both scored from their curves
# (schedule_ensemble.py's test on these cases: its two curves' own scores are in the lines above it).
means: dict[str, Tally] = {"all": Tally()}
# log T_eps ratios at every eps all four curves reach: the two paths against each other (the path's noise) and each
# curve against the real one (the error's spread).
log_ratios: dict[str, list[float]] = {"stride against cached": [], "cached": [], "candidate": [], "mean": []}
# For a trust signal: the two paths' disagreement (the largest relative T_eps difference of the candidate's curve
# against the cached one) and the edge ratio lr / (2N / lambda_max), per run, with whether the cached prediction and
# the mean were bad (largest error above BAD_CASE) and whether the run is a fresh-head CE GD one.
signals: list[dict] = []
for p in selected:
    if stop is not None and dt.datetime.now(dt.timezone.utc) > stop:
        print(f"stopped after {tallies['all'].cases} of {len(selected)} cases (--stop-at {a.stop_at} UTC)", flush=True)
        break
    d = json.loads(p.read_text(encoding="utf-8"))
    was = d["predictions"][UPDATED]["options"]["path_stride"]
    stride = candidate_stride(d["case"]["steps"], was)
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    kept = kept_path(a.save, p) if a.save else None
    reused = kept is not None and kept.is_file()
    if a.kept_only and not reused:
        continue
    if reused:
        fresh = load_kept(kept)
    else:
        _, fresh, _ = repredict_updated(d, {"path_stride": stride})
        if kept is not None:
            keep_result(kept, fresh)
    new = next(c for c in fresh["comparisons"] if c["engine"] == UPDATED)
    assert fresh["predictions"][UPDATED]["options"]["path_stride"] == stride, "the stride asked for was not used"
    real = np.asarray(d["record"]["loss"], dtype=float)
    curves = [np.asarray(x["predictions"][UPDATED]["loss"], dtype=float) for x in (d, fresh)]
    mean_curve = (curves[0] + curves[1]) / 2
    base_fig, mean_fig = curve_figures(curves[0], real), curve_figures(mean_curve, real)
    full_batch = [f"all GD {d['case']['loss']}"] if not d["case"]["batch_size"] else []
    for key in ("all", group(d), *full_batch):
        tallies.setdefault(key, Tally()).add(cached, new)
        means.setdefault(key, Tally()).count(
            curve_scores_of(base_fig), curve_scores_of(mean_fig), base_fig["eps"], mean_fig["eps"]
        )
    signals.append(
        {
            "disagreement": max(eps_errors(curves[1], curves[0]) or [0.0]),
            "edge": d["lr"] / d["edge_lr"],
            "bad": comparison_scores(cached)["eps_max"] > BAD_CASE,
            "bad mean": mean_fig["max"] > BAD_CASE,
            "fresh CE GD": not d["case"]["batch_size"]
            and d["case"]["loss"] == "ce"
            and d["case"]["head_start"] == "fresh",
        }
    )
    for eps in d["case"]["eps"]:
        t_real, t_base, t_new, t_mean = (epsilon_time(c, eps)[0] for c in (real, *curves, mean_curve))
        if t_real and t_base and t_new and t_mean:
            log_ratios["stride against cached"].append(np.log(t_new / t_base))
            for key, t in (("cached", t_base), ("candidate", t_new), ("mean", t_mean)):
                log_ratios[key].append(np.log(t / t_real))
    print(
        f"{p.stem[:8]} {p.parent.parent.name:9s} {d['case']['tag']:10s} N={d['n']} {d['resolution']}px "
        f"T={d['case']['steps']} | stride {was}: {score_line(comparison_scores(cached))} "
        f"[{d['predictions'][UPDATED]['seconds']:.0f} s] | stride {stride}: {score_line(comparison_scores(new))} "
        f"[{fresh['predictions'][UPDATED]['seconds']:.0f} s{', kept' if reused else ''}]",
        flush=True,
    )

for key, t in tallies.items():
    if t.cases:
        print(f"{key}: {t.cases} cases, candidate {t.summary()}")
for key, mean in means.items():
    if mean.cases:
        print(f"{key}, mean of the two paths (scored from the curves): {mean.summary()}")
for key, r in log_ratios.items():
    if r:
        r = np.asarray(r)
        print(
            f"log T_eps ratio, {key}{'' if key.startswith('stride') else ' against real'}: {len(r)} eps, mean "
            f"{r.mean():+.3f}, later on {np.mean(r > 0):.0%}, earlier on {np.mean(r < 0):.0%}, sd {r.std():.3f}"
        )
for name, rows in (("all", signals), ("fresh CE GD", [r for r in signals if r["fresh CE GD"]])):
    for target in ("bad", "bad mean"):
        bad, good = [r for r in rows if r[target]], [r for r in rows if not r[target]]
        if bad and good:
            print(
                f"trust, {name} ({len(rows)} runs, {len(bad)} {target}): AUC of the paths' disagreement "
                f"{auc([r['disagreement'] for r in bad], [r['disagreement'] for r in good]):.2f}, of the edge ratio "
                f"{auc([r['edge'] for r in bad], [r['edge'] for r in good]):.2f}"
            )
