"""Exploration: under momentum, is it the updated path's kernels or the piecewise model that goes wrong?

``benchmarks/oracle_kernels.py`` answered this for full-batch GD (the real network's kernels at the update
steps give the loss at T to 3-13%). Under momentum the kernel-updates prediction scores worse than the frozen
kernel (public momentum runs: largest T_eps error p95 87% vs 53%), and the kernels it takes along the
linearized path often shrink at the first update (trace 0.4-0.9x Theta_0's at step 10 on five of nine
momentum cases, the rate along the residual 0.3-0.8x). Here each cached momentum case is trained again (same
seeds: the same curve) with an observer that computes the real network's kernel at the update steps, and the
linearized momentum SGD is run in function space on the real batch order (the paired curve; the buffer kept
across kernel switches, as the default) with:
- frozen: Theta_0 throughout (the cached ``discrete`` paired curve, recomputed here);
- path: the cached ``discrete+updates`` paired curve (kernels along the linearized path);
- oracle: the real run's kernels at the same steps (what no predictor has).
Printed per case: each curve's scores against the real run, and the real kernels' trace ratio and rate along
the real residual (g Theta g / g Theta_0 g), next to the path's (its rate is along the path's own residual).
Plain SGD runs (no momentum) are taken too: there the cached path moved its weights every 5 steps
(``path_stride="auto"``); the oracle needs no moves. Kept as run; the logs are in
benchmarks/results/explore/oracle_momentum.txt (momentum) and oracle_sgd.txt (plain SGD).

    python benchmarks/explore/oracle_momentum.py CASE.json ...
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import curve_scores, load_cached_case, schedule_of
from oracle_kernels import real_run_with_kernels, switched_curve

from trainless._losses import loss_grad


def one_case(p: Path) -> None:
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    if config.batch_size is None:
        raise SystemExit(f"{p}: minibatch runs only (full-batch GD: benchmarks/oracle_kernels.py)")
    cached = d["predictions"]["discrete+updates"]
    updates = tuple(cached["options"]["kernel_updates"])
    record, kernels, f_real = real_run_with_kernels(case, config, kconf, model, data, updates)
    real = np.array(record.loss)
    gap = float(np.max(np.abs(real - np.array(d["record"]["loss"]))))
    order = (tuple(torch.tensor(b, dtype=torch.long) for b in record.batches),)
    sched = schedule_of(config, order)
    y = data.y
    k0 = kernels[0]
    curves = {
        "frozen": switched_curve(k0, f_real[0], y, sched, config.loss, updates, {t: k0 for t in updates}),
        "path": np.array(cached["paired_loss"]),
        "oracle": switched_curve(k0, f_real[0], y, sched, config.loss, updates, kernels),
    }
    cached_frozen = np.array(d["predictions"]["discrete"]["paired_loss"])
    print(
        f"{p.stem} {case.tag} B={config.batch_size} m={config.momentum} lr={config.lr:g} N={len(y)}: rerun gap "
        f"{gap:.1e}, frozen recomputed vs cached {np.max(np.abs(curves['frozen'] - cached_frozen)):.1e}",
        flush=True,
    )
    for name, curve in curves.items():
        print(f"  {name:7s} {curve_scores(curve, real)}", flush=True)
    tr0 = float(torch.einsum("iicc->", k0))
    flat = lambda k: k.permute(0, 2, 1, 3).reshape(k.shape[0] * k.shape[2], -1)  # noqa: E731
    real_rows = []
    for t in updates:
        g = loss_grad(config.loss, f_real[t], y).reshape(-1)
        rate = float(g @ flat(kernels[t]) @ g) / float(g @ flat(k0) @ g)
        real_rows.append(f"{t}:tr{float(torch.einsum('iicc->', kernels[t])) / tr0:.2f},rate{rate:.2f}")
    path_rows = [
        f"{int(r['step'])}:tr{r['trace_ratio']:.2f},rate{r['residual_rate']:.2f}" for r in cached["kernel_path"]
    ]
    print(f"  real kernels {' '.join(real_rows)}\n  path kernels {' '.join(path_rows)}", flush=True)
    idx = [0, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, len(real) - 1]
    print(f"  real   {np.round(real[idx], 3).tolist()}")
    for name, curve in curves.items():
        print(f"  {name:6s} {np.round(curve[idx], 3).tolist()}", flush=True)


for path in map(Path, sys.argv[1:]):
    one_case(path)
