"""Exploration: within cached bench cases made with the two-path default, the mean of the paths against its first path.

A prediction made with ``path_samples`` above 1 keeps each path's loss curve (``Prediction.path_losses``); the first
is the one-path prediction the default made before 2026-12-06. Each case's first path and the mean (the prediction's
loss) are scored from their loss curves against the real run (``fidelity_default.curve_figures``) and counted as the
held-out tests count (:class:`fidelity_default.Tally`: largest relative T_eps error on the loss per case, a tie within
one point; pooled (eps, loss) errors). Cases whose kernel-updates prediction made one path are listed and left out.
Nothing is predicted.

    python benchmarks/explore/paths_in_suite.py bench/results/unseen49/cases/*.json

The test of unseen49 (fixed in its TOML before it ran): the mean better on more cases than worse with a pooled p95 not
higher (``Tally.summary``'s verdict).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, curve_figures, curve_scores_of

from trainless.bench import UPDATED

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path, help="cached case results (bench/results/SUITE/cases/*.json)")
a = ap.parse_args()

tally = Tally()
for p in a.cases:
    d = json.loads(p.read_text(encoding="utf-8"))
    pred = d["predictions"].get(UPDATED)
    paths = (pred or {}).get("path_losses") or []
    if len(paths) < 2:
        print(f"{p.stem[:8]} {d['case']['tag']:14s} one path: left out", flush=True)
        continue
    real = np.asarray(d["record"]["loss"], dtype=float)
    first, mean = curve_figures(np.asarray(paths[0], dtype=float), real), curve_figures(np.asarray(pred["loss"]), real)
    tally.count(curve_scores_of(first), curve_scores_of(mean), first["eps"], mean["eps"])
    print(
        f"{p.stem[:8]} {d['case']['tag']:14s} N={d['n']} {d['resolution']}px lr={d['lr']:.1e} | first path: largest "
        f"T_eps {first['max']:.0%}, loss at T {first['final']:.0%} | mean of {len(paths)}: largest T_eps "
        f"{mean['max']:.0%}, loss at T {mean['final']:.0%}",
        flush=True,
    )
if tally.cases:
    print(f"mean of the paths against the first path, {tally.cases} cases: {tally.summary()}")
