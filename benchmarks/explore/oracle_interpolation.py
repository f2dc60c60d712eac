"""Exploration: would a kernel interpolated between updates beat the piecewise-constant one?

With the real network's kernels at the update steps (runs/oracle_cache/, written by
``benchmarks/oracle_kernels.py``), the linearized GD run is simulated three ways from the real f0: the kernel
switched at each update (piecewise constant, the ``oracle`` mode of oracle_kernels), linearly interpolated in
t between the updates (constant after the last), and each segment run with the mean of its two end kernels.
Scored against the real curve. If interpolation helped with the right kernels, a predictor-corrector on the
predicted path's kernels would be worth building. Kept as run.

    python benchmarks/explore/oracle_interpolation.py bench/results/paper/cases/4bcebcb2acab.json ...
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import curve_scores, load_cached_case
from oracle_kernels import CACHE, hooked_curve, switched_curve

from trainless.dynamics import KernelOperator, SGDSchedule
from trainless.finetune import learning_rates

ap = argparse.ArgumentParser()
ap.add_argument("cases", nargs="+", type=Path)
a = ap.parse_args()


def one_case(p: Path) -> None:
    d = json.loads(p.read_text())
    saved = torch.load(CACHE / f"{p.stem}.pt")
    kernels, f_real, real = saved["kernels"], saved["f_real"], np.array(saved["loss"])
    case, config, _, _, data = load_cached_case(d)
    sched = SGDSchedule(lr=learning_rates(config))
    updates = tuple(d["predictions"]["discrete+updates"]["options"]["kernel_updates"])
    knots = (0, *updates)
    segments = list(itertools.pairwise(knots))

    def interpolated(t, alpha, f, segment):
        for lo, hi in segments:
            if lo <= t < hi:
                w = (t - lo) / (hi - lo)
                return KernelOperator((1 - w) * kernels[lo] + w * kernels[hi])
        return KernelOperator(kernels[knots[-1]])

    def segment_mean(t, alpha, f, segment):
        return KernelOperator(next((0.5 * (kernels[lo] + kernels[hi]) for lo, hi in segments if lo == t), kernels[t]))

    theta0, f0, y, loss = kernels[0], f_real[0], data.y, config.loss
    curves = {
        "piecewise": switched_curve(theta0, f0, y, sched, loss, updates, kernels),
        "interpolated": hooked_curve(theta0, f0, y, sched, loss, tuple(range(1, len(real) - 1)), interpolated),
        # the first segment keeps Theta_0 (simulate's hooks fire at the update steps only)
        "segment mean": hooked_curve(theta0, f0, y, sched, loss, updates, segment_mean),
    }
    for name, curve in curves.items():
        print(f"{p.stem[:8]} {case.tag:8s} {name:12s} {curve_scores(curve, real)}", flush=True)


for path in a.cases:
    one_case(path)
