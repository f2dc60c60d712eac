"""Exploration: a denser weight stride than the default on cached bench cases.

For each case file, the cached kernel-updates prediction (made with the default ``path_stride="auto"``, every
T/30 steps without momentum) is scored next to the same prediction made again with ``path_stride=S``
(``run_case(..., only={"discrete+updates"})``, the real run from the cache): largest and median relative
T_eps error on the loss, median level error, loss-at-T error, and the prediction's seconds; then the cases counted
as the held-out tests count them (:class:`fidelity_default.Tally`: better / worse / tied on the largest error, pooled
p95 and median, the test passed when better on more cases than worse with a p95 not higher) and the cost ratio.

    python benchmarks/explore/stride_density.py --stride 2 CASE.json ...
    python benchmarks/explore/stride_density.py --stride 2 --timing CASE.json ...   # the costs, back to back

First run on eight public cases chosen after seeing their errors (log ``stride_density.txt``). Held out on
2026-12-05 (log ``stride_density_n50.txt``): every fresh-head cross-entropy full-batch GD case at N = 50, 64 px,
T = 150, constant lr, with a path stride, of the suites unseen to unseen48 (39 cases), in case-id order, the test
(``Tally.passed``) fixed before the run.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, comparison_scores, repredict_updated, score_line

from trainless.bench import UPDATED

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
ap.add_argument("--stride", type=int, default=2)
ap.add_argument(
    "--timing",
    action="store_true",
    help="only time: predict each case with the auto stride (5 at T = 150) and --stride, twice, back to back",
)
a = ap.parse_args()

if a.timing:
    # The cached predictions' seconds come from other days and loads; only back-to-back runs compare costs.
    for p in a.cases:
        d = json.loads(p.read_text())
        lines = []
        for stride in ("auto", a.stride, "auto", a.stride):
            _, result, _ = repredict_updated(d, {"path_stride": stride})
            pred = result["predictions"][UPDATED]
            lines.append(
                f"stride {pred['options']['path_stride']}: prediction {pred['seconds']:.1f} s (kernels "
                f"{pred['kernel_seconds']:.1f} s, est. real run {pred['estimated_run_seconds']:.1f} s)"
            )
        print(p.stem[:8], " | ".join(lines), flush=True)
    sys.exit()


tally, seconds_ratio = Tally(), []
for p in a.cases:
    d = json.loads(p.read_text())
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    was = d["predictions"][UPDATED]["options"]["path_stride"]
    t0 = time.perf_counter()
    case, _, new = repredict_updated(d, {"path_stride": a.stride})
    seconds = time.perf_counter() - t0
    tally.add(cached, new)
    seconds_ratio.append(seconds / d["predictions"][UPDATED]["seconds"])
    print(
        f"{p.stem[:8]} {case.tag:8s} stride {was}: {score_line(comparison_scores(cached))} "
        f"[{d['predictions'][UPDATED]['seconds']:.0f} s] | stride {a.stride}: {score_line(comparison_scores(new))} "
        f"[{seconds:.0f} s]",
        flush=True,
    )

final = {side: statistics.median(tally.figures("final_loss_error", side)) for side in ("base", "new")}
print(
    f"{tally.cases} cases: stride {a.stride} better on {tally.better}, worse on {tally.worse}, tied on {tally.tie}; "
    f"pooled T_eps p95 {tally.p95('base'):.1%} -> {tally.p95('new'):.1%}, median {tally.median('base'):.1%} -> "
    f"{tally.median('new'):.1%}; loss at T median {final['base']:.0%} -> {final['new']:.0%}; "
    f"seconds, median ratio to the cached {statistics.median(seconds_ratio):.2f}; "
    f"test {'passed' if tally.passed() else 'FAILED'}"
)
