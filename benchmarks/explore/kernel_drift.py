"""Exploration: the real network's tangent kernel along the real GD path (steps 10, 25, 50) of the default
run vs a first-order drift model Theta_0 + tau dTheta[v] from a finite difference along the initial velocity
v; active ReLU6 fractions. Kept as run (it was stopped after step 10: trace x1.34, ||dTheta||/||Theta_0||
= 0.94, the drift model off by 6x).

    python benchmarks/explore/kernel_drift.py
"""

import json

import torch

from trainless._losses import loss_value
from trainless.finetune import load_model_and_data
from trainless.kernel import compute_kernel
from trainless.models import select_trainable

torch.set_num_threads(2)
lr = 1e-3
model, data, _ = load_model_and_data(
    "efficientnet-lite0", "mnist5k", classes=5, per_class=30, resolution=64, data_seed=0, seed=0
)
m = model.module.eval()
select_trainable(model, "all")
params = [p for p in m.parameters() if p.requires_grad]
x, y = data.x, data.y
n = x.shape[0]
acts = []


def hook(mod, inp, out):
    acts.append(inp[0].detach())


hs = [mm.register_forward_hook(hook) for mm in m.modules() if isinstance(mm, torch.nn.ReLU6)]


def active_frac():
    acts.clear()
    with torch.no_grad():
        m(x)
    tot = sum(a.numel() for a in acts)
    on = sum(((a > 0) & (a < 6)).sum().item() for a in acts)
    zero = sum((a <= 0).sum().item() for a in acts)
    return on / tot, zero / tot


def flat():
    return torch.cat([p.detach().reshape(-1) for p in params]).double()


def setw(w):
    with torch.no_grad():
        i = 0
        for p in params:
            k = p.numel()
            p.copy_(w[i : i + k].view_as(p).float())
            i += k


def kern():
    kr = compute_kernel(m, x)
    K = kr.k_train_train.permute(0, 2, 1, 3).reshape(n * 5, n * 5)
    return K, kr.f0


w0 = flat()
K0, f0 = kern()
# initial velocity v = -(1/N) J^T g0  (weight-space gradient of the mean loss)
m.zero_grad()
loss_value("ce", m(x), y).backward()
v = -torch.cat([p.grad.reshape(-1) for p in params]).double()
m.zero_grad()
res = {
    "K0_trace": float(K0.trace()),
    "K0_max": float(torch.linalg.eigvalsh(K0)[-1]),
    "w0": float(w0.norm()),
    "v": float(v.norm()),
    "active0": active_frac(),
}
# finite-difference / secant drift along v at three step sizes tau (tau v: the displacement of tau / lr steps)
for tau in (1e-4, 1e-2, 5e-2):
    setw(w0 + tau * v)
    K, f = kern()
    res[f"secant_{tau}"] = {
        "D_rel": float((K - K0).norm() / K0.norm()),
        "trace_ratio": float(K.trace() / K0.trace()),
        "active": active_frac(),
    }
    if tau == 1e-4:
        D = (K - K0) / tau
    else:
        res[f"secant_{tau}"]["vs_D"] = float(((K - K0) - tau * D).norm() / (K - K0).norm())
setw(w0)
opt = torch.optim.SGD(params, lr=lr)
path = {}
for s in range(51):
    if s in (10, 25, 50):
        w = flat()
        d = w - w0
        tau = float(d @ v / (v @ v))
        cos = float(d @ v / d.norm() / v.norm())
        K, f = kern()
        path[s] = {
            "dist_rel": float(d.norm() / w0.norm()),
            "tau": tau,
            "cos_v": cos,
            "trace_ratio": float(K.trace() / K0.trace()),
            "max_ratio": float(torch.linalg.eigvalsh(K)[-1] / res["K0_max"]),
            "D_rel": float((K - K0).norm() / K0.norm()),
            "drift_model_err": float(((K - K0) - tau * D).norm() / (K - K0).norm()),
            "drift_model_trace_ratio": float((K0 + tau * D).trace() / K0.trace()),
            "active": active_frac(),
        }
        print(s, path[s], flush=True)
    if s == 50:
        break
    opt.zero_grad()
    loss_value("ce", m(x), y).backward()
    opt.step()
res["path"] = path
print(json.dumps(res, indent=1))
