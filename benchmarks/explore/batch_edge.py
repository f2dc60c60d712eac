"""Exploration: does a minibatch's own stability edge at w0 tell which SGD runs leave the stable regime?

For each minibatch case, the kernel at w0 is computed again and the sharpness of the linearized loss on random
batches of the case's size (40 reshuffles; (1/B) J_B^T H_B J_B's top eigenvalue, ``KernelOperator.sharpness`` on
the batch's sub-kernel) is set against the edge 2(1+m)/lr, next to the full-batch one. ``bump`` is the real
run's largest loss in steps 10-60 over its smallest in the first 10 (above 1: the loss climbed back up).
Kept as run; the log is in benchmarks/results/explore/batch_edge.txt.

    python benchmarks/explore/batch_edge.py CASE.json ...
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import climb_back, load_cached_case

from trainless._losses import loss_hessian
from trainless.dynamics import KernelOperator
from trainless.kernel import compute_kernel

for p in map(Path, sys.argv[1:]):
    d = json.loads(p.read_text())
    case, config, kconf, model, data = load_cached_case(d)
    res = compute_kernel(model.module, data.x, kconf)
    k, h = res.k_train_train, loss_hessian(config.loss, res.f0)
    n, b = k.shape[0], config.batch_size or k.shape[0]
    full = KernelOperator(k).sharpness(h)
    g = torch.Generator().manual_seed(0)
    batch = []
    for _ in range(40):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - b + 1, b):
            idx = perm[i : i + b]
            batch.append(KernelOperator(k[idx][:, idx]).sharpness(h[idx]))
    s = np.array(batch) * config.lr / (2 * (1 + config.momentum))
    bump = climb_back(d["record"]["loss"])
    print(
        f"{p.stem[:6]} {case.tag:6s} m {config.momentum} B {b} lr {config.lr:.0e}: edge ratio full "
        f"{full * config.lr / (2 * (1 + config.momentum)):.2f} batch median {np.median(s):.2f} p90 "
        f"{np.quantile(s, 0.9):.2f} max {s.max():.2f} | real bump {bump:.2f}",
        flush=True,
    )
