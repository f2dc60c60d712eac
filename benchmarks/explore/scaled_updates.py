"""Exploration (a screen, not the mode): does the updated kernel's scale carry what the path gets right?

The oracles (benchmarks/oracle_kernels.py, explore/oracle_momentum.py) found the updated path's kernels of
about the real trace but growing several times faster along the residual than the real kernels, whose rate
along the residual stays near their trace ratio: the real kernel grows roughly evenly, the path's grows where
its own residual is. Here each cached fresh-head case is simulated again with Theta_0 scaled by the cached
prediction's trace ratio at each update step (tr Theta_k / tr Theta_0, from ``kernel_path``) in place of
Theta_k: the same function-space engine, the same 16 batch orders, no new kernel but Theta_0. Only a screen:
in a real scaled mode the path (and so the traces) would follow the scaled kernels, not the full ones.
Printed per case: the frozen, cached updates and scaled curves scored against the real run. Kept as run; the
log is in benchmarks/results/explore/scaled_updates.txt.

    python benchmarks/explore/scaled_updates.py CASE.json ...
"""

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import load_cached_case, pool_figures, schedule_of

from trainless.data import batch_schedule
from trainless.dynamics import KernelOperator, simulate
from trainless.kernel import compute_kernel

PAD = 16  # batch orders, as the bench's predictions
pooled: dict[str, dict[str, list[float]]] = {}


for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    if d["case"]["head_start"] != "fresh":
        print(f"{p.stem} skipped: head {d['case']['head_start']}")
        continue
    case, config, kconf, model, data = load_cached_case(d)
    cached = d["predictions"]["discrete+updates"]
    rows = [r for r in cached["kernel_path"] if np.isfinite(r["trace_ratio"])]
    res = compute_kernel(model.module, data.x, kconf)
    k0 = res.k_train_train
    n = k0.shape[0]
    orders = None
    if config.batch_size is not None:
        orders = tuple(
            tuple(batch_schedule(n, config.batch_size, config.steps, drop_last=config.drop_last, seed=s))
            for s in range(config.seed, config.seed + PAD)
        )
    sched = schedule_of(config, orders)
    scale = {int(r["step"]): r["trace_ratio"] for r in rows}
    traj = simulate(
        k0,
        res.f0,
        data.y,
        sched,
        loss=config.loss,
        kernel_updates=tuple(sorted(scale)),
        update_kernel=lambda t, alpha, f, segment, k0=k0, scale=scale: KernelOperator(k0 * scale[t]),
    )
    scaled = traj.loss.mean(0).numpy()
    real = np.array(d["record"]["loss"])
    curves = {
        "frozen": np.array(d["predictions"]["discrete"]["loss"]),
        "updates": np.array(cached["loss"]),
        "scaled": scaled,
    }
    regime = "gd" if config.batch_size is None else ("sgd-m" if config.momentum else "sgd")
    line = []
    for name, curve in curves.items():
        s = pool_figures(pooled, f"{regime} {name}", curve, real)
        line.append(f"{name} max {s['max']:.0%} levels {s['levels']:.0%} final {s['final']:.0%}")
    traces = " ".join(f"{t}:{v:.2f}" for t, v in sorted(scale.items()))
    print(f"{p.stem[:8]} {case.tag:10s} {regime:5s} | " + " | ".join(line) + f" | traces {traces}", flush=True)

for key, acc in sorted(pooled.items()):
    e = torch.tensor(acc["eps"], dtype=torch.float64)
    print(
        f"{key:16s} cases {len(acc['max']):2d}: T_eps median {float(e.quantile(0.5)):.0%} p95 "
        f"{float(e.quantile(0.95)):.0%}, largest per case median {statistics.median(acc['max']):.0%}, levels "
        f"{np.nanmedian(acc['levels']):.0%}, loss at T {statistics.median(acc['final']):.0%}"
    )
