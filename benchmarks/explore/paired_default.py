"""Exploration: the default's paired curve (the linearized run on the real run's own batch order) against its
expected curve (the mean over batch orders) on the cached held-out minibatch runs. Nothing is predicted: both
curves are in each case's cached prediction that the default scores (``auto_comparison``: ``discrete+updates``, or
``discrete`` where the default keeps the frozen kernel); the bench scores the paired curve for the frozen kernel
alone. A plain SGD run is nearly deterministic given its batch order (its rounding moves it by 15% at the p95,
docs/measurements.md), so if the linearized model followed the real one step by step, the paired curve would be
the better prediction of that one run. Counted as the held-out tests count (``fidelity_default.Tally``: largest
relative T_eps error on the loss per case, a tie within one point; pooled (eps, loss) errors).

    python benchmarks/explore/paired_default.py \
        bench/results/{longer,unseen,unseen2,...,unseen52,practice,plainsgd,mseedge}

Log: benchmarks/results/explore/paired_default.txt (2026-12-07, the 56 suites written before they ran).
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, curve_figures, curve_scores_of

from trainless.bench._run import auto_comparison

tallies: dict[str, Tally] = {}
for suite in map(Path, sys.argv[1:]):
    for path in sorted((suite / "cases").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        c = d["case"]
        if c["loss"] != "ce" or c.get("head_start", "fresh") != "fresh" or not c["batch_size"]:
            continue
        if c["batch_size"] >= d["n"]:
            continue
        comp = auto_comparison(d)
        if comp is None:
            continue
        pred = d["predictions"][comp["engine"]]
        real = np.asarray(d["record"]["loss"], dtype=float)
        expected = np.asarray(pred["loss"], dtype=float)
        paired = np.asarray(pred["paired_loss"], dtype=float)
        if not (np.all(np.isfinite(expected)) and np.all(np.isfinite(paired))):
            continue
        base, other = curve_figures(expected, real), curve_figures(paired, real)
        regime = "momentum" if c.get("momentum", 0) else "plain SGD"
        key = f"{regime}, {'kernel updates' if comp['engine'] != 'discrete' else 'frozen kernel'}"
        tallies.setdefault(key, Tally()).count(curve_scores_of(base), curve_scores_of(other), base["eps"], other["eps"])
for key, tally in sorted(tallies.items()):
    print(f"paired against expected, {key}, {tally.cases} runs: {tally.summary()}")
