"""Exploration: does the updated path approach the real run as its kernel updates get denser? For each cached GD
case, the updated path (``discrete+updates`` as predict_from walks it, via oracle_kernels.path_kernels_of) with
the schedules below, scored against the cached real curve. Kept as run.

    python benchmarks/explore/dense_updates.py CASE.json ...
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import curve_scores, load_cached_case
from oracle_kernels import path_kernels_of, switched_curve

from trainless.dynamics import SGDSchedule
from trainless.finetune import learning_rates
from trainless.kernel import compute_kernel

SCHEDULES = {
    "auto4": (10, 25, 50, 100),
    "log8": (5, 10, 15, 25, 35, 50, 75, 100),
    "every10": tuple(range(10, 150, 10)),
    "every5": tuple(range(5, 150, 5)),
}

for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    real = np.array(d["record"]["loss"])
    sched = SGDSchedule(lr=learning_rates(config))
    res0 = compute_kernel(model.module, data.x, kconf)
    for name, ups in SCHEDULES.items():
        t0 = time.perf_counter()
        ks = path_kernels_of(model, data, case.trainable, kconf, config.loss, sched, ups)
        curve = switched_curve(res0.k_train_train, res0.f0, data.y, sched, config.loss, ups, ks)
        tr = " ".join(
            f"{float(torch.einsum('iicc->', ks[t]) / torch.einsum('iicc->', res0.k_train_train)):.2f}"
            for t in ups
            if t in (10, 25, 50, 100)
        )
        print(
            f"{p.stem[:8]} {name:8s} {curve_scores(curve, real)} traces@10/25/50/100 {tr} "
            f"[{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
