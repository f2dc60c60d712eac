"""Exploration: within cached bench cases made with the two-path default, the mean of the paths against its first path.

A prediction made with ``path_samples`` above 1 keeps each path's loss curve (``Prediction.path_losses``); the first
is the one-path prediction the default made before 2026-12-06. Each case's first path and the mean (the prediction's
loss) are scored from their loss curves against the real run (``fidelity_default.curve_figures``) and counted as the
held-out tests count (:class:`fidelity_default.Tally`: largest relative T_eps error on the loss per case, a tie within
one point; pooled (eps, loss) errors). Cases whose kernel-updates prediction made one path are listed and left out.
Nothing is predicted.

    python benchmarks/explore/paths_in_suite.py bench/results/unseen49/cases/*.json

The test of unseen49 (fixed in its TOML before it ran): the mean better on more cases than worse with a pooled p95 not
higher (``Tally.summary``'s verdict).

``--split`` keeps the fresh-head cross-entropy cases without momentum and counts them per regime (full-batch GD,
plain SGD) and side of the stability edge at w0, one tally each, after the per-case lines; the record of the two
paths on the suites run after they became the default (unseen51 on) is

    python benchmarks/explore/paths_in_suite.py --split bench/results/unseen{51..66}/cases/*.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, curve_figures, curve_scores_of

from trainless.bench import UPDATED
from trainless.predict._config import is_full_batch


def group(d: dict) -> str | None:
    """The case's regime and side of the edge ("GD below the edge", ...), or None when --split leaves it out."""
    c = d["case"]
    if c["loss"] != "ce" or c.get("momentum", 0) or c.get("head_start") != "fresh":
        return None
    full = is_full_batch(c["batch_size"], d["record"]["n"])
    edge = d["predictions"][UPDATED].get("edge_ratio")
    side = "past the edge" if edge is not None and edge > 1.0 else "below the edge"
    return f"{'full-batch GD' if full else 'plain SGD'}, {side}"


ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path, help="cached case results (bench/results/SUITE/cases/*.json)")
ap.add_argument("--split", action="store_true", help="fresh-head CE without momentum, per regime and side of the edge")
a = ap.parse_args()

tallies: dict[str, Tally] = {}
for p in a.cases:
    d = json.loads(p.read_text(encoding="utf-8"))
    pred = d["predictions"].get(UPDATED)
    paths = (pred or {}).get("path_losses") or []
    if len(paths) < 2:
        print(f"{p.stem[:8]} {d['case']['tag']:14s} one path: left out", flush=True)
        continue
    key = group(d) if a.split else "all"
    if key is None:
        continue
    real = np.asarray(d["record"]["loss"], dtype=float)
    first, mean = curve_figures(np.asarray(paths[0], dtype=float), real), curve_figures(np.asarray(pred["loss"]), real)
    tally = tallies.setdefault(key, Tally())
    tally.count(curve_scores_of(first), curve_scores_of(mean), first["eps"], mean["eps"])
    print(
        f"{p.stem[:8]} {d['case']['tag']:14s} N={d['n']} {d['resolution']}px lr={d['lr']:.1e} | first path: largest "
        f"T_eps {first['max']:.0%}, loss at T {first['final']:.0%} | mean of {len(paths)}: largest T_eps "
        f"{mean['max']:.0%}, loss at T {mean['final']:.0%}",
        flush=True,
    )
for key, tally in sorted(tallies.items()):
    where = "" if key == "all" else f" ({key})"
    print(f"mean of the paths against the first path{where}, {tally.cases} cases: {tally.summary()}")
