"""Exploration: between kernel updates, scale the kept kernel by what the weight moves measure for free.

Each weight move (every S steps, as ``path_stride``) maps the coefficients' increment da through the Jacobian at
the weights reached: the step's squared norm ||J_s^T da||^2 is da^T Theta_s da, the real kernel at w_s along
the direction the run just moved, while the kept kernel gives da^T Theta_k da. Their ratio c is the kernel's
growth along the residual since the last update, at no extra cost; the first-order loss decrease per step is
g^T Theta g, so c Theta_k has the right one while g turns slowly. Variants: the plain stride (kernel kept
between updates) and the kept kernel scaled by c from each move on. Kernels at 10, 25, 50, 100 as
``discrete+updates``; full-batch GD cases only. Scored against the cached real curve. Kept as run.

    python benchmarks/explore/rate_scaled_moves.py CASE.json ...
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
EVERY = 5

for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    if case.batch_size:
        print(f"{p.stem[:8]} skipped: minibatch SGD")
        continue
    real = np.array(d["record"]["loss"])
    sched = SGDSchedule(lr=learning_rates(config))
    moves = tuple(sorted(set(KERNELS) | set(range(EVERY, config.steps, EVERY))))
    for scaled in (False, True):
        t0 = time.perf_counter()
        ratios = {}
        with preserved(model.module):
            path = WeightPath(model, data, case.trainable)
            res0 = compute_kernel(model.module, path.x, kconf)
            kept = [res0.k_train_train]
            current = [KernelOperator(res0.k_train_train)]

            def update(t, alpha, f, segment):
                delta = alpha if path.applied is None else alpha - path.applied
                path.applied = alpha.clone()
                step = path.vjp(delta)
                with torch.no_grad():
                    for w, s in zip(path.params, step, strict=True):
                        w.add_(s)
                along_real = sum(float(s.double().pow(2).sum()) for s in step)
                da = delta.double()
                along_kept = float(torch.einsum("ic,ijcd,jd->", da, kept[0], da))
                ratios[t] = along_real / along_kept if along_kept > 0 else float("nan")
                if t in KERNELS:
                    kept[0] = compute_kernel(model.module, path.x, kconf).k_train_train
                    current[0] = KernelOperator(kept[0])
                elif scaled and np.isfinite(ratios[t]):
                    current[0] = KernelOperator(ratios[t] * kept[0])
                return current[0]

            curve = hooked_curve(res0.k_train_train, res0.f0, data.y, sched, config.loss, moves, update)
        shown = " ".join(f"{t}:{ratios[t]:.2f}" for t in (5, 10, 15, 20, 30, 45, 55, 75, 95, 105, 125, 145))
        print(
            f"{p.stem[:8]} stride {EVERY} {'scaled' if scaled else 'kept  '} {curve_scores(curve, real)} "
            f"c at moves {shown} [{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
