"""Exploration: the ``update_shape="scaled"`` kernel updates (Theta_0 scaled to each updated kernel's trace) on
cached bench cases, next to the cached default (``full``).

For each case file the kernel-updates prediction is made again with ``update_shape="scaled"`` (the real run
from the cache; ``run_case(..., only={"discrete+updates"})``) and both are scored against the real run, then
pooled by regime the way the bench pools them (``scored_eps_errors``: relative T_eps errors over the eps grid;
median level and loss-at-T errors per case). Kept as run; the logs are in benchmarks/results/explore/:
scaled_mode_sgd.txt (the seven plain SGD cases of the public and unseen2 suites), scaled_mode_gd.txt (eight
public fresh-head GD cases: worse than the full updates there) and scaled_mode_plainsgd.txt (the plainsgd suite,
written before it ran).

    python benchmarks/explore/scaled_mode.py CASE.json ...
"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, repredict_updated, score_line

from trainless.bench import UPDATED, quantile, scored_eps_errors

pooled: dict[str, dict[str, list[float]]] = {}
for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    t0 = time.perf_counter()
    case, _, new = repredict_updated(d, {"update_shape": "scaled"})
    seconds = time.perf_counter() - t0
    regime = "gd" if not case.batch_size else ("sgd-m" if case.momentum else "sgd")
    for name, comp in (("full", cached), ("scaled", new)):
        acc = pooled.setdefault(f"{regime} {name}", {"eps": [], "levels": [], "final": []})
        acc["eps"].extend(scored_eps_errors(comp))
        s = comparison_scores(comp)
        acc["levels"].append(s["levels_median"])
        acc["final"].append(s["final_loss_error"])
    print(
        f"{p.stem[:8]} {case.tag:10s} full: {score_line(comparison_scores(cached))} | scaled: "
        f"{score_line(comparison_scores(new))} [{seconds:.0f} s]",
        flush=True,
    )
for key, acc in sorted(pooled.items()):
    print(
        f"{key:12s} cases {len(acc['final']):2d}: T_eps median {quantile(acc['eps'], 0.5):.0%} p95 "
        f"{quantile(acc['eps'], 0.95):.0%}, levels {statistics.median(acc['levels']):.0%}, loss at T "
        f"{statistics.median(acc['final']):.0%}"
    )
