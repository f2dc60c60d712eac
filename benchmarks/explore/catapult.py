"""Exploration: full-batch GD above the linearized stability edge (the catapult regime, Lewkowycz et al. 2020),
where the frozen-kernel prediction diverges and the real network converges after a first-step spike.

For each cached bench case the kernel at w0 is computed again and the discrete engine is run on three
kernels: Theta_0 as is (diverges when the edge ratio r = lr x sharpness / 2 > 1); Theta_0 / r (the whole
kernel scaled to the edge, as ``edge_cap`` does to an updated kernel: a real network's sharpness does not stay
above 2 / lr); Theta_0 with only its eigenvalues above the edge clipped to it (the catapult shrinks the top
directions), by the discrete engine and by gradient flow (the ode engine: with the clipped kernel a "central
flow" in the sense of Cohen et al. 2024, the time-averaged path of a run whose sharpness hovers at the edge).
Also the gradient flow on Theta_0, stable at any lr. No constant is fitted: the edge is the case's own 2 / lr.
Kept as run; the logs are in benchmarks/results/explore/: catapult.txt (the two public gd-mse cases, from which
``above_edge`` was chosen) and catapult_mseedge.txt (the mseedge suite, run afterwards, and the two again).

    python benchmarks/explore/catapult.py CASE.json ...
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import curve_scores, load_cached_case, schedule_of

from trainless._losses import loss_hessian
from trainless.dynamics import KernelOperator, simulate
from trainless.kernel import compute_kernel


def clipped(k: torch.Tensor, top: float) -> torch.Tensor:
    """k (N, N, C, C) with the eigenvalues of its (N C)^2 matrix above ``top`` set to ``top`` (float64)."""
    n, _, c, _ = k.shape
    m = k.permute(0, 2, 1, 3).reshape(n * c, n * c)
    evals, evecs = torch.linalg.eigh(m)
    m = (evecs * evals.clamp_max(top)) @ evecs.T
    return m.reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous()


for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    res = compute_kernel(model.module, data.x, kconf)
    k0, f0 = res.k_train_train, res.f0
    sched = schedule_of(config)
    sharp = KernelOperator(k0).sharpness(loss_hessian(config.loss, f0))
    ratio = config.lr * sharp / 2.0
    real = np.array(d["record"]["loss"])
    kernels = {"frozen": k0, "scaled to edge": k0 / ratio}
    if config.loss == "mse":  # the MSE Hessian is 1/N x identity: the edge is an eigenvalue of Theta itself
        kernels["top clipped"] = clipped(k0, sharp * data.n / ratio)
    print(
        f"{p.stem[:8]} {case.tag} {config.loss} lr {config.lr:g}: edge ratio {ratio:.2f}; real "
        f"{' '.join(f'{real[i]:.3f}' for i in (0, 1, 2, 5, 10, 50, 150))}",
        flush=True,
    )
    for name, k in kernels.items():
        for engine in ("discrete",) if name == "scaled to edge" else ("discrete", "ode"):
            traj = simulate(k, f0, data.y, sched, loss=config.loss, engine=engine)
            curve = traj.loss.mean(0).numpy()
            if not np.isfinite(curve).all() or curve.max() > 1e6:
                print(f"  {name:15s} {engine:8s} diverges", flush=True)
                continue
            print(
                f"  {name:15s} {engine:8s} {curve_scores(curve, real)}; "
                f"{' '.join(f'{curve[i]:.3f}' for i in (0, 1, 2, 5, 10, 50, 150))}",
                flush=True,
            )
