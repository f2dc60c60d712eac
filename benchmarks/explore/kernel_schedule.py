"""Exploration behind the fidelity mode: the kernel recomputed along the linearized weight path at the steps
SCHEDULE (comma-separated), the outputs carried on in function space; MODE full (the whole kernel) or head
(only the head's part updated). Compares with the saved real run at lr LR (directory lr1e-3 by default).
Kept as run; the product mode is PredictConfig.kernel_updates.

    python benchmarks/explore/kernel_schedule.py 10,25,50,100 full
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
sched = [int(s) for s in sys.argv[1].split(",")] if sys.argv[1] else []
mode = sys.argv[2]  # full | head
lr = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-3
realdir = sys.argv[4] if len(sys.argv) > 4 else "lr1e-3"
T = 150
real = np.array(json.load(open(f"benchmarks/results/validate/{realdir}/run.json"))["loss"])
model, data, _ = load_model_and_data(
    "efficientnet-lite0", "mnist5k", classes=5, per_class=30, resolution=64, data_seed=0, seed=0
)
m = model.module.eval()
x, y = data.x, data.y
n = x.shape[0]
loss = Loss.CE


def lossof(f):
    return float(batched_loss_and_error(loss, f.unsqueeze(0), y)[0][0])


def kernel(which):
    select_trainable(model, which)
    return compute_kernel(m, x).k_train_train


t0 = time.time()
select_trainable(model, "all")
kr = compute_kernel(m, x)
K = kr.k_train_train
f = kr.f0.clone()
if mode == "head":
    H0 = kernel("head")
select_trainable(model, "all")
params = [p for p in m.parameters() if p.requires_grad]
op = KernelOperator(K)
curve = [lossof(f)]
alpha = torch.zeros_like(f)
applied = torch.zeros_like(f)
info = []
for t in range(T):
    if t in sched:
        out = m(x)
        grads = torch.autograd.grad(out, params, grad_outputs=(alpha - applied).to(out.dtype))
        with torch.no_grad():
            for p, gp in zip(params, grads, strict=False):
                p.add_(gp)
        applied = alpha.clone()
        if mode == "full":
            Kn = kernel("all")
        else:
            Kn = K + kernel("head") - H0
        select_trainable(model, "all")
        info.append(
            (
                t,
                float(Kn.diagonal().sum() / K.diagonal().sum())
                if Kn.ndim == 2
                else float(torch.einsum("iicc->", Kn) / torch.einsum("iicc->", K)),
            )
        )
        op = KernelOperator(Kn)
    g = loss_grad(loss, f, y) / n
    f = f - lr * op.matvec(g)
    alpha = alpha - lr * g
    curve.append(lossof(f))
curve = np.array(curve)
errs = []
for e in (0.01, 0.05, 0.1, 0.2, 0.4):
    tr = epsilon_time(real, e)[0]
    tp = epsilon_time(curve, e)[0]
    errs.append(abs(tp - tr) / tr if tr and tp is not None else float("nan"))
lv = []
for level in (0.5, 0.2, 0.1):
    hr = np.nonzero(real <= level * real[0])[0]
    hp = np.nonzero(curve <= level * curve[0])[0]
    lv.append(None if not len(hr) else (1.0 if not len(hp) else abs(hp[0] - hr[0]) / hr[0]))
print(
    json.dumps(
        dict(
            sched=sched,
            mode=mode,
            lr=lr,
            seconds=time.time() - t0,
            trace_ratio=info,
            errs=errs,
            mean_err=float(np.nanmean(errs)),
            level_errs=lv,
            final_rel=float(abs(curve[-1] - real[-1]) / real[-1]),
            at=[round(float(curve[s]), 4) for s in (0, 10, 25, 50, 100, 150)],
            real=[round(float(real[s]), 4) for s in (0, 10, 25, 50, 100, 150)],
        )
    ),
    flush=True,
)
