"""Exploration: how much of the kernel's change during fine-tuning is the head's block?

The empirical NTK splits by parameter group: Theta = Theta_head + Theta_body, Theta_head the part from the
C-way head's weights. Theta_head(w) = (phi phi^T + 1) (x) I_C depends only on the penultimate features phi(w):
one forward pass, against N x C per-sample gradients for the whole kernel. With a fresh head the features
grow several times in the first 100 steps (issue #6: 2.2x / 3.8x / 5.9x at steps 25 / 50 / 100), so if the
head block carries most of the change, a kernel update could cost a forward pass instead of a full kernel.

For each cached full-batch GD case the real run is repeated (same seeds: the same curve) and at steps 0 and
each update step the real network's whole kernel and its head block are computed. Printed per step: the trace
of each block over the whole Theta_0's, and how far Theta_body,0 + Theta_head(t) (the body frozen, the head
block current) is from the real Theta(t) (relative Frobenius) against Theta_0's distance. Then the linearized
run with the kernel switched at the update steps (the piecewise model of the kernel-updates mode) on:
- frozen: Theta_0 throughout;
- oracle: the real Theta(t) (what no predictor has);
- head-oracle: Theta_body,0 + Theta_head(t) of the real run (only the head block follows the real run);
- head-path: Theta_body,0 + Theta_head at the updated linearized path's weights (a predictor: the path moved
  as the kernel-updates mode moves it, one vector-Jacobian product per update, then one forward pass).
Each is scored against the real curve (largest / median relative T_eps error, levels, loss at T). Kept as run;
the log goes to benchmarks/results/explore/head_block.txt.

    python benchmarks/explore/head_block.py CASE.json ...
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import json

from fidelity_default import eps_errors, level_errors, load_cached_case
from kernel_blocks import only, trace
from oracle_kernels import switched_curve

from trainless.dynamics import KernelOperator, SGDSchedule, simulate
from trainless.finetune import finetune, learning_rates
from trainless.kernel import compute_kernel
from trainless.models import HeadStart
from trainless.predict._endpoint import WeightPath
from trainless.predict._preserve import preserved


def head_only(model):
    """Only the head's parameters require grad inside (the kernel then is Theta_head); restored after."""
    return only(model, (model.head + ".",))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def one_case(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    case, config, kconf, model, data = load_cached_case(d)
    if config.batch_size is not None or config.momentum:
        raise SystemExit(f"{path}: full-batch GD without momentum only")
    updates = tuple(d["predictions"]["discrete+updates"]["options"]["kernel_updates"])
    sched = SGDSchedule(lr=learning_rates(config))
    whole, head = {}, {}

    def observe(t: int, module: torch.nn.Module) -> None:
        if t in updates:  # t = 0 is computed below, before the run
            whole[t] = compute_kernel(module, data.x, kconf)
            with head_only(model):
                head[t] = compute_kernel(module, data.x, kconf).k_train_train

    # the head block along the updated linearized path, before the real run (which trains the module in place)
    whole[0] = res0 = compute_kernel(model.module, data.x, kconf)
    with head_only(model):
        head[0] = compute_kernel(model.module, data.x, kconf).k_train_train
    body0 = res0.k_train_train - head[0]
    path_head: dict[int, torch.Tensor] = {}
    with preserved(model.module):
        wp = WeightPath(model, data, case.trainable)

        def update(t, alpha, f, segment):
            wp.move_to(alpha)
            with head_only(model):
                path_head[t] = compute_kernel(model.module, wp.x, kconf).k_train_train
            return KernelOperator(body0 + path_head[t])

        head_path = (
            simulate(
                res0.k_train_train,
                res0.f0,
                data.y,
                sched,
                loss=config.loss,
                kernel_updates=updates,
                update_kernel=update,
            )
            .loss[0]
            .numpy()
        )
    record = finetune(
        model, data, config, trainable=case.trainable, head_start=HeadStart(case.head_start), observer=observe
    )
    real = np.array(record.loss)
    k0, f0 = res0.k_train_train, res0.f0
    tr0 = trace(k0)
    print(f"{path.stem[:8]} N={len(data.y)} lr={config.lr} head share of tr Theta_0 {trace(head[0]) / tr0:.2f}")
    for t in updates:
        kt = whole[t].k_train_train
        print(
            f"   step {t:3d}: tr Theta / tr Theta_0 {trace(kt) / tr0:.2f} (head {trace(head[t]) / tr0:.2f}, body "
            f"{trace(kt - head[t]) / tr0:.2f}); |Theta_0 - Theta| {rel(k0, kt):.2f}, "
            f"|Theta_body,0 + Theta_head - Theta| {rel(body0 + head[t], kt):.2f}",
            flush=True,
        )
    curves = {
        "frozen": switched_curve(k0, f0, data.y, sched, config.loss, updates, {t: k0 for t in updates}),
        "oracle": switched_curve(
            k0, f0, data.y, sched, config.loss, updates, {t: whole[t].k_train_train for t in updates}
        ),
        "head-oracle": switched_curve(
            k0, f0, data.y, sched, config.loss, updates, {t: body0 + head[t] for t in updates}
        ),
        "head-path": head_path,
        "updates (cached)": np.array(d["predictions"]["discrete+updates"]["loss"]),
    }
    print("   head-path head trace / tr Theta_0: " + " ".join(f"{trace(path_head[t]) / tr0:.2f}" for t in updates))
    for name, curve in curves.items():
        eps = eps_errors(curve, real)
        lv = level_errors(curve, real)
        print(
            f"   {name:16s} T_eps max {max(eps):.0%} median {statistics.median(eps):.0%} levels "
            f"{statistics.median(lv) if lv else float('nan'):.0%} loss at T {curve[-1]:.4f} vs {real[-1]:.4f} "
            f"({abs(curve[-1] - real[-1]) / real[-1]:.0%})",
            flush=True,
        )


if __name__ == "__main__":
    for p in sys.argv[1:]:
        one_case(Path(p))
