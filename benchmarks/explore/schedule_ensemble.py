"""Exploration: is the full-batch GD tail noise that averaging two updated paths would cancel?

The GD tail was traced to run-to-run scatter of the updated path's kernels (``gd_tail.py``), and the outcome moves
by more than the error itself from one schedule of moves to the next (``equal_moves.py``). If the two paths' errors
are partly independent, the mean of their loss curves has a smaller tail than either. For each case file, the cached
kernel-updates prediction (stride 5 at T = 150) and the same prediction made again with ``path_stride=S`` (real run
from the cache) are scored against the real loss curve, and so is their mean, step by step (``eps_errors``, the
bench's pooling); pooled p95 and median of the relative T_eps errors on the loss and the largest error per case, for
each of the three. No constant is fitted: the mean is of two predictions the user could make.

    python benchmarks/explore/schedule_ensemble.py --stride 2 CASE.json ...

Run first on the 39 N = 50 GD cases of ``stride_density_n50.txt`` (log ``schedule_ensemble_n50.txt``: the mean's
pooled p95 17.3% against 20.7% and 20.0%). Then held out (log ``schedule_ensemble_n100.txt``) on the other cases of
that selection, N = 80-200, in case-id order, ``--stop-after 2400``, the test fixed before the run: the mean better
than the cached prediction on more cases than worse (largest error, ties within ``TIE``) with a pooled p95 not higher.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import TIE, Tally, curve_figures, curve_scores_of, repredict_updated

from trainless.bench import UPDATED

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
ap.add_argument("--stride", type=int, default=2)
ap.add_argument("--stop-after", type=float, default=None, help="start no case after this many seconds")
a = ap.parse_args()
started = time.perf_counter()

# Both against the cached prediction (base): the stride-S curve and the mean, each case counted as Tally counts it.
tallies = {f"stride {a.stride}": Tally(), "mean": Tally()}
for p in a.cases:
    if a.stop_after is not None and time.perf_counter() - started > a.stop_after:
        print(f"stopped after {tallies['mean'].cases} of {len(a.cases)} cases (--stop-after {a.stop_after:.0f} s)")
        break
    d = json.loads(p.read_text(encoding="utf-8"))
    real = np.asarray(d["record"]["loss"], dtype=float)
    cached = np.asarray(d["predictions"][UPDATED]["loss"], dtype=float)
    _, result, _ = repredict_updated(d, {"path_stride": a.stride})
    new = np.asarray(result["predictions"][UPDATED]["loss"], dtype=float)
    figures = {
        name: curve_figures(curve, real)
        for name, curve in (("cached", cached), (f"stride {a.stride}", new), ("mean", (cached + new) / 2))
    }
    base = figures["cached"]
    for name, tally in tallies.items():
        tally.count(curve_scores_of(base), curve_scores_of(figures[name]), base["eps"], figures[name]["eps"])
    line = [f"{name}: max {s['max']:.0%} loss at T {s['final']:.0%}" for name, s in figures.items()]
    print(p.stem[:8], d["case"]["tag"], " | ".join(line), flush=True)

for name, tally, side in (("cached", tallies["mean"], "base"), *((n, t, "new") for n, t in tallies.items())):
    largest = tally.figures("eps_max", side)
    print(
        f"{name:9s}: pooled T_eps p95 {tally.p95(side):.1%} median {tally.median(side):.1%}; largest per case median "
        f"{statistics.median(largest):.0%}, above 25% on {sum(m > 0.25 for m in largest)} of {len(largest)}"
    )

mean = tallies["mean"]
print(
    f"mean against cached: better on {mean.better}, worse on {mean.worse}, tied on {mean.tie} (largest error per "
    f"case, tie within {TIE:.0%}); held-out test {'passed' if mean.passed() else 'FAILED'}"
)
