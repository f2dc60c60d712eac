"""Exploration: a path driven by the real network's residual (full-batch GD only).

The updated prediction moves its weights along J^T of the linearized run's residual, which concentrates on the
samples the linearized run has not fit; the path's kernel then grows along them far more than the real run's
does (oracle_kernels.py: rates along the real residual 5-31x against 2-4x at step 50), and the updated curve runs
ahead of the real one (72-81% of GD (case, eps) pairs). The real run's weights move along J^T of the real
network's residual, which is spread over more samples (the real run's ||w - w0|| is larger: 0.29 vs 0.22 at step
100 on 4bcebcb2). Here the path restarts every S steps from the real network's outputs at its own weights: over
each stride the linearized model, with the last kernel computed, trains those outputs S steps (exact discrete
GD in function space), its accumulated coefficients move the weights (one vector-Jacobian product), the real
network's outputs there start the next stride (one forward pass), and the kernel is computed again at the auto
schedule's steps. Two curves: ``restarts``, the linearized loss within each stride restarted at the real
network's loss at each stride's start, and ``carried``, the linearized outputs carried on in function space under
the same kernels, never restarted (as the default updated prediction reports). Cost: one forward pass and one VJP
per stride plus the kernels (about what the default updated prediction costs, which moves its weights at the same
strides). Printed per cached GD case: the
cached default and this path's largest / median relative T_eps error, levels and loss at T, the curves at a few
steps. Kept as run; log in benchmarks/results/explore/real_residual_path.txt.

    python benchmarks/explore/real_residual_path.py CASE.json ... [--stride S [--capped] | --geometric K]
        (default: the auto stride; --geometric: K moves evenly spaced in log-time; --capped: strides of 18% of
        the step reached, at least 1 and at most S)
"""

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, curve_scores, eps_errors, linearize_cached, real_outputs, score_line

from trainless._losses import loss_grad, loss_value
from trainless.bench import UPDATED, scored_eps_errors
from trainless.dynamics import KernelOperator
from trainless.finetune import learning_rates
from trainless.kernel import compute_kernel
from trainless.predict import auto_kernel_updates, auto_path_stride, preserved
from trainless.predict._endpoint import WeightPath

torch.set_num_threads(2)


args = sys.argv[1:]
STRIDE = int(args.pop(args.index("--stride") + 1)) if "--stride" in args else None
GEOMETRIC = int(args.pop(args.index("--geometric") + 1)) if "--geometric" in args else None
CAPPED = "--capped" in args  # with --stride S: strides growing by 18% of t (1 step at first), capped at S
# --vjp-at-kernel: move the weights through the Jacobian at the last kernel's weights (the one the stride's
# function-space steps assumed) instead of the current one; --restart-at-updates: restart the outputs from the
# real network only at the kernel updates (carried on in function space between them).
VJP_AT_KERNEL = "--vjp-at-kernel" in args
RESTART_AT_UPDATES = "--restart-at-updates" in args
FLAGS = ("--stride", "--geometric", "--capped", "--vjp-at-kernel", "--restart-at-updates")
args = [a for a in args if a not in FLAGS]
for p in map(Path, args):
    d = json.loads(p.read_text())
    if d["case"]["batch_size"] or UPDATED not in d["predictions"]:
        continue
    t0 = time.perf_counter()
    case, config, kconf, model, data, lin = linearize_cached(d)
    lrs, n, y, T = learning_rates(config), data.n, lin.y, config.steps
    updates = set(auto_kernel_updates(T))
    stride = STRIDE or auto_path_stride(T, 0.0)
    moves = range(stride, T, stride)
    if GEOMETRIC:  # the same number of moves spaced evenly in log-time: short strides early, long ones late
        moves = {int(v) for v in np.rint(np.geomspace(1, T, GEOMETRIC + 1)[:-1])}
    if CAPPED:
        moves, t = [], 1
        while t < T:
            moves.append(t)
            t += max(1, min(stride, round(0.18 * t)))
    bounds = sorted({0, *moves, *updates, T})
    curve, carried = np.zeros(T + 1), np.zeros(T + 1)
    with preserved(model.module):
        if lin.head_state is not None:
            model.head_module().load_state_dict(lin.head_state)
        path = WeightPath(model, data, case.trainable)
        op = lin.operator
        fc = lin.kernel.f0.double()  # the outputs carried on in function space, never restarted
        f = lin.kernel.f0.double()
        at_kernel = path.snapshot()
        for a, b in itertools.pairwise(bounds):
            if a in updates:
                result = compute_kernel(model.module, path.x, kconf)
                op, f = KernelOperator(result.k_train_train), result.f0.double().cpu()
                at_kernel = path.snapshot()
            elif a > 0 and not RESTART_AT_UPDATES:
                f = real_outputs(path)
            alpha = torch.zeros_like(f)
            for t in range(a, b):
                curve[t] = float(loss_value(case.loss, f, y))
                carried[t] = float(loss_value(case.loss, fc, y))
                g = loss_grad(case.loss, f, y)
                alpha -= (lrs[t] / n) * g
                f = f - (lrs[t] / n) * op.matvec(g)
                fc = fc - (lrs[t] / n) * op.matvec(loss_grad(case.loss, fc, y))
            curve[b] = float(loss_value(case.loss, f, y))
            carried[b] = float(loss_value(case.loss, fc, y))
            if VJP_AT_KERNEL:
                now = path.snapshot()
                path.load(at_kernel)
                step = path.vjp(alpha)
                path.load(now)
            else:
                step = path.vjp(alpha)
            with torch.no_grad():
                for w, s in zip(path.params, step, strict=True):
                    w.add_(s)
        final_real = float(loss_value(case.loss, real_outputs(path), y))
    real = np.asarray(d["record"]["loss"])
    cached = next(c for c in d["comparisons"] if c["engine"] == UPDATED)
    at = [10, 25, 50, 100, 150]
    print(
        f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={n:3d} lr={config.lr:.2g} {len(bounds) - 1} strides "
        f"({time.perf_counter() - t0:.0f} s)\n"
        f"   default  {score_line(comparison_scores(cached))}\n"
        f"   restarts {curve_scores(curve, real)}; real net at the path's w_T {final_real:.4f}\n"
        f"   carried  {curve_scores(carried, real)}\n"
        f"   loss at {at}: real {' '.join(f'{real[s]:.3f}' for s in at)} | "
        f"restarts {' '.join(f'{curve[s]:.3f}' for s in at)} | carried {' '.join(f'{carried[s]:.3f}' for s in at)}",
        flush=True,
    )
    errors = {
        "default": scored_eps_errors(cached),
        "restarts": eps_errors(curve, real),
        "carried": eps_errors(carried, real),
    }
    print("   errors " + json.dumps({k: [round(e, 4) for e in v] for k, v in errors.items()}), flush=True)
