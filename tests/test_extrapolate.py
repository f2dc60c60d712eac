"""App. D extrapolation: exact power laws (algebra), a Gaussian task with a power-law limit spectrum
(statistics), the modal curve against the discrete engine, the time warp, bad input, and the model-level
entry point on a small CNN."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from problems import eig_desc, gaussian_power_law_task, power_law_modes

from trainless import FinetuneConfig, load_dataset, load_model
from trainless.dynamics import (
    KernelOperator,
    SGDSchedule,
    cumulative_share,
    epsilon_times,
    fit_power_law,
    mode_factors,
    mse_flow_curve,
    mse_mode_curve,
    simulate,
    squared_loss_stable,
)
from trainless.errors import TrainlessError
from trainless.extrapolate import (
    corrected_exponent,
    extrapolate,
    extrapolate_spectrum,
    minimum_subset,
    tail_projections,
    time_warp,
    warp_curve,
)
from trainless.predict import PredictConfig, predict

FAST = PredictConfig(timing_steps=0, batch_orders=2, endpoint_check=False)


@pytest.mark.parametrize("classes", [1, 3])
def test_exact_power_laws_are_recovered_and_their_curve_is_the_truth(classes):
    c, s, a, b = 3.0, 1.3, 0.5, 1.1
    n0, n = 60, 480
    lam0, p0 = power_law_modes(n0, classes, c, s, a, b)
    lam, p = power_law_modes(n, classes, c, s, a, b)
    lr = [0.2] * 40
    r = extrapolate_spectrum(lam0, p0, n0, n, float(p.sum()), lr, alpha=0.0, anchor_window=0.0)
    assert (r.c, r.s, r.tail_a, r.tail_b) == pytest.approx((c, s, a, b), rel=1e-10)
    assert r.classes == classes and len(r.eigenvalues) == n * classes
    np.testing.assert_allclose(r.eigenvalues, lam / n, rtol=1e-10)
    np.testing.assert_allclose(r.projections, p / n, rtol=1e-9)
    truth = mse_mode_curve(lam / n, p / n, lr)
    np.testing.assert_allclose(r.mse_loss, truth, rtol=1e-10)
    # the subset's own curve is its exact spectrum's
    np.testing.assert_allclose(r.mse_loss_subset, mse_mode_curve(lam0 / n0, p0 / n0, lr), rtol=1e-12)


def test_corrected_exponent_reading():
    # no correction at N = N0, alpha (1 - N0/N) more steep as N grows, bounded by alpha
    assert corrected_exponent(1.2, 100, 100, 0.15) == 1.2
    assert corrected_exponent(1.2, 100, 1000, 0.15) == pytest.approx(1.2 + 0.15 * 0.9)
    assert corrected_exponent(1.2, 100, 10**9, 0.15) < 1.2 + 0.15
    lam0, p0 = power_law_modes(50, 1, 2.0, 1.0, 1.0, 1.5)
    k = np.arange(1, 201)
    total = 1.5 * float(p0.sum()) * 4
    paper = extrapolate_spectrum(lam0, p0, 50, 200, total, [0.1] * 5, alpha=0.2, keep_head=False)
    np.testing.assert_allclose(paper.eigenvalues, 2.0 * k ** -(1.0 + 0.2 * 0.75), rtol=1e-10)
    assert paper.exponent == pytest.approx(1.15) and (paper.fit_first, paper.fit_last) == (1, 25)
    # default: the subset's head up to k0 = 5, the corrected slope pivoting at k0
    r = extrapolate_spectrum(lam0, p0, 50, 200, total, [0.1] * 5, alpha=0.2)
    assert r.k0 == 5 and (r.fit_first, r.fit_last) == (5, 25)
    np.testing.assert_allclose(r.eigenvalues[:4], 2.0 / k[:4], rtol=1e-12)
    np.testing.assert_allclose(r.eigenvalues[4:], 2.0 / 5 * (k[4:] / 5) ** -1.15, rtol=1e-10)


def test_tail_meets_the_anchor_and_the_sum():
    rng = np.random.default_rng(0)
    k = np.arange(1, 201)
    p = k**-1.2 * rng.chisquare(1, size=200)
    for window in (0.0, 0.25):
        total = 1.3 * float(p.sum())
        t = tail_projections(p, 20, total, 800, anchor_window=window)
        assert t.projections.sum() == pytest.approx(total, rel=1e-10)
        np.testing.assert_array_equal(t.projections[:19], p[:19])
        anchor = p[19] if window == 0 else p[14:25].mean()
        assert t.projections[19] == pytest.approx(anchor, rel=1e-10)
        assert np.all(np.diff(t.projections[19:]) <= 0) == (t.b >= 0)
    # a total the top modes already hold: tail set to the anchor alone (b = inf)
    t = tail_projections(p, 20, float(p[:19].sum()) + 0.5 * p[19], 800)
    assert math.isinf(t.b) and t.projections[20:].sum() == 0
    # a residual total far above what the subset holds: a growing tail (b < 0)
    assert tail_projections(p, 20, 100 * float(p.sum()), 800).b < 0


def test_gaussian_task_spectrum_and_curve_near_the_truth():
    """x ~ N(0, diag(j^-1.5)): extrapolate N0 = 500 -> N = 2000 (the paper's 4x, Fig. 7) without the slope
    correction (the limit spectrum is an exact power law). Measured over seeds 0-3: median relative error of
    the top half of the spectrum 0.12-0.13, T_eps (eps 10-40%) relative error up to 0.12 on seed 0 and 0.85 on
    seed 1 (its subset's own curve errs as much), so the curve is checked against the subset's."""
    n0, n = 500, 2000
    for seed in (0, 2):
        x, y = gaussian_power_law_task(n, 4000, 1.5, seed)
        lam, p = eig_desc(x @ x.T, y)
        lam0, p0 = eig_desc(x[:n0] @ x[:n0].T, y[:n0])
        lr = [0.5 * n / lam[0]] * 300
        r = extrapolate_spectrum(lam0, p0, n0, n, float(y @ y), lr, alpha=0.0)
        top = slice(0, n0 // 2)
        rel = np.abs(np.asarray(r.eigenvalues)[top] / (lam[top] / n) - 1)
        assert np.median(rel) < 0.2
        truth = mse_mode_curve(lam / n, p / n, lr)
        t_true = np.array([e.steps for e in epsilon_times(truth, [0.1, 0.2, 0.4])], dtype=float)
        t_ext = np.array([e.steps for e in epsilon_times(np.asarray(r.mse_loss), [0.1, 0.2, 0.4])], dtype=float)
        assert np.max(np.abs(t_ext / t_true - 1)) < 0.3
        # a fit of the larger spectrum's slope over the same ranks agrees with the subset's to 0.1
        assert abs(fit_power_law(lam / n, (1, n0 // 2)).s - r.s) < 0.1


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_modal_curve_is_the_discrete_engine(momentum, nesterov):
    torch.manual_seed(0)
    n, c = 12, 3
    j = torch.randn(n * c, 40, dtype=torch.float64)
    theta = (j @ j.T).view(n, c, n, c).permute(0, 2, 1, 3).contiguous()
    op = KernelOperator(theta)
    f0 = 0.1 * torch.randn(n, c, dtype=torch.float64)
    y = torch.arange(n) % c
    lrs = tuple(0.02 * (1 + 0.5 * math.sin(t)) for t in range(25))
    traj = simulate(op, f0, y, SGDSchedule(lrs, momentum=momentum, nesterov=nesterov), loss="mse")
    spec = op.spectrum_for(c)
    onehot = torch.nn.functional.one_hot(y, c).double()
    proj = spec.project(onehot - f0).pow(2)
    modal = mse_mode_curve(spec.eigenvalues.numpy() / n, proj.numpy() / n, lrs, momentum, nesterov)
    np.testing.assert_allclose(modal, traj.loss[0].numpy(), rtol=1e-10)
    e = mode_factors(spec.eigenvalues.numpy() / n, lrs, [0, 7, 25], momentum, nesterov)
    np.testing.assert_allclose(0.5 * (e**2) @ (proj.numpy() / n), modal[[0, 7, 25]], rtol=1e-12)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_squared_loss_stability_is_the_recursions_own(momentum, nesterov):
    # Past the edge a mode grows without bound; below it, it decays. Checked on the recursion itself, one mode at a
    # time, around the edge (heavy ball: lr mu = 2 (1 + m); Nesterov: 2 (1 + m) / (1 + 2 m)).
    edge = 2 * (1 + momentum) / (1 + 2 * momentum if nesterov else 1)
    for h in (0.5 * edge, 0.98 * edge, 1.02 * edge, 2 * edge):
        e = mode_factors(np.array([h]), [1.0] * 200, [200], momentum, nesterov)[0, 0]  # 200 steps: no overflow
        assert squared_loss_stable(np.array([0.1, h]), [1.0, 0.5], momentum, nesterov) == (abs(e) < 1), h


def test_flow_curve_is_the_small_lr_limit_of_the_modal_curve():
    mu, pi = np.array([3.0, 1.0, 0.2]), np.array([0.5, 0.3, 0.2])
    for momentum in (0.0, 0.9):
        lrs = [1e-4] * 20000  # tau_T = 2 / (1 - m)
        flow = mse_flow_curve(mu, pi, lrs, momentum)
        assert flow[-1] == pytest.approx(0.5 * float(pi @ np.exp(-2 * mu * 2 / (1 - momentum))), rel=1e-12)
        # with momentum the buffer's build-up lags the flow by about m / (1 - m) steps: a percent here
        rtol = 2e-3 if momentum == 0 else 2e-2
        np.testing.assert_allclose(flow[::1000], mse_mode_curve(mu, pi, lrs, momentum)[::1000], rtol=rtol)
    # at any lr it stays bounded, where the discrete recursion past the edge does not
    assert np.all(np.isfinite(mse_flow_curve(mu, pi, [10.0] * 600))) and mse_mode_curve(mu, pi, [10.0] * 60)[-1] > 1e50


def test_time_warp_inverts_a_slowed_curve():
    t = np.arange(101, dtype=np.float64)
    fast = np.exp(-t / 10)
    slow = np.exp(-t / 20)  # the same curve at half speed
    tau = time_warp(fast, slow)
    np.testing.assert_allclose(tau, t / 2, atol=0.05)  # linear interpolation between steps
    np.testing.assert_allclose(time_warp(fast, fast), t, atol=1e-9)
    np.testing.assert_allclose(warp_curve(fast, t / 2), np.interp(t / 2, t, fast))
    # progress beyond the source curve's end clamps to its last step
    assert time_warp(slow, fast)[-1] == 100


def test_cumulative_share():
    share = cumulative_share([3.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(share, [0.6, 0.8, 0.8, 1.0])


def test_bad_input_is_named():
    lam0, p0 = power_law_modes(40, 1, 1.0, 1.0, 1.0, 1.0)
    lr = [0.1]
    with pytest.raises(TrainlessError, match=r"N = 20\).*N0 = 40"):
        extrapolate_spectrum(lam0, p0, 40, 20, 10.0, lr)
    with pytest.raises(TrainlessError, match="k0 must be an integer in \\[1, 39\\]"):
        extrapolate_spectrum(lam0, p0, 40, 80, 100.0, lr, k0=40)
    bad = lam0.copy()
    bad[5:] = 0.0
    with pytest.raises(TrainlessError, match="non-positive eigenvalue .* rank 6"):
        extrapolate_spectrum(bad, p0, 40, 80, 100.0, lr)
    with pytest.raises(TrainlessError, match="descending"):
        fit_power_law(lam0[::-1])
    with pytest.raises(TrainlessError, match="at least 8 eigenvalues"):
        fit_power_law(lam0[:10])
    with pytest.raises(TrainlessError, match="alpha"):
        extrapolate_spectrum(lam0, p0, 40, 80, 100.0, lr, alpha=-0.1)
    with pytest.raises(TrainlessError, match="residual_total"):
        extrapolate_spectrum(lam0, p0, 40, 80, 0.0, lr)
    with pytest.raises(TrainlessError, match="same length"):
        extrapolate_spectrum(lam0, p0[:-1], 40, 80, 100.0, lr)


@pytest.fixture
def digits_all():
    return load_dataset("digits", classes=3, per_class=40, seed=1, resolution=16)


def test_model_level_mse_matches_the_subset_prediction(digits_all):
    model = load_model("tiny-cnn", 3, seed=3)
    cfg = FinetuneConfig(lr=0.05, steps=30, loss="mse")
    ext = extrapolate(model, digits_all, cfg, 24, FAST)
    assert (ext.n0, ext.n, ext.loss) == (24, 120, "mse") and ext.estimated_run_seconds is None
    assert len(ext.loss_curve) == len(ext.loss_subset) == 31
    # the subset's curve is the exact discrete engine's prediction on that subset
    sub = dataclasses.replace(
        digits_all, x=digits_all.x[list(ext.subset_indices)], y=digits_all.y[list(ext.subset_indices)]
    )
    pred = predict(load_model("tiny-cnn", 3, seed=3), sub, cfg, FAST)
    np.testing.assert_allclose(ext.loss_subset, pred.loss, rtol=1e-6)
    # the residual total is the larger set's own
    f0 = torch.cat([model.module(digits_all.x).double()])
    dy = torch.nn.functional.one_hot(digits_all.y, 3).double() - f0.detach()
    assert ext.spectral.residual_total == pytest.approx(float(dy.pow(2).sum()) / 120, rel=1e-6)
    assert ext.spectral.n == 120 and len(ext.spectral.eigenvalues) == 360
    assert ext.to_dict()["eps_times"][0]["status"] in ("reached", "at-budget", "not-reached", "flat")


def test_model_level_cross_entropy_is_a_warp_of_the_subset_curve(digits_all):
    model = load_model("tiny-cnn", 3, seed=3)
    cfg = FinetuneConfig(lr=0.02, steps=30, loss="ce", batch_size=30, momentum=0.5)
    ext = extrapolate(model, digits_all, cfg, 24, dataclasses.replace(FAST, timing_steps=1))
    step = ext.subset_prediction.step_seconds
    assert step > 0 and ext.estimated_run_seconds == pytest.approx(step * 120 / 24 * 30)
    warp = np.asarray(ext.warp)
    assert np.all(np.diff(ext.spectral.mse_loss) < 0)  # a monotone target progress gives a monotone warp
    assert warp[0] == 0 and np.all(np.diff(warp) >= 0) and np.all((warp >= 0) & (warp <= 30))
    scale = ext.loss_curve[0] / ext.loss_subset[0]
    np.testing.assert_allclose(ext.loss_curve, warp_curve(np.asarray(ext.loss_subset), warp) * scale, rtol=1e-12)
    assert any("full-batch" in w for w in ext.warnings)


def test_model_level_cross_entropy_warp_past_the_squared_loss_edge(digits_all):
    # At an lr whose squared-loss recursion diverges in the top modes the warp used to stop at step 0 (a flat curve,
    # no warning); it follows gradient flow there, and says so.
    model = load_model("tiny-cnn", 3, seed=3)
    cfg = FinetuneConfig(lr=0.35, steps=25, loss="ce")
    ext = extrapolate(model, digits_all, cfg, 24, FAST)
    mu_1 = max(ext.spectral.eigenvalues_subset[0], ext.spectral.eigenvalues[0])
    # the premise: past the squared loss's edge (its discrete proxy explodes), below the cross-entropy run's own
    assert cfg.lr * mu_1 > 2.0 and ext.subset_prediction.edge_ratio < 1.0
    assert ext.spectral.mse_loss[-1] > 1e3 * ext.spectral.mse_loss[0]
    warp = np.asarray(ext.warp)
    assert warp[-1] > 1 and np.all(np.diff(warp) >= 0)
    assert np.all(np.diff(ext.loss_curve) < 0)  # the subset's falling curve, warped (it was flat at its start)
    assert sum("the time warp follows its gradient flow" in w for w in ext.warnings) == 1
    # below the edge nothing changes (the measured discrete warp)
    calm = extrapolate(model, digits_all, dataclasses.replace(cfg, lr=0.02), 24, FAST)
    assert not any("gradient flow" in w for w in calm.warnings)


def test_model_level_bad_input(digits_all):
    model = load_model("tiny-cnn", 3, seed=3)
    low = minimum_subset(3)
    with pytest.raises(TrainlessError, match=f"too small .* at least {low}"):
        extrapolate(model, digits_all, FinetuneConfig(steps=3), low - 1, FAST)
    with pytest.raises(TrainlessError, match="exceeds the dataset's N = 120"):
        extrapolate(model, digits_all, FinetuneConfig(steps=3), 121, FAST)
    with pytest.raises(TrainlessError, match="weight_decay"):
        extrapolate(model, digits_all, FinetuneConfig(steps=3, weight_decay=0.1), 30, FAST)
    with pytest.raises(TrainlessError, match=r"k0 must be an integer in \[1, 89\]"):
        extrapolate(model, digits_all, FinetuneConfig(steps=3), 30, FAST, k0=90)
    with pytest.raises(TrainlessError, match="alpha"):
        extrapolate(model, digits_all, FinetuneConfig(steps=3), 30, FAST, alpha=float("nan"))
