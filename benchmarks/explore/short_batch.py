"""Exploration: do the plain SGD runs whose epochs end in a short batch set the SGD tail?

DataLoader without drop_last closes each epoch of N samples with a batch of N mod B (N = 50 at batch 16: a batch of
2), and every batch averages its own loss, so that step is a larger step per sample. From the cached cases (nothing is
run): (1) per such run, the relative change of the whole-train loss at the short-batch steps and at the full ones
(mean over the first 60 steps), in the real run and in the linearized run with the same batch order (the default
prediction's ``paired_loss``); (2) the default's T_eps errors, p95 / median over (run, eps), of the fresh-head
cross-entropy runs below the stability edge at w0 and of all, split by whether the last batch holds at most a quarter
of the batch size. Looked at after the runs (2026-12-07), so a hypothesis: unseen61 tests it. The log is in
benchmarks/results/explore/short_batch.txt.

    python benchmarks/explore/short_batch.py bench/results/{longer,unseen} bench/results/unseen{2..60} \
        bench/results/{practice,plainsgd,mseedge}
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from suites_table import below_edge, load

from trainless.bench import UPDATED
from trainless.bench._run import auto_comparison, quantile, result_regime, scored_eps_errors


def short_last(result: dict) -> bool:
    b = result["case"]["batch_size"]
    last = result["n"] % b
    return 0 < last <= b / 4


results = [r for p in map(Path, sys.argv[1:]) for r in load(p)]
fresh = [r for r in results if r["case"]["loss"] == "ce" and r["case"].get("head_start", "fresh") == "fresh"]
print("(1) relative change of the whole-train loss per step, mean over steps 0-59: short-batch steps / full ones")
for r in fresh:
    if result_regime(r) != "sgd-ce" or not below_edge(r) or r["n"] % r["case"]["batch_size"] == 0:
        continue
    b = r["case"]["batch_size"]
    real = np.array(r["record"]["loss"])
    pair = np.array(r["predictions"][UPDATED]["paired_loss"])
    sizes = np.array([len(x) for x in r["record"]["batches"]])
    steps = np.arange(len(sizes))
    short, full = (steps < 60) & (sizes < b), (steps < 60) & (sizes == b)
    dr = (real[1 : len(sizes) + 1] - real[: len(sizes)]) / real[: len(sizes)]
    dp = (pair[1 : len(sizes) + 1] - pair[: len(sizes)]) / pair[: len(sizes)]
    print(
        f"{r['case_id'][:8]} N {r['n']} batch {b} (last {r['n'] % b}) {r['resolution']} px lr {r['case']['lr']:g}: "
        f"real {dr[short].mean():+.3f} / {dr[full].mean():+.3f}, linearized {dp[short].mean():+.3f} / "
        f"{dp[full].mean():+.3f}"
    )
print()
print("(2) the default's T_eps errors, p95 / median over (run, eps)")
for regime in ("sgd-ce", "sgd-momentum-ce"):
    for where, keep in (("below the edge", below_edge), ("all", lambda r: True)):
        runs = [r for r in fresh if result_regime(r) == regime and keep(r)]
        for name, sub in (
            ("last batch <= B/4", [r for r in runs if short_last(r)]),
            ("others", [r for r in runs if not short_last(r)]),
            ("all", runs),
        ):
            e = [x for r in sub for x in scored_eps_errors(auto_comparison(r))]
            p95, median = quantile(e, 0.95), quantile(e, 0.5)
            print(f"{regime:16s} {where:15s} {name:18s} {len(sub):3d} runs: {p95:.1%} / {median:.1%}")
