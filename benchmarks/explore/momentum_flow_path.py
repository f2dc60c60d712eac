"""Exploration: kernel updates for momentum runs taken along the gradient-flow path, not the momentum path.

Without momentum the default updates the kernel along the linearized run's own weight path. With momentum that path
blows up or shrinks the kernel (measurements.md, "Kernel updates under momentum": updates given by hand 193% at the
p95), so momentum runs keep Theta_0, and their error is one-signed late: on the held-out momentum runs below the
stability edge the frozen prediction reaches eps 1% well after the real run (the real kernel grows, as under GD).
Here the kernels come from a smooth path instead: the full-batch linearized gradient flow at the momentum run's
long-run rate lr / (1 - m) (heavy ball's drift under a constant gradient), approximated by K = 100 GD sub-steps of
lr / (1 - m) / K = lr / 10 per unit of flow time (at m = 0.9: stable while lr x sharpness < 20), its weights moved
and its kernel recomputed as the default does for GD (moves every 5 steps' worth, the auto schedule of T = 150: 1,
10, 25, 50, 100). Momentum step t is mapped to flow time tau(t) = t - m (1 - m^t) / (1 - m), heavy ball's distance
travelled under a constant gradient in units of lr / (1 - m) steps. No constant is fitted. The momentum SGD run (16
batch orders, the bench's) is then simulated from Theta_0 with the kernel switched at the schedule's steps to the
flow path's kernel at tau(t), as is (flow) and scaled back to the momentum run's stability edge where it puts the lr
past it (flow+cap, as ``edge_cap`` does: ratio lr x sharpness / (2 (1 + m)) at the paired path's outputs). Printed
per case: frozen (the cached prediction, the default with momentum), flow and flow+cap, each scored against the
cached real run, and the flow kernels' trace ratios and largest edge ratio.
Kept as run; log in benchmarks/results/explore/momentum_flow_path.txt.

    python benchmarks/explore/momentum_flow_path.py CASE.json ...
"""

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import load_cached_case, pool_figures, schedule_of

from trainless._losses import loss_hessian
from trainless.data import batch_schedule
from trainless.dynamics import KernelOperator, SGDSchedule, simulate
from trainless.kernel import compute_kernel
from trainless.predict import auto_kernel_updates
from trainless.predict._endpoint import WeightPath
from trainless.predict._preserve import preserved

K = 100  # GD sub-steps per unit of flow time
ORDERS = 16
STRIDE = 5  # moves every 5 steps' worth, as auto_path_stride at T = 150
pooled: dict[str, dict[str, list[float]]] = {}


def flow_time(t: int, m: float) -> float:
    return t - m * (1 - m**t) / (1 - m)


def flow_kernels(model, data, trainable, kconf, loss, lr, m, steps, updates, k0, f0):
    """{t: Theta} for t in updates, along the linearized gradient flow at lr / (1 - m), model left at w0."""
    at = {round(K * flow_time(t, m)): t for t in updates}
    moves = {round(K * flow_time(s, m)) for s in range(STRIDE, steps, STRIDE)} - set(at)
    horizon = max(at) + 1
    sched = SGDSchedule(lr=[lr / (1 - m) / K] * horizon)
    out: dict[int, torch.Tensor] = {}
    current = [KernelOperator(k0)]
    with preserved(model.module):
        path = WeightPath(model, data, trainable)

        def hook(s, alpha, f, segment):
            path.move_to(alpha)
            if s in at:
                out[at[s]] = compute_kernel(model.module, path.x, kconf).k_train_train
                current[0] = KernelOperator(out[at[s]])
            return current[0]

        steps_hooked = tuple(sorted(s for s in set(at) | moves if 1 <= s < horizon))
        simulate(k0, f0, data.y, sched, loss=loss, kernel_updates=steps_hooked, update_kernel=hook)
    return out


def one_case(p: Path) -> None:
    d = json.loads(p.read_text(encoding="utf-8"))
    case, config, kconf, model, data = load_cached_case(d)
    if not config.momentum or config.batch_size is None or d["case"]["head_start"] != "fresh":
        print(f"{p.stem[:8]} skipped: momentum {config.momentum}, batch {config.batch_size}, {d['case']['head_start']}")
        return
    res = compute_kernel(model.module, data.x, kconf)
    k0, f0 = res.k_train_train, res.f0
    n = k0.shape[0]
    updates = auto_kernel_updates(config.steps, 0.0)
    kernels = flow_kernels(
        model, data, case.trainable, kconf, config.loss, config.lr, config.momentum, config.steps, updates, k0, f0
    )
    orders = tuple(
        tuple(batch_schedule(n, config.batch_size, config.steps, drop_last=config.drop_last, seed=s))
        for s in range(config.seed, config.seed + ORDERS)
    )
    sched = schedule_of(config, orders)
    ratios: list[float] = []

    def switch(cap: bool):
        def hook(t, alpha, f, segment):
            op = KernelOperator(kernels[t])
            ratio = config.lr * op.sharpness(loss_hessian(config.loss, f)) / (2 * (1 + config.momentum))
            if not cap:
                ratios.append(ratio)
            return KernelOperator(kernels[t] / ratio) if cap and ratio > 1 else op

        return hook

    curves = {"frozen": np.array(d["predictions"]["discrete"]["loss"])}
    for name, cap in (("flow", False), ("flow+cap", True)):
        traj = simulate(
            k0, f0, data.y, sched, loss=config.loss, kernel_updates=tuple(sorted(kernels)), update_kernel=switch(cap)
        )
        curves[name] = traj.loss.mean(0).numpy()
    real = np.array(d["record"]["loss"])
    tr0 = float(torch.einsum("iicc->", k0))
    traces = " ".join(f"{t}:{float(torch.einsum('iicc->', k)) / tr0:.2f}" for t, k in sorted(kernels.items()))
    line = []
    for name, curve in curves.items():
        s = pool_figures(pooled, name, curve, real)
        line.append(f"{name} max {s['max']:.0%} levels {s['levels']:.0%} final {s['final']:.0%}")
    print(
        f"{p.parent.parent.name:9s} {p.stem[:8]} N={n} B={config.batch_size} lr={config.lr} | "
        + " | ".join(line)
        + f" | traces {traces} | edge ratio up to {max(ratios):.2f}",
        flush=True,
    )


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        one_case(Path(arg))
    for key, acc in pooled.items():
        e = torch.tensor(acc["eps"], dtype=torch.float64)
        print(
            f"{key:7s} cases {len(acc['max']):2d}: T_eps median {float(e.quantile(0.5)):.0%} p95 "
            f"{float(e.quantile(0.95)):.0%}, largest per case median {statistics.median(acc['max']):.0%}, "
            f"levels {np.nanmedian(acc['levels']):.0%}, loss at T {statistics.median(acc['final']):.0%}"
        )
