"""Exploration: closed loop (k real steps, re-linearize at w_k) with and without kernel updates after w_k, on
cached GD bench cases, scored against the cached real curve. Kept as run.

    python benchmarks/explore/closed_updates.py CASE.json ...
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import curve_scores, load_cached_case

from trainless.models import HeadStart
from trainless.predict import PredictConfig, predict_closed_loop

VARIANTS = {  # k real steps, kernel updates counted from w_k
    "k10": (10, ()),
    "k10+up": (10, (15, 40, 90)),
    "k25+up": (25, (25, 75)),
    "k5+up": (5, (5, 20, 45, 95)),
}

for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    real = np.array(d["record"]["loss"])
    for name, (k, ups) in VARIANTS.items():
        case, config, kconf, model, data = load_cached_case(d)  # the model at w0 again: the closed loop trains it
        t0 = time.perf_counter()
        pred, obs = predict_closed_loop(
            model,
            data,
            config,
            k,
            PredictConfig(kernel=kconf, kernel_updates=ups, timing_steps=0, path_stride=None),  # as logged
            trainable=case.trainable,
            head_start=HeadStart(case.head_start),
        )
        curve = np.array(pred.loss)
        gap = float(np.max(np.abs(curve[:k] - real[:k])))
        print(
            f"{p.stem[:8]} {case.tag:8s} {name:7s} {curve_scores(curve, real)} observed gap {gap:.1e} "
            f"[{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
