"""Exploration behind the fidelity mode (docs/measurements.md, "What was measured to choose the mode"): the default run
(64 px, N = 150, GD lr 1e-3) predicted with the linearized model re-linearized along its own weight path every
SEG steps. MODE full: real outputs and kernel there; f-only: only the outputs reset to the real network's;
k-only: only the kernel recomputed (the outputs carried on in function space, the mode that was kept).
Compares with the saved real run. Kept as run; the product mode is PredictConfig.kernel_updates.

    python benchmarks/explore/relinearize_segments.py SEG MODE
"""

import json
import sys
import time

import numpy as np
import torch

from trainless._losses import Loss, batched_loss_and_error, loss_grad
from trainless.dynamics import KernelOperator, epsilon_time
from trainless.finetune import load_model_and_data
from trainless.kernel import compute_kernel
from trainless.models import select_trainable

torch.set_num_threads(2)
seg = int(sys.argv[1])
mode = sys.argv[2]  # mode: full | f-only | k-only
T, lr = 150, 1e-3
real = np.array(json.load(open("benchmarks/results/validate/lr1e-3/run.json"))["loss"])
model, data, _ = load_model_and_data(
    "efficientnet-lite0", "mnist5k", classes=5, per_class=30, resolution=64, data_seed=0, seed=0
)
m = model.module.eval()
select_trainable(model, "all")
params = [p for p in m.parameters() if p.requires_grad]
x, y = data.x, data.y
n = x.shape[0]
loss = Loss.CE


def lossof(f):
    return float(batched_loss_and_error(loss, f.unsqueeze(0), y)[0][0])


t0 = time.time()
kr = compute_kernel(m, x)
op = KernelOperator(kr.k_train_train)
f = kr.f0.clone()
curve = [lossof(f)]
log = []
for start in range(0, T, seg):
    alpha = torch.zeros_like(f)
    for _t in range(start, min(T, start + seg)):
        g = loss_grad(loss, f, y) / n
        f = f - lr * op.matvec(g)
        alpha = alpha - lr * g
        curve.append(lossof(f))
    if start + seg >= T:
        break
    # move the weights: w <- w + J^T alpha (VJP at the current linearization point)
    out = m(x)
    grads = torch.autograd.grad(out, params, grad_outputs=alpha.to(out.dtype))
    with torch.no_grad():
        for p, gp in zip(params, grads, strict=False):
            p.add_(gp)
        f_real = m(x).double()
    log.append((start + seg, lossof(f), lossof(f_real)))
    if mode in ("full", "f-only"):
        f = f_real
    if mode in ("full", "k-only"):
        kr = compute_kernel(m, x)
        op = KernelOperator(kr.k_train_train)
    curve[-1] = lossof(f)
curve = np.array(curve)
errs = []
for e in (0.01, 0.05, 0.1, 0.2, 0.4):
    tr = epsilon_time(real, e)[0]
    tp = epsilon_time(curve, e)[0]
    errs.append(abs(tp - tr) / tr if tr and tp is not None else float("nan"))
print(
    json.dumps(
        dict(
            seg=seg,
            mode=mode,
            seconds=time.time() - t0,
            log=log,
            errs=errs,
            mean_err=float(np.nanmean(errs)),
            at=[float(curve[s]) for s in (0, 10, 25, 50, 100, 150)],
            real=[float(real[s]) for s in (0, 10, 25, 50, 100, 150)],
        )
    )
)
