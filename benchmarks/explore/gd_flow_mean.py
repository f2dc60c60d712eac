"""Exploration: on cached full-batch GD runs, the mean of the default's curve (its own path) and the gradient flow's
(``update_path="flow"``) against the default. The test, fixed before the first run:
``benchmarks/results/explore/gd_flow_mean_test.md``.

    python benchmarks/explore/gd_flow_mean.py --save bench/results/gdflow --stop-at 11:35 \\
        bench/results/{longer,unseen,unseen2,...,unseen52,practice,plainsgd,mseedge}

Each flow prediction is kept under ``--save`` (``fidelity_default.keep_result``) and read back when the script runs
again. Log: ``benchmarks/results/explore/gd_flow_mean.txt``.
"""

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import (
    Tally,
    curve_figures,
    curve_scores_of,
    keep_result,
    kept_path,
    load_kept,
    repredict_updated,
    stop_time,
)

from trainless.bench import UPDATED

ap = argparse.ArgumentParser()
ap.add_argument("suites", nargs="+", type=Path)
ap.add_argument("--save", type=Path, required=True, help="keep each flow prediction under this directory")
ap.add_argument("--stop-at", default=None, help="start no case after this UTC time of day (HH:MM)")
ap.add_argument("--kept-only", action="store_true", help="predict nothing: score the kept cases")
a = ap.parse_args()


def selected(d: dict) -> bool:
    c = d["case"]
    pred = d["predictions"].get(UPDATED)
    return (
        pred is not None
        and not c["batch_size"]
        and c.get("momentum", 0) == 0
        and c["loss"] == "ce"
        and c.get("head_start", "fresh") == "fresh"
        and c["steps"] == 150
        and c.get("schedule", "constant") == "constant"
        and pred["options"].get("update_path", "own") == "own"
    )


cases = []
for suite in a.suites:
    for p in sorted((suite / "cases").glob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        if selected(d):
            cases.append(p)
cases.sort(key=lambda p: p.stem)
print(f"# {len(cases)} cases selected from {len(a.suites)} suites, in case-id order", flush=True)

stop = stop_time(a.stop_at)
tallies = {"flow": Tally(), "mean": Tally()}
finals: dict[str, list[float]] = {"default": [], "flow": [], "mean": []}
for p in cases:
    keep = kept_path(a.save, p)
    d = json.loads(p.read_text(encoding="utf-8"))
    if keep.is_file():
        flow_pred = load_kept(keep)["predictions"][UPDATED]
    elif a.kept_only:
        continue
    elif stop is not None and dt.datetime.now(dt.timezone.utc) > stop:
        print(f"# stopped at {a.stop_at} UTC", flush=True)
        break
    else:
        _, result, _ = repredict_updated(d, overrides={"update_path": "flow", "path_samples": 1})
        keep_result(keep, result)
        flow_pred = result["predictions"][UPDATED]
    real = np.asarray(d["record"]["loss"], dtype=float)
    default = np.asarray(d["predictions"][UPDATED]["loss"], dtype=float)
    flow = np.asarray(flow_pred["loss"], dtype=float)
    if len(flow) != len(default) or not np.all(np.isfinite(flow)):
        print(f"{p.stem[:8]} {p.parent.parent.name}: flow curve incomplete, left out", flush=True)
        continue
    base = curve_figures(default, real)
    line = [f"{p.stem[:8]} {p.parent.parent.name} {d['case']['model'][-5:]} {d['case']['resolution']}px"]
    line.append(f"N={d['case']['classes'] * d['case']['per_class']} lr={d['case']['lr']:g}:")
    line.append(f"default {base['max']:.0%} at T {base['final']:.0%}")
    finals["default"].append(base["final"])
    for name, curve in (("flow", flow), ("mean", (default + flow) / 2)):
        other = curve_figures(curve, real)
        tallies[name].count(curve_scores_of(base), curve_scores_of(other), base["eps"], other["eps"])
        finals[name].append(other["final"])
        line.append(f"| {name} {other['max']:.0%} at T {other['final']:.0%}")
    print(" ".join(line), flush=True)
for name, tally in tallies.items():
    print(f"{name} against the default, {tally.cases} full-batch GD runs: {tally.summary()}")
print("loss at T, median relative error: " + ", ".join(f"{k} {statistics.median(v):.1%}" for k, v in finals.items()))
