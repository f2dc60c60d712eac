"""Exploration: one more kernel update, early (T/30: step 5 at T = 150), before the auto schedule's T/15, T/6,
T/3, 2T/3.

Up to the first update the updated prediction is the frozen one, and the eps = 40% level falls at steps 8-20 on
the GD cases, around or before the first update (step 10): the largest errors there (e.g. an N = 100 run whose
real loss falls slower than the linearized one from step 2 on, its path kernel's trace 0.83x at step 10) are the
frozen kernel's. One kernel more costs about one kernel (5-9 s at N = 50-100). For each cached case without
momentum, the kernel-updates prediction is made again with the early update added (real run from the cache) and
printed next to the cached default: largest / median relative T_eps error, levels, loss at T, and the predicted /
real T_eps per eps. Kept as run; the log is in benchmarks/results/explore/early_update.txt.

    python benchmarks/explore/early_update.py CASE.json ...
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import cached_updated_cases, comparison_scores, repredict_updated, score_line

for p, d, cached in cached_updated_cases(sys.argv[1:]):
    steps = d["case"]["steps"]
    schedule = sorted({round(steps / 30), *d["case"]["kernel_updates"]})
    t0 = time.perf_counter()
    case, result, comp = repredict_updated(d, case_changes={"kernel_updates": schedule})
    eps = " ".join(
        f"{a['predicted']}/{b['predicted']}/{a['real']}"
        for a, b in zip(cached["eps"], comp["eps"], strict=True)
        if a["basis"] == "loss"
    )
    print(
        f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={result['n']:3d} B={case.batch_size:2d} "
        f"lr={case.lr} updates {schedule}\n"
        f"   default  {score_line(comparison_scores(cached))}\n"
        f"   early    {score_line(comparison_scores(comp))}  ({time.perf_counter() - t0:.0f} s)\n"
        f"   eps 1/5/10/20/40%: default/early/real {eps}",
        flush=True,
    )
