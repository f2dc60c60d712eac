"""The function-space engines against weight-space training of the linearized model and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from problems import batch_coefficients, reference_kernel, tanh_mlp, train_linearized

from trainless.data import batch_schedule
from trainless.dynamics import (
    Engine,
    EpsDefinition,
    EpsStatus,
    HeldOut,
    KernelOperator,
    SGDSchedule,
    constant_schedule,
    epsilon_time,
    epsilon_times,
    simulate,
    smooth,
)
from trainless.errors import TrainlessError

N, C = 10, 3


@pytest.fixture(scope="module")
def problem():
    torch.manual_seed(3)
    module = tanh_mlp(c=C)
    x = torch.randn(N, 5, dtype=torch.float64)
    y = torch.arange(N) % C
    k, f0 = reference_kernel(module, x)
    return module, x, y, k, f0


def _jw0(module, x):
    from trainless.kernel import jacobian_vector_product

    return jacobian_vector_product(module, x)


def _w0_sq(module):
    return float(sum(p.detach().pow(2).sum() for p in module.parameters()))


CASES = [
    dict(loss="ce", batch_size=None),
    dict(loss="mse", batch_size=None),
    dict(loss="ce", batch_size=4),
    dict(loss="ce", batch_size=3, drop_last=True, momentum=0.9),
    dict(loss="mse", batch_size=4, momentum=0.8, nesterov=True, weight_decay=0.05),
    dict(loss="ce", batch_size=None, momentum=0.5, weight_decay=0.1, schedule=True),
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_discrete_engine_equals_weight_space_sgd_on_the_linearized_model(problem, case):
    module, x, y, k, f0 = problem
    steps = 25
    case = dict(case)
    lrs = [0.3 * (0.5 if case.pop("schedule", False) and t >= 10 else 1.0) for t in range(steps)]
    batch_size, drop_last = case.pop("batch_size"), case.pop("drop_last", False)
    loss = case.pop("loss")
    batches = batch_schedule(N, batch_size, steps, drop_last=drop_last, seed=5)
    ref_loss, ref_dist = train_linearized(module, x, y, lrs, batches, loss, **case)
    schedule = SGDSchedule(
        lr=tuple(lrs),
        batch_size=batch_size,
        batch_orders=None if batch_size is None else (tuple(batches),),
        **case,
    )
    traj = simulate(k, f0, y, schedule, loss=loss, jw0=_jw0(module, x), w0_sq_norm=_w0_sq(module))
    torch.testing.assert_close(traj.loss[0], torch.tensor(ref_loss, dtype=torch.float64), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(traj.distance[0], torch.tensor(ref_dist, dtype=torch.float64), rtol=1e-8, atol=1e-10)
    assert ref_loss[-1] < ref_loss[0]  # the problem really trains


def test_pseudo_kernel_equals_its_kronecker_expansion(problem):
    _, _, y, _, f0 = problem
    torch.manual_seed(0)
    a = torch.randn(N, 2 * N, dtype=torch.float64)
    kp = a @ a.T / N
    full = kp[:, :, None, None] * torch.eye(C, dtype=torch.float64)
    sched = constant_schedule(0.5, 20, batch_size=4, batch_orders=(tuple(batch_schedule(N, 4, 20, seed=1)),))
    for loss in ("ce", "mse"):
        a_ = simulate(kp, f0, y, sched, loss=loss)
        b_ = simulate(full, f0, y, sched, loss=loss)
        torch.testing.assert_close(a_.loss, b_.loss, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(a_.distance, b_.distance, rtol=1e-10, atol=1e-12)
    gd = constant_schedule(0.5, 20)
    torch.testing.assert_close(
        simulate(kp, f0, y, gd, loss="mse", engine="closed-form").loss,
        simulate(full, f0, y, gd, loss="mse", engine="closed-form").loss,
    )


def test_mse_gd_discrete_equals_its_spectral_closed_form(problem):
    # f_{s+1} - Y = (I - lr Theta / N)(f_s - Y)  =>  L_s = 1/(2N) sum_k (1 - lr lambda_k / N)^(2s) q_k^2.
    _, _, y, k, f0 = problem
    lr, steps = 0.4, 30
    traj = simulate(k, f0, y, constant_schedule(lr, steps), loss="mse")
    mat = KernelOperator(k)._mat
    lam, v = torch.linalg.eigh(mat)
    q = v.T @ (f0 - torch.nn.functional.one_hot(y, C).double()).reshape(-1)
    s = torch.arange(steps + 1, dtype=torch.float64)[:, None]
    expect = ((1 - lr * lam / N) ** (2 * s) * q**2).sum(1) / (2 * N)
    torch.testing.assert_close(traj.loss[0], expect, rtol=1e-11, atol=1e-13)


def test_ode_equals_eq4_closed_form_for_mse(problem):
    _, _, y, k, f0 = problem
    sched = constant_schedule(0.2, 40, momentum=0.5)  # effective lr 0.4
    ode = simulate(k, f0, y, sched, loss="mse", engine="ode")
    closed = simulate(k, f0, y, sched, loss="mse", engine="closed-form")
    torch.testing.assert_close(ode.loss, closed.loss, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ode.distance, closed.distance, rtol=1e-5, atol=1e-8)
    # eq. (4) directly: L_t = 1/(2N) (Y - f0)^T expm(-2 Theta t / N) (Y - f0), t = 40 * 0.4.
    d = (f0 - torch.nn.functional.one_hot(y, C).double()).reshape(-1)
    t = 40 * 0.4
    expect = d @ torch.linalg.matrix_exp(-2 * KernelOperator(k)._mat * t / N) @ d / (2 * N)
    assert math.isclose(float(closed.loss[0, -1]), float(expect), rel_tol=1e-9)


def test_ode_converges_to_the_discrete_engine_as_lr_goes_to_zero(problem):
    _, _, y, k, f0 = problem
    total_time = 4.0
    gaps = []
    for steps in (10, 40, 160):
        sched = constant_schedule(total_time / steps, steps)
        d = simulate(k, f0, y, sched, loss="ce").loss[0]
        o = simulate(k, f0, y, sched, loss="ce", engine="ode").loss[0]
        gaps.append(float((d - o).abs().max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < gaps[0] / 10  # first order in lr: 16x smaller lr, about 16x smaller gap


def test_sde_without_noise_is_euler_which_is_discrete_gd(problem):
    # A full batch has no noise (without replacement); one Euler step per optimizer step is then GD.
    _, _, y, k, f0 = problem
    sched = constant_schedule(0.3, 20)
    sde = simulate(k, f0, y, sched, loss="ce", engine="sde", paths=3)
    gd = simulate(k, f0, y, sched, loss="ce")
    for p in range(3):
        torch.testing.assert_close(sde.loss[p], gd.loss[0], rtol=1e-12, atol=1e-14)


def test_sde_noise_covariance_equals_the_minibatch_covariance(problem):
    # Batch size 1: the N possible updates are -lr z_i, z_i = Theta[:, i] e_i; their covariance is what one
    # Euler-Maruyama step with the current noise must produce.
    _, _, y, k, f0 = problem
    lr = 0.05
    op = KernelOperator(k)
    from trainless._losses import loss_grad

    e = loss_grad("ce", f0, y)
    z = op.column_images(e).reshape(N, -1)  # (N_i, N C)
    zc = z - z.mean(0)
    expect = lr**2 * zc.T @ zc / N
    sched = constant_schedule(lr, 1, batch_size=1)
    paths = 40000
    sde = simulate(k, f0, y, sched, loss="ce", engine="sde", paths=paths, noise="current", seed=1)
    mean_step = (f0 - lr * op.matvec(e / N)).reshape(-1)
    dev = sde.f_final.reshape(paths, -1) - mean_step
    cov = dev.T @ dev / paths
    rel = float((cov - expect).norm() / expect.norm())
    assert rel < 0.05, rel
    assert float(dev.mean(0).norm()) < 0.05 * float(expect.diagonal().sum().sqrt())


def test_sde_matches_sgd_with_independent_batches(problem):
    # The SDE models independent minibatches; against SGD that draws each step's batch afresh (without
    # replacement inside the batch) its mean and spread must agree, and shrink with the batch size.
    _, _, y, k, f0 = problem
    steps, paths = 30, 400
    spreads = []
    for b in (2, 5):
        g = torch.Generator().manual_seed(0)
        orders = tuple(tuple(torch.randperm(N, generator=g)[:b] for _ in range(steps)) for _ in range(paths))
        sgd = simulate(k, f0, y, constant_schedule(0.5, steps, batch_size=b, batch_orders=orders), loss="ce")
        for noise in ("current", "rescaled"):
            sde = simulate(
                k, f0, y, constant_schedule(0.5, steps, batch_size=b), loss="ce", engine="sde", paths=paths, noise=noise
            )
            real_mean, real_std = float(sgd.loss[:, -1].mean()), float(sgd.loss[:, -1].std())
            assert abs(float(sde.loss[:, -1].mean()) - real_mean) < 0.02 * real_mean, (b, noise)
            assert abs(float(sde.loss[:, -1].std()) - real_std) < 0.25 * real_std, (b, noise)
        spreads.append(real_std)
    assert spreads[0] > spreads[1] > 0


def test_linear_model_prediction_is_real_training(problem):
    # For f(x) = W x + b the linearization is the model: the engine must reproduce real SGD exactly.
    from problems import linear_model

    torch.manual_seed(0)
    module = linear_model(5, C)
    x = torch.randn(N, 5, dtype=torch.float64)
    y = torch.arange(N) % C
    k, f0 = reference_kernel(module, x)
    batches = batch_schedule(N, 4, 30, seed=2)
    sched = SGDSchedule(lr=(0.2,) * 30, momentum=0.9, batch_size=4, batch_orders=(tuple(batches),))
    traj = simulate(k, f0, y, sched, loss="ce")
    opt = torch.optim.SGD(module.parameters(), lr=0.2, momentum=0.9)
    real = []
    for b in batches:
        with torch.no_grad():
            real.append(float(torch.nn.functional.cross_entropy(module(x), y)))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x[b]), y[b]).backward()
        opt.step()
    torch.testing.assert_close(traj.loss[0, :-1], torch.tensor(real, dtype=torch.float64), rtol=1e-10, atol=1e-12)


def test_diverging_learning_rate_is_reported(problem):
    _, _, y, k, f0 = problem
    lam = float(torch.linalg.eigvalsh(KernelOperator(k)._mat).max())
    traj = simulate(k, f0, y, constant_schedule(20 * N / lam, 400), loss="mse")
    assert traj.status.value == "diverged"
    assert "lower the learning rate" in traj.message


def test_bad_input_is_rejected(problem):
    _, _, y, k, f0 = problem
    gd = constant_schedule(0.1, 5)
    with pytest.raises(TrainlessError, match="does not support loss 'ce'; use 'discrete', 'ode', 'sde'"):
        simulate(k, f0, y, gd, loss="ce", engine="closed-form")
    with pytest.raises(TrainlessError, match=r"f0 must have shape \(10, 3\)"):
        simulate(k, f0[:, :2], y, gd)
    with pytest.raises(TrainlessError, match="needs jw0"):
        simulate(k, f0, y, constant_schedule(0.1, 5, weight_decay=0.1))
    with pytest.raises(TrainlessError, match="steps must be at least 1"):
        constant_schedule(0.1, 0)
    with pytest.raises(TrainlessError, match="learning rate must be finite and > 0"):
        constant_schedule(-0.1, 3)
    with pytest.raises(TrainlessError, match="momentum must be in"):
        constant_schedule(0.1, 3, momentum=1.0)
    with pytest.raises(TrainlessError, match="batch_size must be in"):
        simulate(k, f0, y, constant_schedule(0.1, 3, batch_size=N + 1))
    with pytest.raises(TrainlessError, match="labels must lie"):
        simulate(k, f0, y + 5, gd)
    with pytest.raises(TrainlessError, match=r"kernel must be \(N, N, C, C\)"):
        simulate(k[0], f0, y, gd)


def test_epsilon_times_by_hand():
    curve = [10.0, 6.0, 4.0, 3.0, 2.5, 2.0]
    # decrease: |L_t - 2| <= eps * 8
    assert epsilon_time(curve, 0.5) == (1, EpsStatus.REACHED)  # |6 - 2| = 4 <= 4
    assert epsilon_time(curve, 0.1) == (4, EpsStatus.REACHED)  # |3 - 2| = 1 > 0.8, |2.5 - 2| <= 0.8
    assert epsilon_time(curve, 0.01) == (5, EpsStatus.AT_BUDGET)
    assert epsilon_time(curve, 0.3, "initial") == (3, EpsStatus.REACHED)  # <= 3
    assert epsilon_time(curve, 1.0, "absolute") == (None, EpsStatus.NOT_REACHED)
    assert epsilon_time(curve, 0.5, "final") == (3, EpsStatus.REACHED)  # |L - 2| <= 1
    assert epsilon_time([1.0, 1.0, 1.0], 0.1) == (None, EpsStatus.FLAT)
    assert epsilon_time([1.0, float("nan")], 0.1) == (None, EpsStatus.DIVERGED)
    times = epsilon_times(curve, [0.5, 0.1], basis="error", definition=EpsDefinition.DECREASE)
    assert [t.steps for t in times] == [1, 4] and times[0].basis == "error"
    assert "raise steps" in EpsStatus.NOT_REACHED.message
    for bad in (0.0, 1.0, -0.2, float("nan")):
        with pytest.raises(TrainlessError, match="eps"):
            epsilon_times(curve, [bad])
    torch.testing.assert_close(
        smooth(torch.tensor([1.0, 3.0, 5.0, 7.0]), 2), torch.tensor([1.0, 2.0, 4.0, 6.0]).double()
    )


def test_engine_docstrings_state_their_trade_off():
    for e in Engine:
        assert e.__doc__ and "Cost" in e.__doc__, e


def test_kernel_updates_switch_the_kernel_at_the_given_steps():
    # Reference: GD / SGD stepped by hand with Theta replaced at steps 3 and 7; every batch order uses the
    # kernels the first (paired) order got, each asked for once.
    from trainless._losses import loss_grad
    from trainless.dynamics import KernelOperator, SGDSchedule, simulate

    gen = torch.Generator().manual_seed(0)
    n, c = 6, 3

    def psd():
        a = torch.randn(n * c, n * c, generator=gen, dtype=torch.float64)
        return (a @ a.T / (n * c)).reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous()

    kernels = [psd(), psd(), psd()]
    f0 = torch.randn(n, c, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    calls = []

    def update(t, alpha, f, segment):
        assert segment is None  # no momentum
        calls.append((t, alpha.clone()))
        return KernelOperator(kernels[1 if t == 3 else 2])

    orders = tuple(tuple(torch.randperm(n, generator=gen)[:2] for _ in range(10)) for _ in range(3))
    for batch_orders in (None, orders):
        calls.clear()
        sched = SGDSchedule(lr=(0.3,) * 10, batch_size=None if batch_orders is None else 2, batch_orders=batch_orders)
        traj = simulate(kernels[0], f0, y, sched, loss="ce", kernel_updates=(3, 7), update_kernel=update)
        assert [t for t, _ in calls] == [3, 7]
        for p, order in enumerate(batch_orders or (None,)):
            f, alpha = f0.clone(), torch.zeros_like(f0)
            for t in range(10):
                k = kernels[0 if t < 3 else 1 if t < 7 else 2]
                theta = k.permute(0, 2, 1, 3).reshape(n * c, n * c)
                e = loss_grad("ce", f, y)
                g_a = batch_coefficients(e, None if order is None else order[t])
                if p == 0 and t in (3, 7):
                    torch.testing.assert_close(calls[(3, 7).index(t)][1], alpha)
                f = f - 0.3 * (theta @ g_a.reshape(-1)).reshape(n, c)
                alpha = alpha - 0.3 * g_a
            torch.testing.assert_close(traj.f_final[p], f, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(traj.alpha_final[p], alpha, rtol=1e-12, atol=1e-12)
        assert torch.isnan(traj.distance[:, -1]).all() and torch.isfinite(traj.distance[:, 0]).all()


@pytest.mark.parametrize("nesterov", [False, True])
def test_kernel_updates_carry_the_momentum_buffer_through_the_new_jacobian(nesterov):
    # Reference: torch's momentum SGD in weight space on the piecewise-linear model f = f_k + J_k (w - w_k),
    # J switching at steps 3 and 7 (explicit matrices; every batch order uses the same J_k). The engine runs
    # in function space; the hook maps each path's weight-space buffer onto the new J.
    from trainless._losses import loss_grad
    from trainless.dynamics import KernelOperator, SGDSchedule, simulate

    gen = torch.Generator().manual_seed(1)
    n, c, d, steps, lr, m = 6, 3, 11, 10, 0.2, 0.9
    jacs = [torch.randn(n * c, d, generator=gen, dtype=torch.float64) * s for s in (0.5, 0.9, 1.3)]

    def kernel(j):
        return (j @ j.T).reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous()

    f0 = torch.randn(n, c, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    orders = tuple(tuple(torch.randperm(n, generator=gen)[:3] for _ in range(steps)) for _ in range(3))
    which = {3: 1, 7: 2}
    buffers, segments = {}, []

    alpha_at = {}

    def update(t, alpha, f, segment):
        assert segment is None or segment.path == 0  # None: no carry hook
        alpha_at[t] = alpha
        return KernelOperator(kernel(jacs[which[t]]))

    def carry(t, segment):
        segments.append((t, segment))
        j_prev = jacs[which[t] - 1]
        pull = j_prev.T @ segment.buffer.reshape(-1)
        b = buffers.get(segment.path)
        buffers[segment.path] = pull if b is None else segment.decay * b + pull
        return (jacs[which[t]] @ buffers[segment.path]).reshape(n, c)

    for batch_orders in (None, orders):
        buffers.clear()
        segments.clear()
        sched = SGDSchedule(
            lr=(lr,) * steps,
            momentum=m,
            nesterov=nesterov,
            batch_size=None if batch_orders is None else 3,
            batch_orders=batch_orders,
        )
        kw = dict(loss="ce", kernel_updates=(3, 7), update_kernel=update)
        approx = simulate(KernelOperator(kernel(jacs[0])), f0, y, sched, **kw)
        traj = simulate(KernelOperator(kernel(jacs[0])), f0, y, sched, carry_momentum=carry, **kw)
        assert [(t, s.path) for t, s in segments] == [(t, p) for p in range(len(batch_orders or [0])) for t in (3, 7)]
        for p, order in enumerate(batch_orders or (None,)):
            w, buf, f_k, j = torch.zeros(d, dtype=torch.float64), None, f0.clone(), jacs[0]
            w_k = w.clone()
            for t in range(steps):
                if t in which:
                    f_k, w_k, j = f_k + (j @ (w - w_k)).reshape(n, c), w.clone(), jacs[which[t]]
                f = f_k + (j @ (w - w_k)).reshape(n, c)
                e = loss_grad("ce", f, y)
                g_a = batch_coefficients(e, None if order is None else order[t])
                g = j.T @ g_a.reshape(-1)
                buf = g.clone() if buf is None else m * buf + g
                w = w - lr * (g + m * buf if nesterov else buf)
            f = f_k + (j @ (w - w_k)).reshape(n, c)
            torch.testing.assert_close(traj.f_final[p], f, rtol=1e-11, atol=1e-11)
            # the buffer kept as J_k B instead: the paths part (what the hook is for)
            assert float((approx.f_final[p] - f).abs().max()) > 1e-3
            if p == 0:
                # the final weights from the last segment's rows and the buffer carried into it
                w_t = (
                    w_k + jacs[2].T @ (traj.alpha_final[0] - alpha_at[7]).reshape(-1) - traj.carry_final[0] * buffers[0]
                )
                torch.testing.assert_close(w_t, w, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("batch_size", [None, 3])
def test_a_filled_momentum_buffer_continues_torchs_run(nesterov, batch_size):
    # Reference: torch.optim.SGD in weight space on f = f_k + J (w - w_k) (explicit J), its momentum buffer filled
    # with B before the first step, as after k real steps (B outside J's row space); weight decay included. The
    # engine gets J B and must give the same curve, and w_T = w_k + J^T alpha + c w_k - carry B.
    from trainless._losses import loss_value
    from trainless.dynamics import KernelOperator

    gen = torch.Generator().manual_seed(4)
    n, c, d, steps, lr, m, wd = 6, 3, 11, 12, 0.15, 0.9, 0.01
    j = torch.randn(n * c, d, generator=gen, dtype=torch.float64)
    theta = (j @ j.T).reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous()
    f_k = torch.randn(n, c, generator=gen, dtype=torch.float64)
    w_k = torch.randn(d, generator=gen, dtype=torch.float64)
    b = torch.randn(d, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    order = None if batch_size is None else tuple(torch.randperm(n, generator=gen)[:3] for _ in range(steps))

    w = torch.nn.Parameter(w_k.clone())
    opt = torch.optim.SGD([w], lr=lr, momentum=m, nesterov=nesterov, weight_decay=wd)
    opt.state[w]["momentum_buffer"] = b.clone()
    ref = []
    for t in range(steps + 1):
        with torch.no_grad():
            ref.append(float(loss_value("ce", f_k + (j @ (w - w_k)).reshape(n, c), y)))
        if t == steps:
            break
        rows = slice(None) if order is None else order[t]
        opt.zero_grad()
        loss_value("ce", (f_k + (j @ (w - w_k)).reshape(n, c))[rows], y[rows]).backward()
        opt.step()

    sched = SGDSchedule(
        lr=(lr,) * steps,
        momentum=m,
        nesterov=nesterov,
        weight_decay=wd,
        batch_size=batch_size,
        batch_orders=None if order is None else (order,),
    )
    jw = (j @ w_k).reshape(n, c)
    u0 = (j @ b).reshape(n, c)
    traj = simulate(KernelOperator(theta), f_k, y, sched, loss="ce", jw0=jw, w0_sq_norm=1.0, initial_buffer=u0)
    torch.testing.assert_close(traj.loss[0], torch.tensor(ref, dtype=torch.float64), rtol=1e-10, atol=1e-12)
    w_t = w_k + j.T @ traj.alpha_final[0].reshape(-1) + float(traj.c_final[0]) * w_k - float(traj.carry_final[0]) * b
    torch.testing.assert_close(w_t, w.detach(), rtol=1e-10, atol=1e-12)
    assert torch.isnan(traj.distance).all()  # ||w_t - w_k|| would need ||B||
    # Without the buffer the run differs (the filled buffer matters), and the empty buffer is the plain run.
    plain = simulate(KernelOperator(theta), f_k, y, sched, loss="ce", jw0=jw, w0_sq_norm=1.0)
    assert float((plain.loss[0] - traj.loss[0]).abs().max()) > 1e-3
    zero = simulate(KernelOperator(theta), f_k, y, sched, loss="ce", jw0=jw, w0_sq_norm=1.0, initial_buffer=0 * u0)
    torch.testing.assert_close(zero.loss, plain.loss, rtol=1e-12, atol=1e-14)


def test_a_filled_momentum_buffer_is_checked(problem):
    _, _, y, k, f0 = problem
    sched = constant_schedule(0.1, 5, momentum=0.9)
    with pytest.raises(TrainlessError, match=r"initial_buffer must have the outputs' shape \(10, 3\), got \(10, 2\)"):
        simulate(k, f0, y, sched, initial_buffer=torch.zeros(N, 2))
    with pytest.raises(TrainlessError, match="initial_buffer needs momentum > 0, got momentum=0"):
        simulate(k, f0, y, constant_schedule(0.1, 5), initial_buffer=torch.zeros(N, C))
    with pytest.raises(TrainlessError, match="needs the discrete engine, got engine 'ode'"):
        simulate(k, f0, y, sched, engine="ode", initial_buffer=torch.zeros(N, C))
    with pytest.raises(TrainlessError, match="initial_buffer contains NaN"):
        simulate(k, f0, y, sched, initial_buffer=torch.full((N, C), math.nan))
    held = HeldOut.of(k[:2], f0[:2], y[:2])
    with pytest.raises(TrainlessError, match="initial_buffer cannot be combined with held-out"):
        simulate(k, f0, y, sched, held_out=held, initial_buffer=torch.zeros(N, C))


def test_kernel_update_steps_are_checked(problem):
    _, _, y, k, f0 = problem
    sched = constant_schedule(0.1, 5)
    for bad in ((0,), (5,), (2.0,)):
        with pytest.raises(TrainlessError, match=r"kernel update steps must be integers in \[1, 4\]"):
            simulate(k, f0, y, sched, kernel_updates=bad, update_kernel=lambda t, a, f, s: None)
