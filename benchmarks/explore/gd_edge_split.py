"""Exploration: the default's full-batch GD T_eps errors (fresh heads, cross-entropy; the cached cases of the suites
written before they ran, scored as the suites table scores them, ``auto_comparison``) split by the lr over the
linearized stability edge at w0 (the prediction's ``edge_ratio``, measurable before training): is the GD tail a
regime the trust signal could single out? Per split, the p95 and median over (case, eps) pairs and, per eps, the
signed error (predicted - real) / real. Nothing is predicted.

    python benchmarks/explore/gd_edge_split.py \
        bench/results/{longer,unseen,unseen2,...,unseen52,practice,plainsgd,mseedge}

Log: benchmarks/results/explore/gd_edge_split.txt (2026-12-06, the 56 suites written before they ran).
"""

import json
import sys
from pathlib import Path

import numpy as np

from trainless.bench._run import auto_comparison

rows = []
for suite in map(Path, sys.argv[1:]):
    for path in sorted((suite / "cases").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        c = d["case"]
        if c["loss"] != "ce" or c.get("head_start", "fresh") != "fresh" or c.get("batch_size"):
            continue
        comparison = auto_comparison(d)
        if comparison is None:
            continue
        edge = d["predictions"]["discrete+updates"].get("edge_ratio") or 0.0
        for x in comparison["eps"]:
            if x["basis"] != "loss":
                continue
            p, r = x["predicted"], x["real"]
            error = 1.0 if p is None or r is None else abs(p - r) / r
            signed = None if p is None or r is None else (p - r) / r
            rows.append((edge, x["eps"], error, signed, c["steps"]))

everything = np.array([r[2] for r in rows])
print(f"{len(rows) // 5} GD runs, {len(rows)} (run, eps) errors: p95 {np.percentile(everything, 95):.0%}")
top = [r for r in rows if r[2] > np.percentile(everything, 95)]
print(f"of the {len(top)} above the p95, {sum(r[0] > 0.5 for r in top)} at an edge ratio above 0.5")
for name, inside in (
    ("edge ratio <= 0.5", lambda e: e <= 0.5),
    ("0.5 < edge ratio <= 1", lambda e: 0.5 < e <= 1),
    ("edge ratio > 1", lambda e: e > 1),
):
    part = [r for r in rows if inside(r[0])]
    errors = np.array([r[2] for r in part])
    at150 = np.array([r[2] for r in part if r[4] == 150])
    print(
        f"{name}: {len(part) // 5} runs, p95 {np.percentile(errors, 95):.0%} median {np.median(errors):.0%}; "
        f"T = 150 alone p95 {np.percentile(at150, 95):.0%}"
    )
    for eps in (0.01, 0.05, 0.1, 0.2, 0.4):
        s = np.array([r[3] for r in part if r[1] == eps and r[3] is not None])
        print(
            f"   eps {eps}: signed median {np.median(s):+.2f}, late {np.mean(s > 0):.0%}, early {np.mean(s < 0):.0%}, "
            f"5-95% {np.percentile(s, 5):+.2f}..{np.percentile(s, 95):+.2f}"
        )
