"""Exploration (after the fact, 2026-12-07; cached cases only, nothing is run): which way the default's full-batch GD
predictions miss below the stability edge, per eps, and whether the early lag grows with the kernel's growth along
the predicted path between its first two updates.

Fresh-head cross-entropy full-batch GD runs whose lr is below the edge at w0 (``suites_table.below_edge``), the
default's comparison (``bench.auto_comparison``): per eps, the quantiles of predicted T_eps over the real one; then,
on the runs at T = 150 whose prediction has updates at steps 1, 10 and 25, the median of that ratio at eps 20% per
bin of the trace's growth between the updates at steps 1 and 10 (tr Theta_10 / tr Theta_1, from ``kernel_path``).

    python benchmarks/explore/early_lag.py bench/results/longer bench/results/unseen bench/results/unseen{2..70} \
        bench/results/{practice,plainsgd,mseedge}

Log: benchmarks/results/explore/early_lag.txt.
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from suites_table import below_edge, load

from trainless.bench import UPDATED, auto_comparison
from trainless.bench._run import result_regime

GROWTH_BINS = (0.0, 1.0, 1.1, 1.2, 1.5, np.inf)

ap = argparse.ArgumentParser()
ap.add_argument("suites", nargs="+", type=Path, help="bench result folders (bench/results/SUITE)")
a = ap.parse_args()

ratios: dict[float, list[float]] = {}
growth, lag = [], []
for suite in a.suites:
    for r in load(suite):
        c = r["case"]
        if c["loss"] != "ce" or c.get("head_start", "fresh") != "fresh" or result_regime(r) != "gd-ce":
            continue
        if not below_edge(r):
            continue
        eps = {e["eps"]: e for e in auto_comparison(r)["eps"] if e["basis"] == "loss"}
        for k, e in eps.items():
            if e["predicted"] and e["real"]:
                ratios.setdefault(k, []).append(e["predicted"] / e["real"])
        traces = {int(k["step"]): k["trace_ratio"] for k in r["predictions"][UPDATED].get("kernel_path") or ()}
        e20 = eps.get(0.2)
        if c["steps"] == 150 and {1, 10, 25} <= traces.keys() and e20 and e20["predicted"] and e20["real"]:
            growth.append(traces[10] / traces[1])
            lag.append(e20["predicted"] / e20["real"])

print("predicted T_eps / real T_eps, full-batch GD below the edge (fresh heads, cross-entropy)")
for k, v in sorted(ratios.items()):
    q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    late = sum(x > 1 for x in v) / len(v)
    early = sum(x < 1 for x in v) / len(v)
    print(
        f"eps {k:4.2f}: {len(v)} runs, quantiles 5/25/50/75/95% "
        + " / ".join(f"{x:.2f}" for x in q)
        + f"; later than the real run on {late:.0%}, earlier on {early:.0%}"
    )
g, s = np.asarray(growth), np.asarray(lag)
print(f"\nthe lag at eps 20% by the trace's growth between the updates at steps 1 and 10 ({len(g)} runs at T = 150)")
for lo, hi in itertools.pairwise(GROWTH_BINS):
    m = (g >= lo) & (g < hi)
    if m.any():
        print(f"tr Theta_10 / tr Theta_1 in [{lo:g}, {hi:g}): {int(m.sum())} runs, median ratio {np.median(s[m]):.3f}")
