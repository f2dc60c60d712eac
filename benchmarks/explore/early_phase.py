"""Exploration: where the GD p95 of the normalized T_eps error comes from (cached cases only, nothing is run).

For each full-batch cross-entropy fresh-head case with a ``discrete+updates`` prediction: per eps, the relative
T_eps error pooled over the cases (median, p95, largest), how many steps the real T_eps is and which curve
reaches it first; and over the first steps, the predicted loss decrease over the real one,
(L_0 - L_pred(t)) / (L_0 - L_real(t)), before the first kernel update (T/15) and just after it. Log in
benchmarks/results/explore/early_phase.txt.

    python benchmarks/explore/early_phase.py bench/results/SUITE ...
"""

import json
import sys
from pathlib import Path

import numpy as np

from trainless.bench import UPDATED, scored_eps_errors

STEPS = (1, 3, 5, 10, 15, 25)
errors: dict[float, list[float]] = {}
steps_real: dict[float, list[int]] = {}
early: dict[float, list[bool]] = {}
ratios: dict[int, list[float]] = {t: [] for t in STEPS}
cases = 0
for suite in map(Path, sys.argv[1:]):
    for p in sorted((suite / "cases").glob("*.json")):
        d = json.loads(p.read_text())
        case = d["case"]
        if case["batch_size"] or case["loss"] != "ce" or case.get("head_start", "fresh") != "fresh":
            continue
        comp = next((c for c in d["comparisons"] if c["engine"] == UPDATED), None)
        if comp is None:
            continue
        cases += 1
        loss_eps = [e for e in comp["eps"] if e["basis"] == "loss"]
        for e, err in zip(loss_eps, scored_eps_errors(comp), strict=True):
            errors.setdefault(e["eps"], []).append(err)
            if e["predicted"] is not None and e["real"] is not None:
                steps_real.setdefault(e["eps"], []).append(e["real"])
                if e["predicted"] != e["real"]:
                    early.setdefault(e["eps"], []).append(e["predicted"] < e["real"])
        real = np.asarray(d["record"]["loss"])
        pred = np.asarray(d["predictions"][UPDATED]["loss"])
        pred = pred[0] if pred.ndim > 1 else pred
        for t in STEPS:
            ratios[t].append((real[0] - pred[t]) / (real[0] - real[t]))
print(f"{cases} full-batch CE fresh-head cases of {', '.join(Path(s).name for s in sys.argv[1:])}")
for eps, v in sorted(errors.items()):
    s = steps_real.get(eps, [])
    e = early.get(eps, [])
    print(
        f"eps {eps:4.2f}: relative T_eps error median {np.median(v):.0%} p95 {np.percentile(v, 95):.0%} "
        f"max {max(v):.0%}; real T_eps {min(s)}-{max(s)} steps (median {np.median(s):.0f}); "
        f"predicted first in {sum(e)} of {len(e)} that differ"
    )
for t, v in ratios.items():
    a = np.asarray(v)
    print(
        f"step {t:3d}: predicted / real loss decrease median {np.median(a):.2f} range {a.min():.2f}-{a.max():.2f}, "
        f"above 1 in {int((a > 1).sum())} of {len(a)}"
    )
