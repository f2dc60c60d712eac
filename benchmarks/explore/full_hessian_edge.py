"""Exploration: is the instability of momentum runs in the loss Hessian's non-Gauss-Newton part at w0?

The trust signal's edge and the batch edge (``batch_edge.py``) use the linearized loss's curvature, the
Gauss-Newton matrix (1/N) J^T H J, which drops the term (1/N) sum_i sum_c dl/df_ic d^2 f_ic / dw^2. With a fresh
head the residuals dl/df are large at w0, and that term couples the head to the body (d^2 f / dW dtheta is the
features' Jacobian): it could lift the real sharpness past 2 (1 + m) / lr where the Gauss-Newton one is below it, and
explain why real momentum runs stall or climb back up in steps 5-60 while the linearized run goes on down. For each
case, at w0 on its N training images (BatchNorm frozen, the case's head and trainable set): the largest and the
smallest eigenvalue of the full loss Hessian and the largest of the Gauss-Newton matrix (float32 Hessian-vector
products by torch.func, forward over reverse; SciPy's eigsh in float64, tol 1e-2), the edge ratio lr S / (2 (1 + m))
of each, and the real run's ``bump`` (its largest loss in steps 10-60 over its smallest in the first 10, as in
``batch_edge.py``; above 1 it climbed back up).

    python benchmarks/explore/full_hessian_edge.py CASE.json ...
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.func import functional_call, grad, jvp, vjp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import climb_back, load_cached_case

from trainless._losses import loss_hessian
from trainless.models._registry import select_trainable


def products(d: dict):
    """The full Hessian's and the Gauss-Newton matrix's products with a float64 vector, and the dimension."""
    case, config, _, model, data = load_cached_case(d)
    names = select_trainable(model, case.trainable)
    module = model.module
    params = {n: q.detach() for n, q in module.named_parameters() if n in names}
    rest = {n: q.detach() for n, q in module.named_parameters() if n not in names} | dict(module.named_buffers())
    x, y = data.x, data.y
    keys = list(params)

    def f(ps):
        return functional_call(module, {**ps, **rest}, (x,))

    def loss(ps):
        return F.cross_entropy(f(ps), y)

    def unflat(v: np.ndarray) -> dict:
        out, i = {}, 0
        for k in keys:
            n = params[k].numel()
            out[k] = torch.as_tensor(v[i : i + n], dtype=torch.float32).view(params[k].shape)
            i += n
        return out

    def flat(t: dict) -> np.ndarray:
        return torch.cat([t[k].reshape(-1) for k in keys]).double().numpy()

    g = grad(loss)
    with torch.no_grad():
        h = loss_hessian(config.loss, f(params).double()).float()

    def full(v):
        return flat(jvp(g, (params,), (unflat(v),))[1])

    def gauss_newton(v):
        u = jvp(f, (params,), (unflat(v),))[1]
        return flat(vjp(f, params)[1](torch.einsum("nab,nb->na", h, u) / x.shape[0])[0])

    return config, sum(q.numel() for q in params.values()), full, gauss_newton


def extreme(matvec, dim: int, which: str) -> float:
    op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(dim)
    return float(eigsh(op, k=1, which=which, tol=1e-2, return_eigenvectors=False, v0=v0)[0])


def main() -> None:
    for p in map(Path, sys.argv[1:]):
        d = json.loads(p.read_text(encoding="utf-8"))
        if d["case"]["loss"] != "ce":
            continue
        t0 = time.perf_counter()
        config, dim, full, gauss_newton = products(d)
        top, bottom, gn = extreme(full, dim, "LA"), extreme(full, dim, "SA"), extreme(gauss_newton, dim, "LA")
        edge = config.lr / (2 * (1 + config.momentum))
        bump = climb_back(d["record"]["loss"])
        print(
            f"{p.stem[:8]} {d['case']['tag']:28s} m {config.momentum} B {config.batch_size or 'N'} lr "
            f"{config.lr:.1e}: full Hessian top {top:8.1f} (edge ratio {top * edge:.2f}) bottom {bottom:8.1f}, "
            f"Gauss-Newton {gn:8.1f} ({gn * edge:.2f}), full / GN {top / gn:.2f} | real bump {bump:.2f} "
            f"[{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )


if __name__ == "__main__":
    main()
