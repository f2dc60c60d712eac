"""Exploration: under momentum, let the flow path's kernel grow gradually instead of switching it at each update.

The flow path (``update_path="flow"``) beat the frozen kernel on 27 of 44 cached momentum runs and lost on 10; its
worst failures are overshoots right after a large kernel jump: on unseen19 15ad1f49 (Lite1, lr 1e-3) the kernel
goes from 0.8x to 5.5x Theta_0's trace at step 10 and the predicted loss climbs from 0.79 to 1.67 two steps later,
where the frozen and the real run keep falling. Heavy ball at m = 0.9 is underdamped in every mode with
lr x lambda above (1 - sqrt m)^2: a sudden change of the stiffness excites the oscillation, a slow one (slower than
the damping time 1 / (1 - m)) does not. The real network's kernel grows step by step.

Here the flow's kernels are computed once per case exactly as ``predict_from`` does (the library's ``flow_path``,
the case's cached kernel-update steps and path stride) and the momentum run (the bench's 16 batch orders) is
simulated three ways:
  switch:  the kernel switched at each update (what ``update_path="flow"`` predicts; checked against the cached
           ``discrete+updates`` curve);
  interp:  Theta(t) linear in the step between the flow's kernels at the updates (Theta_0 at step 0, the last
           kernel after the last update): no jump anywhere;
  ramp:    switched as ``switch`` but each switch spread over the next 1 / (1 - m) steps (linear from the previous
           kernel to the new one): the jump slowed to the damping time, the kernel never ahead of ``switch``.
No constant is fitted: the ramp length is the momentum's own time scale. The flow kernels are kept under
runs/flow_cache/ (a rerun skips their computation). Printed per case: frozen (cached), the three, each scored
against the cached real run (largest relative T_eps error, median level error, loss at T); then pooled. Kept as
run; log in benchmarks/results/explore/gradual_flow.txt.

    python benchmarks/explore/gradual_flow.py bench/results/SUITE/cases/ID.json ...
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import linearize_cached, pool_figures, schedule_of

from trainless.data import batch_schedule
from trainless.dynamics import KernelOperator, simulate
from trainless.finetune import learning_rates
from trainless.kernel import compute_kernel
from trainless.predict._endpoint import WeightPath
from trainless.predict._flow import flow_path
from trainless.predict._preserve import preserved

CACHE = Path("runs/flow_cache")
KEY = "discrete+updates"
pooled: dict[str, dict[str, list[float]]] = {}


def flow_kernels(d: dict, config, kconf, model, data, lin) -> dict[int, torch.Tensor | None]:
    """{t: the flow's kernel at update t (N, N, C, C) float64, or None where the flow diverged}."""
    cache = CACHE / f"{d['case_id']}.pt"
    if cache.is_file():
        return torch.load(cache)
    opts = d["predictions"][KEY]["options"]
    updates = tuple(opts["kernel_updates"])
    stride = opts["path_stride"]
    stride = None if stride in (None, "auto") else int(stride)
    with preserved(model.module):
        if lin.head_state is not None:
            model.head_module().load_state_dict(lin.head_state)
        path = WeightPath(model, data, lin.trainable)
        points, _ = flow_path(
            path,
            lin.operator,
            lin.kernel.f0,
            lin.y,
            config.loss,
            list(learning_rates(config)),
            config.momentum,
            config.nesterov,
            updates,
            stride,
            lambda: compute_kernel(model.module, path.x, kconf),
        )
    out = {t: (None if p is None else p.result.k_train_train.to(torch.float64).cpu()) for t, p in points.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(out, cache)
    return out


def schedule_kernel(k0: torch.Tensor, kernels: dict[int, torch.Tensor], how: str, ramp: int):
    """The kernel at each step 1..T-1 under ``how`` (switch / interp / ramp), as a function of t."""
    knots = [(0, k0), *sorted(kernels.items())]

    def at(t: int) -> torch.Tensor:
        i = max(j for j, (s, _) in enumerate(knots) if s <= t)
        s, k = knots[i]
        if how == "switch":
            return k
        if how == "interp":
            if i + 1 == len(knots):
                return k
            s2, k2 = knots[i + 1]
            w = (t - s) / (s2 - s)
            return (1 - w) * k + w * k2
        # ramp: from the previous kernel to this one over `ramp` steps after the switch at s
        if i == 0 or t - s >= ramp:
            return k
        prev = knots[i - 1][1]
        w = (t - s + 1) / ramp
        return (1 - w) * prev + w * k

    return at


def one_case(p: Path) -> None:
    d = json.loads(p.read_text(encoding="utf-8"))
    case, config, kconf, model, data, lin = linearize_cached(d)
    if not config.momentum or config.batch_size is None or d["case"]["head_start"] != "fresh":
        print(f"{p.stem[:8]} skipped: momentum {config.momentum}, batch {config.batch_size}", flush=True)
        return
    t0 = time.perf_counter()
    raw = flow_kernels(d, config, kconf, model, data, lin)
    kernels = {t: k for t, k in raw.items() if k is not None}  # a diverged flow keeps the last kernel
    seconds = time.perf_counter() - t0
    n = lin.n
    orders = tuple(
        tuple(batch_schedule(n, config.batch_size, config.steps, drop_last=config.drop_last, seed=s))
        for s in range(config.seed, config.seed + d["predictions"][KEY]["options"]["batch_orders"])
    )
    sched = schedule_of(config, orders)
    k0 = lin.kernel.k_train_train.to(torch.float64).cpu()
    ramp = round(1 / (1 - config.momentum))
    real = np.array(d["record"]["loss"])
    curves = {"frozen": np.array(d["predictions"]["discrete"]["loss"])}
    check = ""
    for how in ("switch", "interp", "ramp"):
        at = schedule_kernel(k0, kernels, how, ramp)
        steps = tuple(range(1, config.steps)) if how != "switch" else tuple(sorted(kernels))
        traj = simulate(
            lin.operator,
            lin.kernel.f0,
            lin.y,
            sched,
            loss=config.loss,
            kernel_updates=steps,
            update_kernel=lambda t, alpha, f, segment, at=at: KernelOperator(at(t)),
        )
        curves[how] = traj.loss.mean(0).numpy()
        if how == "switch":
            cached = np.array(d["predictions"][KEY]["loss"])
            check = f"switch vs cached max |diff| {np.nanmax(np.abs(curves[how] - cached)):.1e}"
    line = []
    for name, curve in curves.items():
        s = pool_figures(pooled, name, curve, real)
        line.append(f"{name} max {s['max']:.0%} lv {s['levels']:.0%} T {s['final']:.0%}")
    tr0 = float(torch.einsum("iicc->", k0))
    traces = " ".join(f"{t}:{float(torch.einsum('iicc->', k)) / tr0:.2f}" for t, k in sorted(kernels.items()))
    print(
        f"{p.parent.parent.name:9s} {p.stem[:8]} {case.model[-5:]} N={n} B={config.batch_size} lr={config.lr:g} | "
        + " | ".join(line)
        + f" | traces {traces} | {check} | flow {seconds:.0f}s",
        flush=True,
    )


def report() -> None:
    base = pooled.get("frozen", {}).get("max", [])
    for key, acc in pooled.items():
        e = torch.tensor(acc["eps"], dtype=torch.float64)
        vs = ""
        if key != "frozen" and base:
            better = sum(a < b - 0.02 for a, b in zip(acc["max"], base, strict=True))
            worse = sum(a > b + 0.02 for a, b in zip(acc["max"], base, strict=True))
            vs = f", vs frozen better {better} worse {worse}"
        print(
            f"{key:7s} cases {len(acc['max']):2d}: T_eps median {float(e.quantile(0.5)):.0%} p95 "
            f"{float(e.quantile(0.95)):.0%}, largest per case median {statistics.median(acc['max']):.0%} "
            f"p95 {float(np.quantile(acc['max'], 0.95)):.0%}, levels {np.nanmedian(acc['levels']):.0%}, "
            f"loss at T {statistics.median(acc['final']):.0%}{vs}",
            flush=True,
        )


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        one_case(Path(arg))
    report()
