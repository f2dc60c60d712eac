"""Exploration: how far from linear the first real steps are. For a cached GD case, the real run's first 10 steps
(weights and kernel at steps 1, 2, 5, 10) against the updated linearized path with updates at those steps: weight
displacement (norms, relative difference, cosine), the linearized outputs' gap to the real ones (logits centered
over the classes, to which cross-entropy is blind), and the kernels (trace over Theta_0's, relative Frobenius
distance path vs real, real vs the previous reading, real vs Theta_0; class-centered). Kept as run.

    python benchmarks/explore/first_steps.py CASE.json ...
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import load_cached_case

from trainless.dynamics import KernelOperator, SGDSchedule, simulate
from trainless.finetune import FinetuneConfig, finetune, learning_rates
from trainless.kernel import compute_kernel
from trainless.models import HeadStart
from trainless.predict._endpoint import WeightPath
from trainless.predict._preserve import preserved

STEPS = (1, 2, 5, 10)


def norm(ws):
    return sum(float(w.double().pow(2).sum()) for w in ws) ** 0.5


def one_case(p: Path) -> None:
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    sched = SGDSchedule(lr=learning_rates(config))
    with preserved(model.module):
        path = WeightPath(model, data, case.trainable)
        w0 = path.snapshot()
        res0 = compute_kernel(model.module, path.x, kconf)
        pw, pk, pf = {}, {}, {}

        def upd(t, alpha, f, seg):
            path.move_to(alpha)
            pw[t] = path.snapshot()
            r = compute_kernel(model.module, path.x, kconf)
            pk[t], pf[t] = r.k_train_train, (f.clone(), r.f0)
            return KernelOperator(r.k_train_train)

        simulate(res0.k_train_train, res0.f0, data.y, sched, loss=config.loss, kernel_updates=STEPS, update_kernel=upd)
    names = [n for n, q in model.module.named_parameters() if q.requires_grad]
    rw, rk, rf = {}, {}, {}

    def obs(t, module):
        if t in STEPS:
            ps = dict(module.named_parameters())
            rw[t] = [ps[n].detach().clone() for n in names]
            r = compute_kernel(module, data.x, kconf)
            rk[t], rf[t] = r.k_train_train, r.f0

    short = FinetuneConfig.from_dict({**d["record"]["config"], "steps": max(STEPS) + 1})
    finetune(model, data, short, trainable=case.trainable, head_start=HeadStart(case.head_start), observer=obs)
    c = res0.f0.shape[1]
    proj = torch.eye(c, dtype=torch.float64) - 1.0 / c
    cen = lambda f: f.double() @ proj  # noqa: E731
    kc = lambda k: torch.einsum("ab,ijbd,dc->ijac", proj, k.double(), proj)  # noqa: E731
    tr = lambda k: float(torch.einsum("iicc->", k))  # noqa: E731
    k0 = kc(res0.k_train_train)
    prev = k0
    for t in STEPS:
        dr = [a - b for a, b in zip(rw[t], w0, strict=False)]
        dp = [a - b for a, b in zip(pw[t], w0, strict=False)]
        cos = sum(float((a.double() * b.double()).sum()) for a, b in zip(dr, dp, strict=False)) / norm(dr) / norm(dp)
        flin, fpath = pf[t]
        real, pth = kc(rk[t]), kc(pk[t])
        print(
            f"{p.stem[:8]} {case.tag:8s} lr {config.lr:.0e} t={t:2d} |dw| real {norm(dr):.2e} path {norm(dp):.2e} "
            f"rel diff {norm([a - b for a, b in zip(dr, dp, strict=False)]) / norm(dr):.3f} cos {cos:.3f} | "
            f"centered f: |f_real-f0| {float(cen(rf[t] - res0.f0).norm()):.2f} "
            f"|f_lin-f_real| {float(cen(flin - rf[t]).norm()):.2f} "
            f"|f(w_path)-f_real| {float(cen(fpath - rf[t]).norm()):.2f} | trace real {tr(real) / tr(k0):.2f} path "
            f"{tr(pth) / tr(k0):.2f}, rel dist path-real {float((pth - real).norm() / real.norm()):.2f} "
            f"real-previous {float((real - prev).norm() / real.norm()):.2f} "
            f"real-Theta0 {float((real - k0).norm() / real.norm()):.2f}",
            flush=True,
        )
        prev = real


for arg in sys.argv[1:]:
    one_case(Path(arg))
