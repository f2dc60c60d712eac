"""Exploration: a denser weight stride than the default on cached bench cases.

For each case file, the cached kernel-updates prediction (made with the default ``path_stride="auto"``, every
T/30 steps without momentum) is scored next to the same prediction made again with ``path_stride=S``
(``run_case(..., only={"discrete+updates"})``, the real run from the cache): largest and median relative
T_eps error on the loss, median level error, loss-at-T error, and the prediction's seconds. Kept as run.

    python benchmarks/explore/stride_density.py --stride 2 CASE.json ...
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, repredict_updated, score_line

from trainless.bench import UPDATED

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
ap.add_argument("--stride", type=int, default=2)
a = ap.parse_args()


for p in a.cases:
    d = json.loads(p.read_text())
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    was = d["predictions"][UPDATED]["options"]["path_stride"]
    t0 = time.perf_counter()
    case, _, new = repredict_updated(d, {"path_stride": a.stride})
    seconds = time.perf_counter() - t0
    print(
        f"{p.stem[:8]} {case.tag:8s} stride {was}: {score_line(comparison_scores(cached))} "
        f"[{d['predictions'][UPDATED]['seconds']:.0f} s] | stride {a.stride}: {score_line(comparison_scores(new))} "
        f"[{seconds:.0f} s]",
        flush=True,
    )
