"""Linearized networks (Lee et al. 2019): the linearized module, test-point dynamics, closed forms, NTK-GP."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from problems import linear_model, reference_kernel, tanh_mlp, train_linearized
from torch import nn

from trainless import batch_schedule, linearize, simulate
from trainless._losses import loss_value
from trainless.dynamics import HeldOut, constant_schedule
from trainless.errors import TrainlessError
from trainless.theory import gradient_flow_mse, head_nngp, head_nngp_closed_form, ntk_gp


def _data(n: int, m: int, d: int = 5, c: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + m, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n + m,), generator=g)
    return x[:n], y[:n], x[n:], y[n:]


def _split_kernel(module: nn.Module, x: torch.Tensor, x_test: torch.Tensor):
    """Theta on the training points, Theta(X_test, X), f0 on both: by jacrev on the concatenation."""
    k, f0 = reference_kernel(module, torch.cat([x, x_test]))
    n = x.shape[0]
    return k[:n, :n], k[n:, :n], f0[:n], f0[n:]


def _train_weight_space(lin, x, y, x_test, y_test, lrs, batches, loss, **opt):
    """Train a LinearizedModel with torch.optim.SGD; the whole-set train and test loss before each step
    and after the last."""
    sgd = torch.optim.SGD(lin.parameters(), lr=lrs[0], **opt)
    train, test = [], []
    for t in range(len(lrs) + 1):
        with torch.no_grad():
            train.append(float(loss_value(loss, lin(x), y)))
            test.append(float(loss_value(loss, lin(x_test), y_test)))
        if t == len(lrs):
            break
        for g in sgd.param_groups:
            g["lr"] = lrs[t]
        sgd.zero_grad()
        loss_value(loss, lin(x[batches[t]]), y[batches[t]]).backward()
        sgd.step()
    return train, test


def test_linearized_module_matches_the_independent_reference_and_its_taylor_model():
    module = tanh_mlp()
    x, y, _, _ = _data(8, 0)
    lin = linearize(module)
    assert [p.shape for p in lin.parameters()] == [p.shape for p in module.parameters()]
    torch.testing.assert_close(lin(x), module(x), rtol=0, atol=1e-14)  # f_lin(w0) = f(w0)
    # f_lin is affine in w: a step v moves it by exactly J v (a jvp of the network at w0).
    v = {k: 1e-1 * torch.randn_like(p) for k, p in module.named_parameters()}
    with torch.no_grad():
        for p, (k, _) in zip(lin.w.values(), module.named_parameters(), strict=True):
            p.add_(v[k])
    _, jv = torch.func.jvp(
        lambda w: torch.func.functional_call(module, w, (x,)), (dict(module.named_parameters()),), (v,)
    )
    torch.testing.assert_close(lin(x), module(x) + jv, rtol=0, atol=1e-13)
    assert lin.distance() == pytest.approx(math.sqrt(sum(float(t.pow(2).sum()) for t in v.values())), rel=1e-12)

    lin = linearize(module)
    lrs, batches = [0.3] * 12, [torch.arange(8)] * 12
    ref, _ = train_linearized(module, x, y, lrs, batches, "ce", momentum=0.9, weight_decay=0.01)
    ours, _ = _train_weight_space(lin, x, y, x, y, lrs, batches, "ce", momentum=0.9, weight_decay=0.01)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert module(x).requires_grad and all(p.grad is None for p in module.parameters())  # the net is untouched


@pytest.mark.parametrize(
    ("loss", "batch", "momentum", "nesterov", "wd"),
    [("ce", None, 0.0, False, 0.0), ("mse", 4, 0.9, False, 0.0), ("ce", 3, 0.5, True, 0.02)],
)
def test_engine_test_curves_equal_the_linearized_model_trained_in_weight_space(loss, batch, momentum, nesterov, wd):
    module = tanh_mlp()
    x, y, x_test, y_test = _data(10, 7)
    k, k_tx, f0, f0_test = _split_kernel(module, x, x_test)
    steps, lr = 15, 0.4
    orders = None
    if batch is not None:
        orders = (tuple(batch_schedule(10, batch, steps, seed=3)),)
    sched = constant_schedule(
        lr, steps, momentum=momentum, nesterov=nesterov, weight_decay=wd, batch_size=batch, batch_orders=orders
    )
    held = HeldOut.of(k_tx, f0_test, y_test)
    jw0 = w0_sq = None
    if wd:
        from trainless.kernel import jacobian_vector_product

        jw0 = jacobian_vector_product(module, x)
        held = HeldOut.of(k_tx, f0_test, y_test, jacobian_vector_product(module, x_test))
        w0_sq = float(sum(p.detach().pow(2).sum() for p in module.parameters()))
    traj = simulate(k, f0, y, sched, loss=loss, jw0=jw0, w0_sq_norm=w0_sq, held_out=held)
    batches = list(sched.batch_orders[0]) if sched.batch_orders is not None else [torch.arange(10)] * steps
    train, test = _train_weight_space(
        linearize(module),
        x,
        y,
        x_test,
        y_test,
        [lr] * steps,
        batches,
        loss,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=wd,
    )
    np.testing.assert_allclose(traj.loss[0].numpy(), train, rtol=1e-10)
    np.testing.assert_allclose(traj.test_loss[0].numpy(), test, rtol=1e-10)
    assert traj.test_error.shape == (1, steps + 1)
    assert test[-1] != pytest.approx(test[0], rel=1e-3)  # the test side really moved


def test_closed_form_matches_the_matrix_exponential_on_train_and_test_points():
    module = linear_model(d_in=4, c=2)
    x, y, x_test, y_test = _data(6, 5, d=4, c=2)
    k, k_tx, f0, f0_test = _split_kernel(module, x, x_test)
    targets = torch.nn.functional.one_hot(y, 2).double()
    times = [0.0, 0.5, 3.0, 40.0]
    flow = gradient_flow_mse(k, f0, targets, times, k_test_train=k_tx, f0_test=f0_test)
    mat = k.permute(0, 2, 1, 3).reshape(12, 12).numpy()
    tx = k_tx.permute(0, 2, 1, 3).reshape(10, 12).numpy()
    r0 = (f0 - targets).reshape(-1).numpy()
    # (x . x' + 1) (x) I has rank d + 1 = 5 < N = 6 per class: Theta is singular, the pseudo-inverse matters.
    assert np.linalg.matrix_rank(mat) == 10
    for i, t in enumerate(times):
        e = scipy.linalg.expm(-mat * t / 6)
        np.testing.assert_allclose(flow.f_train[i].reshape(-1).numpy(), targets.reshape(-1).numpy() + e @ r0, atol=1e-9)
        # eq. (19) with Theta^-1 read as the pseudo-inverse: identical on the range of Theta, where r0's
        # moving part lies.
        want = f0_test.reshape(-1).numpy() - tx @ np.linalg.pinv(mat) @ (np.eye(12) - e) @ r0
        np.testing.assert_allclose(flow.f_test[i].reshape(-1).numpy(), want, atol=1e-8)
    # The closed-form engine's test loss is eq. (19)'s outputs scored.
    sched = constant_schedule(0.5, 6)
    traj = simulate(k, f0, y, sched, loss="mse", engine="closed-form", held_out=HeldOut.of(k_tx, f0_test, y_test))
    flow2 = gradient_flow_mse(k, f0, targets, sched.times(), k_test_train=k_tx, f0_test=f0_test)
    want = [float(loss_value("mse", f, y_test)) for f in flow2.f_test]
    np.testing.assert_allclose(traj.test_loss[0].numpy(), want, rtol=1e-10)


def _pd(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n + 2, generator=g, dtype=torch.float64)
    return a @ a.T / (n + 2) + 0.1 * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize("t", [0.7, math.inf])
def test_ntk_gp_is_the_law_of_eq_19_over_gaussian_initial_outputs(t):
    """Sample f0 ~ N(0, K) on train and test points, apply eq. (19) with a fixed Theta, compare the sample
    mean and covariance with eqs. (27)-(30)."""
    n, m, s = 5, 3, 40000
    theta, k = _pd(n + m, 1), _pd(n + m, 2)
    y = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    chol = torch.linalg.cholesky(k)
    f0 = chol @ torch.randn(n + m, s, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # A class-diagonal kernel treats each of the s columns as one output: s initialisations at once.
    times = [t if math.isfinite(t) else 1e9]
    flow = gradient_flow_mse(
        theta[:n, :n], f0[:n], y[:, None].expand(n, s), times, k_test_train=theta[n:, :n], f0_test=f0[n:]
    )
    out = flow.f_test[0]  # (m, s)
    gp = ntk_gp(theta[:n, :n], theta[n:, :n], k[:n, :n], k[n:, :n], k[n:, n:], y[:, None], t)
    err = gp.std / math.sqrt(s)
    assert torch.all((out.mean(1) - gp.mean[:, 0]).abs() < 5 * err)
    emp = torch.cov(out)
    assert torch.allclose(emp, gp.covariance, atol=6 * float(gp.covariance.diagonal().max()) * math.sqrt(2 / s))
    assert not torch.allclose(gp.covariance, k[n:, n:], atol=1e-3)  # training changed the prior


def test_ntk_gp_limits_and_readout_only_reduction():
    n, m = 6, 4
    k = _pd(n + m, 3)
    theta = _pd(n + m, 4)
    y = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    at0 = ntk_gp(theta[:n, :n], theta[n:, :n], k[:n, :n], k[n:, :n], k[n:, n:], y, 0.0)
    torch.testing.assert_close(at0.mean, torch.zeros(m, 2, dtype=torch.float64))
    torch.testing.assert_close(at0.covariance, k[n:, n:])  # untrained: the prior
    # Readout-only training: Theta = K, eq. (47) as its own eq. (46) expands: K(x, x) - K(x, X) K^-1 (I - E^2)
    # K(X, x). (The seed prints I - E; -2 (I - E) + (I - E)^2 = E^2 - I. The Monte-Carlo test above checks
    # eq. 28 itself.)
    t = 2.5
    gp = ntk_gp(k[:n, :n], k[n:, :n], k[:n, :n], k[n:, :n], k[n:, n:], y, t)
    e2 = torch.linalg.matrix_exp(-2.0 * k[:n, :n] * t / n)
    want = k[n:, n:] - k[n:, :n] @ torch.linalg.solve(k[:n, :n], torch.eye(n, dtype=torch.float64) - e2) @ k[:n, n:]
    torch.testing.assert_close(gp.covariance, want, rtol=1e-10, atol=1e-12)
    inf = ntk_gp(k[:n, :n], k[n:, :n], k[:n, :n], k[n:, :n], k[n:, n:], y, math.inf)  # NNGP posterior, eq. (25-26)
    torch.testing.assert_close(inf.mean, k[n:, :n] @ torch.linalg.solve(k[:n, :n], y))
    torch.testing.assert_close(
        inf.covariance, k[n:, n:] - k[n:, :n] @ torch.linalg.solve(k[:n, :n], k[:n, n:]), rtol=1e-9, atol=1e-12
    )


def test_readout_only_training_equals_the_linearization_to_float64_tolerance():
    module = tanh_mlp(hidden=9)
    module[0].requires_grad_(False)  # only the readout layer trains: f is linear in its weights
    x, y, x_test, _ = _data(10, 6)
    lin = linearize(module)
    assert sum(p.numel() for p in lin.parameters()) == 9 * 3 + 3
    real = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.3, momentum=0.9)
    opt = torch.optim.SGD(lin.parameters(), lr=0.3, momentum=0.9)
    for _ in range(25):
        for net, o in ((module, real), (lin, opt)):
            o.zero_grad()
            loss_value("mse", net(x), y).backward()
            o.step()
    for xs in (x, x_test):
        torch.testing.assert_close(module(xs), lin(xs), rtol=0, atol=1e-12)
    assert float((module(x).detach() - lin.f0(x)).abs().max()) > 0.1  # and it did train


def test_head_nngp_ensemble_estimates_the_default_init_closed_form():
    from trainless import load_dataset, load_model

    data = load_dataset("digits", classes=3, per_class=4, resolution=16)
    model = load_model("tiny-cnn", 3, resolution=16, seed=0)
    feats = []
    hook = model.head_module().register_forward_hook(lambda _m, inp, _o: feats.append(inp[0].detach()))
    before = model.module(data.x).detach()
    hook.remove()
    rng = torch.get_rng_state()
    est = head_nngp(model, data.x, heads=400, seed=0)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is left alone
    torch.testing.assert_close(model.module(data.x), before)  # the head is restored
    exact = head_nngp_closed_form(feats[0])
    rel = float(torch.linalg.matrix_norm(est - exact) / torch.linalg.matrix_norm(exact))
    assert rel < 0.08, rel


def test_bad_input_is_named():
    bn = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    with pytest.raises(TrainlessError, match="BatchNorm in training mode"):
        linearize(bn)
    frozen = tanh_mlp().requires_grad_(False)
    with pytest.raises(TrainlessError, match="no trainable parameters"):
        linearize(frozen)
    module = tanh_mlp()
    x, y, x_test, y_test = _data(6, 4)
    k, k_tx, f0, f0_test = _split_kernel(module, x, x_test)
    with pytest.raises(TrainlessError, match=r"k_test_train must have shape \(4, N, 3, 3\)"):
        HeldOut.of(k_tx[:, :, :2, :2], f0_test, y_test)
    with pytest.raises(TrainlessError, match="y_test must have shape"):
        HeldOut.of(k_tx, f0_test, y_test[:3])
    with pytest.raises(TrainlessError, match="do not match the training side"):
        simulate(k[:5, :5], f0[:5], y[:5], constant_schedule(0.1, 3), held_out=HeldOut.of(k_tx, f0_test, y_test))
    with pytest.raises(TrainlessError, match="'discrete' or 'closed-form' engine, got 'ode'"):
        simulate(k, f0, y, constant_schedule(0.1, 3), engine="ode", held_out=HeldOut.of(k_tx, f0_test, y_test))
    with pytest.raises(TrainlessError, match="times must be"):
        gradient_flow_mse(k, f0, f0, [-1.0])
    with pytest.raises(TrainlessError, match="singular"):
        ntk_gp(torch.zeros(3, 3), torch.zeros(2, 3), torch.eye(3), torch.zeros(2, 3), torch.eye(2), torch.ones(3, 1))


@pytest.mark.parametrize(
    ("model", "trainable", "config"),
    [
        ("factories:linear16", "all", {"lr": 0.05, "steps": 12}),
        ("tiny-cnn", "head", {"lr": 0.1, "steps": 12, "batch_size": 8, "momentum": 0.9}),
        ("tiny-cnn", "all", {"lr": 0.1, "steps": 12}),
    ],
    ids=["linear-model", "readout-only", "cnn"],
)
def test_linearity_diagnostics_along_a_real_run(model, trainable, config):
    """A linear model and readout-only training are their own linearizations: no kernel drift, no output
    gap. A CNN trained whole drifts."""
    from trainless import FinetuneConfig, finetune, load_dataset, load_model
    from trainless.theory import LinearityProbe, diagnose_run

    data = load_dataset("digits", classes=3, per_class=8, resolution=16)
    cfg = FinetuneConfig(**config)
    probe = LinearityProbe(data.x, stride=5, steps=cfg.steps)
    record = finetune(load_model(model, 3, seed=0), data, cfg, trainable=trainable, observer=probe)
    diag = diagnose_run(probe, record, data.y)
    assert diag.steps == (0, 5, 10, 12)
    assert diag.kernel_drift[0] == 0 and math.isnan(diag.output_gap[0])
    # f from the probe equals the run's own outputs at w_T: the record's final loss.
    assert float(loss_value("ce", probe.outputs[-1], data.y)) == pytest.approx(record.loss[-1], rel=1e-4)
    if model == "tiny-cnn" and trainable == "all":
        assert diag.max_kernel_drift > 1e-3 and diag.max_output_gap > 1e-3
    else:
        assert diag.max_kernel_drift < 1e-6, diag.kernel_drift  # float32 models: round-off only
        assert diag.max_output_gap < 1e-3, diag.output_gap
        assert max(abs(r - 1) for r in diag.trace_ratio) < 1e-6


def test_ntk_mlp_kernel_concentrates_as_width_grows():
    """In the NTK parameterization the kernel at init converges to a deterministic limit: two random
    initialisations disagree less at width 2048 than at width 32 (by about sqrt(64) = 8 in theory)."""
    from trainless.kernel import compute_kernel
    from trainless.theory import ntk_mlp

    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))

    def spread(width: int) -> float:
        ks = [compute_kernel(ntk_mlp(5, width, 2, seed=s), x).k_train_train for s in range(3)]
        mean = sum(ks) / 3
        return float(sum(torch.linalg.vector_norm(k - mean) for k in ks) / (3 * torch.linalg.vector_norm(mean)))

    narrow, wide = spread(32), spread(2048)
    assert wide < narrow / 3, (narrow, wide)
    with pytest.raises(TrainlessError, match="width must be an integer >= 1"):
        ntk_mlp(5, 0, 2)


def test_nngp_ensemble_of_a_relu_net_matches_the_arc_cosine_kernel():
    """One hidden ReLU layer in the NTK parameterization (sigma_w^2 = 2): K(x, x') =
    E[relu(u) relu(v)] with (u, v) ~ N(0, (2/d) [[x.x, x.x'], [x.x', x'.x']]), the arc-cosine kernel
    sqrt(S11 S22) (sin th + (pi - th) cos th) / (2 pi)."""
    from trainless.theory import nngp_ensemble, ntk_mlp

    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    est = nngp_ensemble(lambda s: ntk_mlp(4, 512, 4, depth=1, seed=s).double(), x, members=100)
    cov = 2.0 / 4 * (x @ x.T)
    diag = cov.diagonal().sqrt()
    cos = (cov / torch.outer(diag, diag)).clamp(-1, 1)
    th = torch.arccos(cos)
    exact = torch.outer(diag, diag) * (torch.sin(th) + (math.pi - th) * cos) / (2 * math.pi)
    rel = float(torch.linalg.matrix_norm(est - exact) / torch.linalg.matrix_norm(exact))
    assert rel < 0.1, rel


def test_linearized_model_trained_by_gd_equals_the_closed_forms_on_train_and_test_points():
    """MSE GD on the LinearizedModel in weight space: f_t - Y = (I - lr Theta / N)^t (f0 - Y) on the training
    points and f_test_t = f0_test - Theta(x, X) Theta^+ (I - (I - lr Theta / N)^t) (f0 - Y) on test points (the
    discrete-time eq. 15 / 19), and, at a small lr, eq. 19's gradient flow at t = lr x steps."""
    module = tanh_mlp()
    x, y, x_test, _ = _data(8, 5)
    k, k_tx, f0, f0_test = _split_kernel(module, x, x_test)
    targets = torch.nn.functional.one_hot(y, 3).double()
    lin = linearize(module)
    lr, steps, n = 0.05, 40, 8
    opt = torch.optim.SGD(lin.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss_value("mse", lin(x), targets.argmax(1)).backward()
        opt.step()
    mat = k.permute(0, 2, 1, 3).reshape(24, 24)
    tx = k_tx.permute(0, 2, 1, 3).reshape(15, 24)
    step = torch.eye(24, dtype=torch.float64) - lr * mat / n
    decay = torch.linalg.matrix_power(step, steps)
    r0 = (f0 - targets).reshape(-1)
    with torch.no_grad():
        torch.testing.assert_close(lin(x).reshape(-1), targets.reshape(-1) + decay @ r0, rtol=1e-9, atol=1e-11)
        want = f0_test.reshape(-1) - tx @ torch.linalg.pinv(mat, hermitian=True) @ (torch.eye(24) - decay) @ r0
        torch.testing.assert_close(lin(x_test).reshape(-1), want, rtol=1e-8, atol=1e-10)
        flow = gradient_flow_mse(k, f0, targets, [lr * steps], k_test_train=k_tx, f0_test=f0_test)
        gap = float((flow.f_test[0] - lin(x_test)).abs().max())
        moved = float((lin(x_test) - f0_test).abs().max())
        assert gap < 0.02 * moved, (gap, moved)  # gradient flow vs GD at lr x lambda_max / N small
