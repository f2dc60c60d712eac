"""Exploration: two weight paths along the gradient flow under momentum, on the cached cases the default predicts so.

For each case file given, if it has momentum and its default prediction (``bench._run.auto_comparison``) is the
kernel-updates one (along the flow, from 85% zero head inputs at init), its kernel-updates prediction is made again
with ``path_samples=2`` (the real run from the cache, ``fidelity_default.repredict_updated``). Its first path is
compared with the cached one-path prediction (the same computation: the largest difference of the loss curves is
printed) and the mean counted against the cached prediction as the held-out tests count (:class:`fidelity_default.Tally`
on the two bench comparisons). ``--save DIR`` keeps each new prediction (``DIR/<suite>/<case id>.json.gz``, read back
when run again). The test, fixed before the run: ``benchmarks/results/explore/flow_paths_test.md``.

    python benchmarks/explore/flow_paths.py --save bench/results/flowpaths --stop-at 07:55 \\
        bench/results/unseen{37,38,39,40,41,42}/cases/*.json
"""

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import (
    Tally,
    comparison_scores,
    keep_result,
    kept_path,
    load_kept,
    repredict_updated,
    score_line,
    stop_time,
)

from trainless.bench import UPDATED
from trainless.bench._run import auto_comparison

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
ap.add_argument("--save", type=Path, default=None, help="keep each new prediction under this directory")
ap.add_argument("--stop-at", default=None, help="start no case after this UTC time of day (HH:MM, the next one)")
a = ap.parse_args()

stop = stop_time(a.stop_at)
tally = Tally()
for p in a.cases:
    d = json.loads(p.read_text(encoding="utf-8"))
    if d["case"]["momentum"] == 0 or UPDATED not in d["predictions"]:
        continue
    default = auto_comparison(d)
    if default is None or default["engine"] != UPDATED:
        continue
    if stop is not None and dt.datetime.now(dt.timezone.utc) > stop:
        print(f"stopped after {tally.cases} cases (--stop-at {a.stop_at} UTC)", flush=True)
        break
    kept = kept_path(a.save, p) if a.save else None
    if kept is not None and kept.is_file():
        fresh = load_kept(kept)
    else:
        _, fresh, _ = repredict_updated(d, {"path_samples": 2})
        if kept is not None:
            keep_result(kept, fresh)
    pred = fresh["predictions"][UPDATED]
    paths = pred.get("path_losses") or []
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    new = next(c for c in fresh["comparisons"] if c["engine"] == UPDATED)
    tally.add(cached, new)
    first_gap = (
        float(np.max(np.abs(np.asarray(paths[0]) - np.asarray(d["predictions"][UPDATED]["loss"])))) if paths else None
    )
    print(
        f"{p.stem[:8]} {p.parent.parent.name:9s} {d['case']['tag']:16s} N={d['n']} {d['resolution']}px "
        f"B={d['case']['batch_size']} | one path: {score_line(comparison_scores(cached))} | mean of {len(paths)}: "
        f"{score_line(comparison_scores(new))} | first path against the cached: "
        f"{'-' if first_gap is None else f'{first_gap:.2g}'} [{pred['seconds']:.0f} s]",
        flush=True,
    )
if tally.cases:
    print(f"mean of two flow paths against one, {tally.cases} cases: {tally.summary()}")
