"""Exploration: is the linearized model's early over-speed (benchmarks/explore/early_phase.py) second order in the step?

For a cached full-batch GD case: the frozen kernel's linearized run for its first steps (exact discrete GD in
function space), and at its weights w_t = w0 + J^T alpha_t (one vector-Jacobian product at w0) after t = 1, 3, 5,
10 steps: the real network's outputs there, the linearized ones f0 + J dw, and the degree-2 Taylor outputs
f0 + J dw + (1/2) dw^T (d^2 f / dw^2) dw (a forward-over-forward JVP along dw; ReLU6 kinks contribute nothing to
it, the products of weights across layers do). Printed: the three losses, the real run's loss at step t, and
how much of the real-minus-linear output gap the second-order term explains, 1 - ||f_real - f_quad|| /
||f_real - f_lin||. Log in benchmarks/results/explore/second_order_early.txt.

    python benchmarks/explore/second_order_early.py CASE.json ...
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, jvp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import linearize_cached, real_outputs

from trainless._losses import loss_grad, loss_value
from trainless.finetune import learning_rates
from trainless.predict import preserved
from trainless.predict._endpoint import WeightPath

torch.set_num_threads(2)
AT = (1, 3, 5, 10)


def second_directional(module: torch.nn.Module, x: torch.Tensor, v: dict[str, torch.Tensor], tile: int = 25):
    """d^2/de^2 f(w0 + e v) at e = 0, (N, C) float64: forward-mode over forward-mode."""
    primals = {n: p.detach() for n, p in module.named_parameters() if n in v}
    out = []
    for i in range(0, x.shape[0], tile):
        xb = x[i : i + tile]

        def first(pr, xb=xb):
            return jvp(lambda q: functional_call(module, q, (xb,)), (pr,), (v,))[1]

        out.append(jvp(first, (primals,), (v,))[1].detach())
    return torch.cat(out).double().cpu()


for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    case, config, kconf, model, data, lin = linearize_cached(d)
    lrs, n, y = learning_rates(config), data.n, lin.y
    real = np.asarray(d["record"]["loss"])
    f, alpha = lin.kernel.f0.double(), torch.zeros_like(lin.kernel.f0.double())
    snaps = {}
    for t in range(max(AT)):
        g = loss_grad(case.loss, f, y)
        alpha = alpha - (lrs[t] / n) * g
        f = f - (lrs[t] / n) * lin.operator.matvec(g)
        if t + 1 in AT:
            snaps[t + 1] = (alpha.clone(), f.clone())
    print(f"{p.parent.parent.name} {p.stem[:8]} {case.tag} N={n} lr={config.lr:.2g}", flush=True)
    with preserved(model.module):
        path = WeightPath(model, data, case.trainable)
        names = [nm for nm, q in model.module.named_parameters() if q.requires_grad]
        for t, (a, f_lin) in snaps.items():
            path.load(path.w0)
            dw = path.vjp(a)
            v = dict(zip(names, dw, strict=True))
            quad = 0.5 * second_directional(model.module, path.x, v)
            with torch.no_grad():
                for q, s in zip(path.params, dw, strict=True):
                    q.add_(s)
            f_real = real_outputs(path)
            f_quad = f_lin + quad
            gap = float((f_real - f_lin).norm())
            explained = 1 - float((f_real - f_quad).norm()) / gap if gap > 0 else float("nan")
            L = [float(loss_value(case.loss, z, y)) for z in (f_lin, f_real, f_quad)]
            print(
                f"   step {t:2d}: loss linearized {L[0]:.4f} real net at w_t {L[1]:.4f} degree-2 {L[2]:.4f} "
                f"(real run {real[t]:.4f}); ||f_real - f_lin|| / ||f_lin - f0|| "
                f"{gap / float((f_lin - lin.kernel.f0.double()).norm()):.3f}, explained by degree 2 {explained:.0%}",
                flush=True,
            )
