"""Exploration: is the two-path mean's gain (``stride_heldout.py``) a property of the denser stride, or of any second
sample of the path? A second path at the default stride 5 with its moves shifted by ``--offset`` steps (3, 8, 13, ...
instead of 5, 10, 15, ...; the kernel updates where they were), averaged with the cached default curve step by step,
against the mean of the cached and the kept stride-2 curves (``--kept``), on the same cases.

    python benchmarks/explore/phase_ensemble.py --kept bench/results/stride75 --stop-at 02:22 CASE.json ...

The shift is made by replacing ``trainless.predict._predict._move_steps`` in this process only (exploration; no option
of the predictor). The test, fixed before the run: the shifted mean better than the cached prediction on more cases than
worse with a pooled p95 not higher (``Tally.passed``), each curve scored from its loss curve.
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
    curve_figures,
    curve_scores_of,
    kept_path,
    load_kept,
    repredict_updated,
    stop_time,
)

from trainless.bench import UPDATED
from trainless.predict import _predict as predict_module  # the package name is shadowed by trainless.predict()

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
ap.add_argument("--kept", type=Path, required=True, help="stride_heldout.py's --save directory")
ap.add_argument("--offset", type=int, default=3)
ap.add_argument("--stop-at", default=None, help="start no case after this UTC time of day (HH:MM, the next one)")
a = ap.parse_args()


def shifted_moves(stride: int | None, steps: int, updates: tuple[int, ...], phase: int = 0) -> tuple[int, ...]:
    # The predictor now passes a phase (path_samples); this script's --offset replaces it.
    return () if stride is None else tuple(t for t in range(a.offset, steps, stride) if t not in updates)


predict_module._move_steps = shifted_moves

stop = stop_time(a.stop_at)

tallies = {name: Tally() for name in ("shifted", "mean shifted", "mean stride 2")}
for p in a.cases:
    if stop is not None and dt.datetime.now(dt.timezone.utc) > stop:
        print(f"stopped after {tallies['shifted'].cases} of {len(a.cases)} cases (--stop-at {a.stop_at} UTC)")
        break
    d = json.loads(p.read_text(encoding="utf-8"))
    kept = load_kept(kept_path(a.kept, p))
    _, result, _ = repredict_updated(d, {"path_stride": 5})
    assert result["predictions"][UPDATED]["options"]["path_stride"] == 5
    real = np.asarray(d["record"]["loss"], dtype=float)
    cached, shifted, stride2 = (np.asarray(x["predictions"][UPDATED]["loss"], dtype=float) for x in (d, result, kept))
    base = curve_figures(cached, real)
    figures = {
        "shifted": curve_figures(shifted, real),
        "mean shifted": curve_figures((cached + shifted) / 2, real),
        "mean stride 2": curve_figures((cached + stride2) / 2, real),
    }
    for name, tally in tallies.items():
        tally.count(curve_scores_of(base), curve_scores_of(figures[name]), base["eps"], figures[name]["eps"])
    line = [f"{name}: max {s['max']:.0%} loss at T {s['final']:.0%}" for name, s in figures.items()]
    print(
        f"{p.stem[:8]} {d['case']['tag']} cached: max {base['max']:.0%} loss at T {base['final']:.0%} |",
        " | ".join(line),
    )
    sys.stdout.flush()

for name, t in tallies.items():
    print(f"{name} against cached: {t.cases} cases, {t.summary()}")
