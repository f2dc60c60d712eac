"""Exploration: on the cached momentum runs where the default keeps the frozen kernel (below 85% zero head inputs),
the flow's updates and the mean of the two curves against the frozen kernel. Nothing is predicted: both curves are
in each case's cached predictions (``discrete``, and ``discrete+updates``, which under momentum the bench takes along
the gradient flow). Counted as the held-out tests count (``fidelity_default.Tally``: largest relative T_eps error on
the loss per case, a tie within one point; pooled (eps, loss) errors; "passed" needs more cases better than worse and
a pooled p95 not higher).

    python benchmarks/explore/momentum_curve_mean.py \
        bench/results/{longer,unseen,unseen2,...,unseen52,practice,plainsgd,mseedge}

Log: benchmarks/results/explore/momentum_curve_mean.txt (2026-12-06, the 56 suites written before they ran).
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, curve_figures, curve_scores_of

GATE = 0.85  # from this share of zero penultimate features the default already takes the flow under momentum

tallies = {"flow": Tally(), "arithmetic mean": Tally(), "geometric mean": Tally()}
skipped = 0
for suite in map(Path, sys.argv[1:]):
    for path in sorted((suite / "cases").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        c = d["case"]
        if c.get("momentum", 0) == 0 or c["loss"] != "ce" or c.get("head_start", "fresh") != "fresh":
            continue
        preds = d["predictions"]
        if "discrete+updates" not in preds:
            continue
        shares = (preds[k].get("inactive_share") for k in ("discrete+updates", "discrete"))
        share = next((v for v in shares if v is not None), None)
        if share is not None and share >= GATE:
            continue
        real = np.asarray(d["record"]["loss"], dtype=float)
        frozen = np.asarray(preds["discrete"]["loss"], dtype=float)
        flow = np.asarray(preds["discrete+updates"]["loss"], dtype=float)
        if len(flow) != len(frozen) or not np.all(np.isfinite(flow)):
            skipped += 1
            continue
        base = curve_figures(frozen, real)
        for name, curve in (
            ("flow", flow),
            ("arithmetic mean", (frozen + flow) / 2),
            ("geometric mean", np.sqrt(frozen * flow)),
        ):
            other = curve_figures(curve, real)
            tallies[name].count(curve_scores_of(base), curve_scores_of(other), base["eps"], other["eps"])
for name, tally in tallies.items():
    print(f"{name} against the frozen kernel, {tally.cases} momentum runs below {GATE:.0%} zero: {tally.summary()}")
if skipped:
    print(f"{skipped} runs left out (a flow curve that did not complete)")
