"""Exploration: can the pseudo-NTK, about C times cheaper, stand in for the exact kernel at the updates?

The default's cost is its kernels (six exact ones at T = 150, about 0.8-0.9 of the real run at five classes).
The pseudo-NTK P (the gradient of sum_c f_c / sqrt(C): one backward pass per tile instead of C) is 54-75% from
Theta in Frobenius norm on this network, too far to be the kernel itself, but its change might carry the
kernel's growth. For each cached full-batch GD case the real run is repeated (same seeds: the same curve) and at
t = 0 and each update step the real network's exact Theta_t and P_t are computed; then the linearized GD run from
f0 and Theta_0 is simulated with the kernel switched at the update steps to each stand-in (on the real run's
weights: an oracle's setting, kinder than the predicted path):
- frozen: Theta_0;
- delta: Theta_0 + (P_t - P_0) (x) I_C (the change from the pseudo-NTK);
- ptrace: Theta_0 tr P_t / tr P_0 (the growth's size from the pseudo-NTK);
- trace: Theta_0 tr Theta_t / tr Theta_0 (the same from the exact kernel: ``update_shape="scaled"``);
- ratio: Theta_0 times P_t / P_0 entrywise, clamped to [0.1, 10];
- oracle: Theta_t.
Printed per stand-in: its relative Frobenius distance from Theta_t at each update, its rate along the real
residual gradient over Theta_t's, and the largest relative T_eps error and loss at T over the real run's. Kept
as run; log in benchmarks/results/explore/pseudo_updates.txt.

    python benchmarks/explore/pseudo_updates.py CASE.json ...
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import eps_errors, load_cached_case
from oracle_kernels import switched_curve

from trainless._losses import loss_grad
from trainless.dynamics import SGDSchedule
from trainless.finetune import finetune, learning_rates
from trainless.kernel import compute_kernel
from trainless.models import HeadStart


def one_case(p: str) -> None:
    d = json.loads(Path(p).read_text(encoding="utf-8"))
    case, config, kconf, model, data = load_cached_case(d)
    updates = tuple(d["predictions"]["discrete+updates"]["options"]["kernel_updates"])
    pconf = replace(kconf, method="pseudo")
    K, P, F, secs = {}, {}, {}, {"exact": [], "pseudo": []}

    def observe(t, module):
        if t == 0 or t in updates:
            t0 = time.perf_counter()
            r = compute_kernel(module, data.x, kconf)
            secs["exact"].append(time.perf_counter() - t0)
            K[t], F[t] = r.k_train_train, r.f0
            t0 = time.perf_counter()
            P[t] = compute_kernel(module, data.x, pconf).k_train_train
            secs["pseudo"].append(time.perf_counter() - t0)

    rec = finetune(
        model, data, config, trainable=case.trainable, head_start=HeadStart(case.head_start), observer=observe
    )
    real = np.array(rec.loss)
    C = K[0].shape[-1]
    eye = torch.eye(C, dtype=K[0].dtype)

    def tr(k):
        return float(torch.einsum("iicc->", k))

    def trp(k):
        return float(k.diagonal().sum())

    def flat(k):
        return k.permute(0, 2, 1, 3).reshape(k.shape[0] * C, -1)

    prox = {
        "frozen": {t: K[0] for t in updates},
        "delta": {t: K[0] + (P[t] - P[0])[:, :, None, None] * eye for t in updates},
        "ptrace": {t: K[0] * (trp(P[t]) / trp(P[0])) for t in updates},
        "trace": {t: K[0] * (tr(K[t]) / tr(K[0])) for t in updates},
        "ratio": {t: K[0] * (P[t] / P[0]).clamp(0.1, 10)[:, :, None, None] for t in updates},
        "oracle": {t: K[t] for t in updates},
    }
    sched = SGDSchedule(lr=learning_rates(config))
    print(
        p, case.tag, "lr", config.lr, "N", data.x.shape[0], "C", C,
        "exact s", np.round(secs["exact"], 1), "pseudo s", np.round(secs["pseudo"], 1),
    )  # fmt: skip
    for name, ks in prox.items():
        fro = [float((ks[t] - K[t]).norm() / K[t].norm()) for t in updates]
        rate = []
        for t in updates:
            g = loss_grad(config.loss, F[t], data.y).reshape(-1)
            rate.append(float(g @ flat(ks[t]) @ g) / float(g @ flat(K[t]) @ g))
        curve = switched_curve(K[0], F[0], data.y, sched, config.loss, updates, ks)
        e = eps_errors(curve, real)
        print(
            f"  {name:7s} fro {' '.join(f'{x:.2f}' for x in fro)} rate/real {' '.join(f'{x:.2f}' for x in rate)} "
            f"maxTeps {max(e):.2f} lossT {curve[-1] / real[-1]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        one_case(arg)
