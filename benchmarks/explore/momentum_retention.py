"""Exploration: does the momentum buffer lose its pull as the Jacobian changes (why momentum runs start slow)?

Below the stability edge the real momentum-0.9 runs fall slower than the frozen-kernel prediction over their first
~10 steps, then faster (unseen11: step 4 at 1.30 against a predicted 0.94). A linearized model maps each gradient
into function space once, with one Jacobian: the buffer's image is u_{t+1} = m u_t + J g_t (what the function-space
engine carries; with J_t at each step it is the ``kept`` buffer with the real kernels). The real step moves the
outputs by -lr J_t v_{t+1}, v_{t+1} = m v_t + g_t the weight-space buffer, whose older gradients are mapped through
today's Jacobian: J_t g_s, not J_s g_s. If the Jacobian decorrelates from step to step, the old gradients pull less
(or elsewhere) than the engine assumes, and the run is slower than any kernel model with a kept buffer.

The case's real run is replayed step by step (its own batches, torch's SGD; checked against the cached loss curve),
and at each step t, at w_t: the true image J_t v_{t+1} and the kept one u_{t+1} = m u_t + J_t g_t (two
Jacobian-vector products on the whole training set), compared by their rate along the full-batch residual
gradient r_t = dL/df (how fast each would drive the loss down: <r, J v> / <r, u>), their norm ratio and cosine;
and the one-step retention at init that a predictor could compute: <J_1 g_0, J_0 g_0> / ||J_0 g_0||^2 (g_0 the
first batch's gradient, w_1 the real first step, which the linearized run shares). Kept as run; log in
benchmarks/results/explore/momentum_retention.txt.

``--predict``: instead, a screen of the simplest model of that loss: each older gradient's image retained by rho
per step, i.e. heavy ball in function space with momentum rho m, rho the one-step retention at init (one gradient,
one step, two Jacobian-vector products; no constant fitted). The frozen-kernel prediction (the discrete engine,
what --kernel-updates auto gives with momentum) is made with m and with rho m, both scored against the cached real
run (largest / median relative T_eps error, levels, loss at T). Log momentum_retention_predict.txt.

    python benchmarks/explore/momentum_retention.py CASE.json ... [--steps 40] [--predict]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dataclasses import replace

import numpy as np
from fidelity_default import curve_scores, load_cached_case

from trainless import PredictConfig, predict
from trainless._losses import loss_grad, loss_value
from trainless.finetune._loop import make_optimizer
from trainless.models import HeadStart
from trainless.predict._endpoint import WeightPath
from trainless.predict._preserve import preserved


def dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


def one_case(path: Path, steps: int) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    case, config, _, model, data = load_cached_case(d)
    if not config.momentum:
        raise SystemExit(f"{path}: a momentum run")
    m = config.momentum
    wp = WeightPath(model, data, case.trainable)
    module, params = model.module, wp.params
    opt = make_optimizer(config, params)
    x, y = wp.x, data.y
    batches = d["record"]["batches"]
    real = d["record"]["loss"]
    u = torch.zeros_like(wp.f0)
    v: list[torch.Tensor] | None = None
    g0_image0 = None
    print(f"{path.stem[:8]} N={len(y)} B={config.batch_size} lr={config.lr} m={m}")
    for t in range(steps):
        with torch.no_grad():
            f_t = torch.cat([module(x[i : i + 256]) for i in range(0, len(y), 256)]).double()
        full = float(loss_value(config.loss, f_t, y))
        r = loss_grad(config.loss, f_t, y)
        idx = torch.as_tensor(batches[t] if batches[t] is not None else range(len(y)))
        opt.zero_grad(set_to_none=True)
        loss_value(config.loss, module(x[idx]), y[idx]).backward()
        g = [p.grad.detach().clone() for p in params]
        v = g if v is None else [m * b + gi for b, gi in zip(v, g, strict=True)]
        jg, jv = wp.jvp(g), wp.jvp(v)
        u = m * u + jg
        if t == 0:
            g_first, g0_image0 = g, jg
        elif t == 1:
            retention = dot(wp.jvp(g_first), g0_image0) / dot(g0_image0, g0_image0)
            print(f"   one-step retention at init <J_1 g_0, J_0 g_0> / |J_0 g_0|^2 = {retention:.3f}")
        rate = dot(r, jv) / dot(r, u) if dot(r, u) else float("nan")
        cos = dot(jv, u) / (float(jv.norm()) * float(u.norm()))
        if t < 12 or t % 5 == 0:
            print(
                f"   step {t:3d} loss {full:.4f} (cached {real[t]:.4f}): rate true/kept {rate:.2f}, "
                f"|J v| / |u| {float(jv.norm() / u.norm()):.2f}, cos {cos:.3f}",
                flush=True,
            )
        opt.step()


def retention_at_init(model, data, config, trainable: str, batch) -> float:
    """<J_1 g_0, J_0 g_0> / ||J_0 g_0||^2: g_0 the first batch's gradient at w0, w_1 = w0 - lr g_0 (the first
    step, the same for the real and the linearized run); the model is left at w0."""
    with preserved(model.module):
        wp = WeightPath(model, data, trainable)
        idx = torch.as_tensor(batch if batch is not None else range(len(data.y)))
        for p in wp.params:
            p.grad = None
        loss_value(config.loss, model.module(wp.x[idx]), data.y[idx]).backward()
        g0 = [p.grad.detach().clone() for p in wp.params]
        j0 = wp.jvp(g0)
        with torch.no_grad():
            for p, g in zip(wp.params, g0, strict=True):
                p.sub_(config.lr * g)
        j1 = wp.jvp(g0)
    return dot(j1, j0) / dot(j0, j0)


def screen(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    case, config, kconf, model, data = load_cached_case(d)
    rho = retention_at_init(model, data, config, case.trainable, d["record"]["batches"][0])
    real = np.array(d["record"]["loss"])
    print(
        f"{path.parent.parent.name:9s} {path.stem[:8]} N={len(data.y)} B={config.batch_size} lr={config.lr} "
        f"m={config.momentum}: retention rho = {rho:.3f}, m' = {rho * config.momentum:.3f}",
        flush=True,
    )
    updates = tuple(case.kernel_updates)
    for label, mom, ups in (
        ("m", config.momentum, ()),
        ("rho m", rho * config.momentum, ()),
        ("m, updates", config.momentum, updates),
        ("rho m, updates", rho * config.momentum, updates),
    ):
        opts = PredictConfig(kernel=kconf, batch_orders=case.batch_orders, endpoint_check=False, kernel_updates=ups)
        pred = predict(
            model,
            data,
            replace(config, momentum=mom),
            opts,
            trainable=case.trainable,
            head_start=HeadStart(case.head_start),
        )
        print(f"   {label:15s} {curve_scores(np.array(pred.loss), real)}", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args.pop(args.index("--steps") + 1)) if "--steps" in args else 40
    args = [a for a in args if a != "--steps"]
    for p in args:
        if p != "--predict":
            screen(Path(p)) if "--predict" in args else one_case(Path(p), n)
