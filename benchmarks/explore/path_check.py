"""Exploration: does the real network at the path's weights, early in the run, tell the bad updated predictions
from the good ones where the endpoint check (at T) does not?

For each cached bench case without momentum (the auto mode's updates), the kernel-updates prediction is made
again (real run from the cache; ``run_case(..., only={"discrete+updates"})``); its kernel path now records, at
each update, the real network's loss at the path's weights and the output gap there. Printed per case: the
largest relative T_eps error of the cached updated prediction (the bench's), its endpoint ratio at T, and the
path's real / linearized loss ratio and output gap at each update. Nothing is calibrated here. Kept as run;
the log is in benchmarks/results/explore/path_check.txt.

    python benchmarks/explore/path_check.py CASE.json ...
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import cached_updated_cases, comparison_scores, repredict_updated

from trainless.bench import UPDATED

for p, d, cached in cached_updated_cases(sys.argv[1:]):
    end = d["predictions"][UPDATED]["endpoint"]
    ratio = end["loss_real"] / end["loss_linear"] if end else float("nan")
    case, result, _ = repredict_updated(d)
    rows = result["predictions"][UPDATED]["kernel_path"]
    path = " ".join(
        f"{int(r['step'])}:{r['path_loss_real'] / r['path_loss_linear']:.2f}/{r['path_output_gap']:.2f}" for r in rows
    )
    print(
        f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={result['n']:3d} B={case.batch_size:2d} "
        f"max {comparison_scores(cached)['eps_max']:.0%} endpoint {ratio:.2f} | step:loss ratio/gap {path}",
        flush=True,
    )
