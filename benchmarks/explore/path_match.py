"""Exploration: the output-matched path (``PredictConfig(path_match=True)``) against the default kernel updates.

At each kernel update the path's weights w_p give a real network whose outputs are far from the linearized
run's (output gap 0.4-1.0 of the predicted change at step 10-100, ``path_check.py``), while the real run's
weights give outputs whose loss the updated prediction tracks: the path's kernels are those of a network that
does not produce the predicted function. path_match moves w_p by the minimum-norm Gauss-Newton step towards
the linearized outputs (filtered by what the run could have fitted so far) before the next segment. For each
cached case (no momentum), the kernel-updates prediction is made again with path_match (real run from the
cache) and printed next to the cached default: largest / median relative T_eps error, levels, loss at T, and
the kernel path's trace ratio, residual rate and real / linearized loss at each update. Kept as run; the log is
in benchmarks/results/explore/path_match.txt. The option was not kept (not adopted: mixed on six GD cases, and
unstable when applied at every stride move too): apply benchmarks/results/explore/path_match.patch to src/
(`git apply`) before running this.

    python benchmarks/explore/path_match.py CASE.json ...
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import cached_updated_cases, comparison_scores, repredict_updated, score_line

from trainless.bench import UPDATED

for p, d, cached in cached_updated_cases(sys.argv[1:]):
    t0 = time.perf_counter()
    case, result, comp = repredict_updated(d, {"path_match": True})
    rows = result["predictions"][UPDATED]["kernel_path"]
    path = " ".join(
        f"{int(r['step'])}:{r['trace_ratio']:.2f}/{r['residual_rate']:.1f}/"
        f"{r['path_loss_real'] / r['path_loss_linear']:.2f}"
        for r in rows
    )
    print(
        f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={result['n']:3d} B={case.batch_size:2d} "
        f"lr={case.lr}\n"
        f"   default  {score_line(comparison_scores(cached))}\n"
        f"   matched  {score_line(comparison_scores(comp))}  ({time.perf_counter() - t0:.0f} s)\n"
        f"   matched  eps pred/real "
        + " ".join(f"{e['predicted']}/{e['real']}" for e in comp["eps"] if e["basis"] == "loss")
        + f"\n   matched  step:trace/rate/real-over-linear loss {path}",
        flush=True,
    )
