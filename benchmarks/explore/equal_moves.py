"""Exploration: place the weight moves at equal predicted displacement instead of every T/30 steps.

A move replaces the J-steps since the last one by one step along the Jacobian where they started; its error
grows like the square of the displacement it covers, so for a fixed number of moves the sum is least when
each covers the same displacement. The displacement per step comes from the frozen-kernel prediction (the
case's cached ``discrete`` curve, what predict_from could simulate for about a second): ||dw_t|| ~
sqrt(lr_t (L_t - L_t+1)) (first order: GD lowers L by lr ||grad||^2). As many moves as the auto stride makes
(25 at T = 150 besides the 4 updates), so the cost is the same; the schedule is swapped in for
``_predict._move_steps``. Scored next to the cached auto-stride prediction; kept as run.

    python benchmarks/explore/equal_moves.py [--hybrid] CASE.json ...
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, repredict_updated, score_line

from trainless.bench import UPDATED
from trainless.finetune import FinetuneConfig, learning_rates
from trainless.predict import _predict as predict_module


def equal_displacement_steps(frozen_loss, lrs, moves: int, updates: tuple[int, ...]) -> tuple[int, ...]:
    """``moves`` steps (1..T-1) at equal increments of the frozen run's path length, the updates left out."""
    loss = np.asarray(frozen_loss, dtype=float)
    step = np.sqrt(np.asarray(lrs[: len(loss) - 1]) * np.clip(loss[:-1] - loss[1:], 0.0, None))
    length = np.cumsum(step)  # length[t - 1]: path length after t steps
    targets = length[-1] * np.arange(1, moves + 1) / (moves + 1)
    at = np.searchsorted(length, targets) + 1
    return tuple(sorted({int(t) for t in at if 0 < t < len(loss) - 1} - set(updates)))


STRIDED = predict_module._move_steps  # the stride's schedule, before the swap below

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
ap.add_argument(
    "--hybrid",
    action="store_true",
    help="half the moves at equal displacement, the rest every 2 x stride steps (the late phase kept covered)",
)
a = ap.parse_args()

for p in a.cases:
    d = json.loads(p.read_text())
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    opts = d["predictions"][UPDATED]["options"]
    updates = tuple(opts["kernel_updates"])
    steps = len(d["record"]["loss"]) - 1
    n_moves = len(STRIDED(opts["path_stride"], steps, updates))
    lrs = learning_rates(FinetuneConfig.from_dict(d["record"]["config"]))
    frozen = d["predictions"]["discrete"]["loss"]
    if a.hybrid:
        coarse = STRIDED(2 * opts["path_stride"], steps, updates)
        early = equal_displacement_steps(frozen, lrs, n_moves - len(coarse), updates)
        schedule = tuple(sorted(set(early) | set(coarse)))
    else:
        schedule = equal_displacement_steps(frozen, lrs, n_moves, updates)
    predict_module._move_steps = lambda stride, steps, updates, s=schedule: s
    kind = "hybrid" if a.hybrid else "equal"
    t0 = time.perf_counter()
    case, _, new = repredict_updated(d, {"path_stride": opts["path_stride"]})
    seconds = time.perf_counter() - t0
    print(
        f"{p.stem[:8]} {case.tag:8s} stride {opts['path_stride']}: {score_line(comparison_scores(cached))} "
        f"[{d['predictions'][UPDATED]['seconds']:.0f} s] | {kind} ({len(schedule)} moves, first {schedule[:8]}): "
        f"{score_line(comparison_scores(new))} [{seconds:.0f} s]",
        flush=True,
    )
