"""Exploration: the updated path with its weights moved more often than the kernel is recomputed. The kernel is
computed at 10, 25, 50, 100 (as ``discrete+updates``); in between, every S steps, the weights take the alpha
increment through the Jacobian at the weights reached (one vector-Jacobian product, about one GD step's cost),
so the path stops pushing along a stale J for a whole segment. Scored against the cached real curve. Kept as run.

    python benchmarks/explore/weight_moves.py CASE.json ...
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import curve_scores, load_cached_case
from oracle_kernels import hooked_curve

from trainless.dynamics import KernelOperator, SGDSchedule
from trainless.finetune import learning_rates
from trainless.kernel import compute_kernel
from trainless.predict._endpoint import WeightPath
from trainless.predict._preserve import preserved

KERNELS = (10, 25, 50, 100)

for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    real = np.array(d["record"]["loss"])
    sched = SGDSchedule(lr=learning_rates(config))
    for every in (None, 5, 2):
        t0 = time.perf_counter()
        moves = tuple(sorted(set(KERNELS) | (set(range(every, config.steps, every)) if every else set())))
        traces = {}
        with preserved(model.module):
            path = WeightPath(model, data, case.trainable)
            res0 = compute_kernel(model.module, path.x, kconf)
            current = [KernelOperator(res0.k_train_train)]
            tr0 = float(torch.einsum("iicc->", res0.k_train_train))

            def update(t, alpha, f, segment):
                path.move_to(alpha)
                if t in KERNELS:
                    k = compute_kernel(model.module, path.x, kconf).k_train_train
                    traces[t] = float(torch.einsum("iicc->", k)) / tr0
                    current[0] = KernelOperator(k)
                return current[0]

            curve = hooked_curve(res0.k_train_train, res0.f0, data.y, sched, config.loss, moves, update)
        print(
            f"{p.stem[:8]} moves every {every} {curve_scores(curve, real)} "
            f"traces {' '.join(f'{traces[t]:.2f}' for t in KERNELS)} [{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
