"""The trust signals: the linearized loss's sharpness and the endpoint check."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from problems import batch_coefficients, reference_kernel, tanh_mlp
from torch.func import functional_call, jacrev

from trainless import FinetuneConfig, load_model
from trainless._losses import loss_hessian, loss_value
from trainless.dynamics import KernelOperator
from trainless.errors import ConfigError, TrainlessError
from trainless.predict import PredictConfig, auto_path_stride, endpoint_check, linearize, predict_from

FAST = PredictConfig(timing_steps=0, batch_orders=2)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_sharpness_is_the_weight_space_hessian_of_the_linearized_loss(loss):
    # Reference: (1/N) J^T H J built from the full Jacobian, its top eigenvalue by eigvalsh in float64.
    model = tanh_mlp(d_in=5, hidden=7, c=3, seed=0)
    x = torch.randn(12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kernel, f0 = reference_kernel(model, x)
    params = {k: v.detach() for k, v in model.named_parameters()}
    jac = jacrev(lambda p: functional_call(model, p, (x,)))(params)
    jmat = torch.cat([j.reshape(12 * 3, -1) for j in jac.values()], dim=1).double()
    h = loss_hessian(loss, f0)
    hmat = torch.block_diag(*h)
    want = float(torch.linalg.eigvalsh(jmat.T @ hmat @ jmat / 12)[-1])
    got = KernelOperator(kernel).sharpness(h)
    assert got == pytest.approx(want, rel=1e-9)
    if loss == "mse":
        assert got == pytest.approx(float(torch.linalg.eigvalsh(kernel.permute(0, 2, 1, 3).reshape(36, 36))[-1]) / 12)


def test_sharpness_of_the_pseudo_kernel_equals_its_kronecker_expansion():
    torch.manual_seed(1)
    a = torch.randn(6, 6, dtype=torch.float64)
    kp = a @ a.T
    full = torch.einsum("ij,ab->ijab", kp, torch.eye(4, dtype=torch.float64))
    h = loss_hessian("ce", torch.randn(6, 4, dtype=torch.float64))
    assert KernelOperator(kp).sharpness(h) == pytest.approx(KernelOperator(full).sharpness(h), rel=1e-12)


@pytest.mark.parametrize("pseudo", [False, True])
def test_clipped_kernel_sits_at_the_target_sharpness_and_keeps_the_modes_below_the_clip(pseudo):
    # MSE (H = I): the sharpness is lambda_max / N, so the clip level is target x N in closed form.
    torch.manual_seed(2)
    n, c = 6, 3
    a = torch.randn(n * c if not pseudo else n, n * c if not pseudo else n, dtype=torch.float64)
    mat = a @ a.T
    k = mat if pseudo else mat.view(n, c, n, c).permute(0, 2, 1, 3)
    op = KernelOperator(k)
    evals = torch.linalg.eigvalsh(mat).flip(0)
    h_mse = loss_hessian("mse", torch.zeros(n, c, dtype=torch.float64))
    target = 0.5 * float(evals[1] + evals[2]) / n  # between the second and third eigenvalue: two modes lowered
    clipped, level = op.clipped(h_mse, target)
    assert level == pytest.approx(target * n, rel=1e-5)
    got = torch.linalg.eigvalsh(clipped.matrix).flip(0)
    torch.testing.assert_close(got[2:], evals[2:])
    torch.testing.assert_close(got[:2], torch.full((2,), level, dtype=torch.float64))
    assert clipped.sharpness(h_mse) <= target
    # cross-entropy: no closed form for the level, but the sharpness lands at the target from below
    h_ce = loss_hessian("ce", torch.randn(n, c, dtype=torch.float64))
    goal = 0.5 * op.sharpness(h_ce)
    clipped_ce, _ = op.clipped(h_ce, goal)
    assert clipped_ce.sharpness(h_ce) == pytest.approx(goal, rel=1e-5) and clipped_ce.sharpness(h_ce) <= goal
    # at or below the target it is the kernel itself
    same, top = op.clipped(h_ce, 2.0 * op.sharpness(h_ce))
    assert same is op and top == pytest.approx(float(evals[0]))
    with pytest.raises(TrainlessError, match="target sharpness must be positive, got 0"):
        op.clipped(h_ce, 0.0)


def test_loss_hessian_matches_autograd():
    f = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1])
    for loss in ("ce", "mse"):
        h = loss_hessian(loss, f)
        for i in range(4):
            ref = torch.autograd.functional.hessian(
                lambda v, loss=loss, i=i: loss_value(loss, v.unsqueeze(0), y[i : i + 1]), f[i]
            )
            torch.testing.assert_close(h[i], ref)


def test_gd_diverges_just_above_the_sharpness_edge_and_not_below(digits16, tiny):
    cfg = FinetuneConfig(lr=0.01, steps=200, loss="mse")
    lin = linearize(tiny, digits16, cfg, FAST)
    edge = 2.0 / predict_from(lin, cfg, FAST).sharpness
    below = predict_from(lin, FinetuneConfig(lr=0.98 * edge, steps=200, loss="mse"), FAST)
    as_is = dataclasses.replace(FAST, above_edge="diverge")
    above = predict_from(lin, FinetuneConfig(lr=1.02 * edge, steps=200, loss="mse"), as_is)
    assert below.edge_ratio == pytest.approx(0.98) and above.edge_ratio == pytest.approx(1.02)
    assert below.loss[-1] < below.loss[0] and not any("stability edge" in w for w in below.warnings)
    assert not math.isfinite(above.loss[-1]) or above.loss[-1] > above.loss[0]
    assert any("stability edge" in w for w in above.warnings)


def test_endpoint_check_is_exact_for_a_linear_model(digits16):
    # f = W x + b is its own linearization: the real network at the predicted weights gives the predicted outputs.
    cfg = FinetuneConfig(lr=0.002, steps=30, batch_size=20, momentum=0.9, weight_decay=0.01)
    model = load_model("factories:linear16", 5, seed=0)
    before = [p.detach().clone() for p in model.module.parameters()]
    lin = linearize(model, digits16, cfg, FAST)
    pred = predict_from(lin, cfg, FAST, model=model, data=digits16)
    check = pred.endpoint
    assert check is not None
    assert check["output_gap"] < 1e-4
    assert check["loss_real"] == pytest.approx(check["loss_linear"], rel=1e-5)
    assert check["loss_linear"] == pytest.approx(pred.paired_loss[-1], rel=1e-9)
    assert pred.paired_loss[-1] < 0.5 * pred.paired_loss[0]
    assert check["units"] == 0 and math.isnan(check["flip_fraction"])
    for p, b in zip(model.module.parameters(), before, strict=True):
        assert torch.equal(p, b)


def test_endpoint_check_sees_a_relu_network_leave_its_linearization(digits16, tiny):
    # At a tiny lr the endpoint is near w0: linear there, few units switch; at a large lr the gap is large.
    small = FinetuneConfig(lr=1e-4, steps=20)
    large = FinetuneConfig(lr=0.5, steps=20)
    lin = linearize(tiny, digits16, small, FAST)
    frozen = dataclasses.replace(FAST, kernel_updates=())
    near = predict_from(lin, small, frozen, model=tiny, data=digits16).endpoint
    far_pred = predict_from(lin, large, frozen, model=tiny, data=digits16)
    far = far_pred.endpoint
    # The warning that the run leaves its linearization points at the mode that follows the kernel along the path,
    # unless that mode makes no updates (with momentum) or already ran (the default, "auto", or steps given).
    hint = "kernel updates along the path (the default, --kernel-updates auto"
    assert any("leaves the linearization" in w and hint in w for w in far_pred.warnings)
    heavy = dataclasses.replace(large, momentum=0.9)
    assert not any(hint in w for w in predict_from(lin, heavy, frozen, model=tiny, data=digits16).warnings)
    for updated in (FAST, dataclasses.replace(FAST, kernel_updates=(5, 10))):
        assert not any(hint in w for w in predict_from(lin, large, updated, model=tiny, data=digits16).warnings)
    # nor where "auto" would keep the kernel frozen too (weight decay: updates are not supported)
    decayed = dataclasses.replace(large, weight_decay=0.01)
    lin_wd = linearize(tiny, digits16, decayed, FAST)
    wd_pred = predict_from(lin_wd, decayed, frozen, model=tiny, data=digits16)
    assert any("leaves the linearization" in w for w in wd_pred.warnings)
    assert not any(hint in w for w in wd_pred.warnings)
    assert near is not None and far is not None
    assert near["units"] > 0 and near["units"] == far["units"]
    assert near["output_gap"] < 0.05 and near["flip_fraction"] < 0.01
    assert far["output_gap"] > 10 * near["output_gap"] and far["flip_fraction"] > near["flip_fraction"]
    assert 0 < near["inactive_fraction"] < 1


def test_endpoint_check_direct_call_rebuilds_the_weights(digits16):
    # alpha = 0 and c = 0: the endpoint is w0 itself.
    model = load_model("factories:linear16", 5, seed=0)
    f0 = model.module(digits16.x).double().detach()
    check = endpoint_check(model, digits16, "all", "ce", f0 + 1.0, torch.zeros(60, 5, dtype=torch.float64), 0.0)
    assert check.loss_real == pytest.approx(float(loss_value("ce", f0, digits16.y)), rel=1e-6)
    assert check.output_gap == pytest.approx(1.0, rel=1e-6)


def test_kernel_updates_change_nothing_for_a_linear_model(digits16):
    # Theta of f = W x + b does not depend on the weights: re-evaluating it along the path is a no-op.
    cfg = FinetuneConfig(lr=0.002, steps=30, batch_size=20, momentum=0.9)
    model = load_model("factories:linear16", 5, seed=0)
    lin = linearize(model, digits16, cfg, FAST)
    frozen = predict_from(lin, cfg, FAST)
    # along the run's own path, whose weights the paired linearized run gives (the flow's: test_flow_path.py)
    opts = dataclasses.replace(FAST, kernel_updates=(5, 12, 20), path_stride=None, update_path="own")
    moving = predict_from(lin, cfg, opts, model=model, data=digits16)
    torch.testing.assert_close(torch.tensor(moving.loss), torch.tensor(frozen.loss), rtol=1e-5, atol=1e-7)
    strided = predict_from(lin, cfg, dataclasses.replace(opts, path_stride=3), model=model, data=digits16)
    torch.testing.assert_close(torch.tensor(strided.loss), torch.tensor(frozen.loss), rtol=1e-5, atol=1e-7)
    assert [row["step"] for row in strided.kernel_path] == [5, 12, 20]  # weight moves add no kernel
    assert [row["step"] for row in moving.kernel_path] == [5, 12, 20]
    assert all(abs(row["trace_ratio"] - 1) < 1e-5 and row["relative_change"] < 1e-5 for row in moving.kernel_path)
    assert all(abs(row["residual_rate"] - 1) < 1e-5 for row in moving.kernel_path)
    # the real network at the path's weights is the linearized run there
    assert all(row["path_output_gap"] < 1e-4 for row in moving.kernel_path)
    assert all(row["path_loss_real"] == pytest.approx(row["path_loss_linear"], rel=1e-5) for row in moving.kernel_path)
    assert all(0 < row["edge_ratio"] < 1 for row in moving.kernel_path)
    # the distances the moved weights give are the linearized ones
    for row in moving.kernel_path:
        i = moving.distance_steps.index(row["step"]) if row["step"] in moving.distance_steps else None
        if i is not None:
            assert row["weight_distance"] == pytest.approx(frozen.paired_weight_distance[i], rel=1e-4)
    assert moving.paired_weight_distance[-1] == pytest.approx(frozen.paired_weight_distance[-1], rel=1e-4)


def test_scaled_updates_are_theta0_scaled_to_each_updated_kernels_trace(digits16, tiny):
    # The reference: the same engine run by hand with Theta_0 x (the trace ratio the prediction reports) from
    # each update on; the full updates differ (the kernel's shape changes too, not only its size).
    from trainless.dynamics import SGDSchedule, simulate
    from trainless.finetune import learning_rates

    cfg = FinetuneConfig(lr=0.05, steps=30)
    lin = linearize(tiny, digits16, cfg, FAST)
    opts = dataclasses.replace(FAST, kernel_updates=(5, 15), path_stride=None)
    full = predict_from(lin, cfg, opts, model=tiny, data=digits16)
    scaled = predict_from(lin, cfg, dataclasses.replace(opts, update_shape="scaled"), model=tiny, data=digits16)
    ratios = {int(row["step"]): row["trace_ratio"] for row in scaled.kernel_path}
    assert [int(row["step"]) for row in scaled.kernel_path] == [5, 15]
    assert ratios[5] == pytest.approx(full.kernel_path[0]["trace_ratio"], rel=1e-9)  # same path until step 5
    assert all(abs(r - 1) > 1e-3 for r in ratios.values())  # the kernel does grow or shrink here
    k0 = lin.kernel.k_train_train
    ref = simulate(
        k0,
        lin.kernel.f0,
        digits16.y,
        SGDSchedule(lr=learning_rates(cfg)),
        loss=cfg.loss,
        kernel_updates=(5, 15),
        update_kernel=lambda t, alpha, f, segment: KernelOperator(k0 * ratios[t]),
    )
    torch.testing.assert_close(torch.tensor(scaled.loss, dtype=torch.float64), ref.loss[0], rtol=1e-9, atol=1e-12)
    assert max(abs(a - b) for a, b in zip(scaled.loss, full.loss, strict=True)) > 1e-4
    # a linear model's kernel never changes: scaled updates are the frozen prediction as well
    model = load_model("factories:linear16", 5, seed=0)
    lin_lin = linearize(model, digits16, cfg, FAST)
    frozen = predict_from(lin_lin, cfg, FAST)
    flat = predict_from(lin_lin, cfg, dataclasses.replace(opts, update_shape="scaled"), model=model, data=digits16)
    torch.testing.assert_close(torch.tensor(flat.loss), torch.tensor(frozen.loss), rtol=1e-5, atol=1e-7)


def test_kernel_updates_change_nothing_when_only_the_head_trains(digits16, tiny):
    # Trained alone, the head is linear in its weights: Theta = (features Gram + 1) x I stays put.
    cfg = FinetuneConfig(lr=5.0, steps=20)
    lin = linearize(tiny, digits16, cfg, FAST, trainable="head")
    frozen = predict_from(lin, cfg, FAST)
    moving = predict_from(lin, cfg, dataclasses.replace(FAST, kernel_updates=(4, 10)), model=tiny, data=digits16)
    torch.testing.assert_close(torch.tensor(moving.loss), torch.tensor(frozen.loss), rtol=1e-5, atol=1e-7)
    assert frozen.loss[-1] < 0.95 * frozen.loss[0]


def test_kernel_updates_vanish_as_the_learning_rate_goes_to_zero(digits16, tiny):
    # The kernel moves by O(lr t), so the curves part by a share of the predicted decrease that is O(lr).
    gaps, rates = [], []
    for lr in (0.005, 0.0005):
        cfg = FinetuneConfig(lr=lr, steps=20)
        lin = linearize(tiny, digits16, cfg, FAST)
        frozen = torch.tensor(predict_from(lin, cfg, FAST).loss)
        opts = dataclasses.replace(FAST, kernel_updates=(5, 10, 15))
        pred = predict_from(lin, cfg, opts, model=tiny, data=digits16)
        moving = torch.tensor(pred.loss)
        gaps.append(float((moving - frozen).abs().max() / (frozen[0] - frozen[-1])))
        rates.append(max(abs(row["residual_rate"] - 1) for row in pred.kernel_path))
    assert gaps[0] > 1e-4  # the network is not linear: the updates do something at the larger lr
    assert gaps[1] < 0.3 * gaps[0]
    assert rates[0] > 1e-4 and rates[1] < 0.3 * rates[0]  # so does the kernel's rate on the residual


def test_projected_update_kernels_approach_the_exact_ones_as_the_dimension_grows(digits16, tiny):
    from trainless.kernel import KernelConfig

    cfg = FinetuneConfig(lr=0.05, steps=20)
    lin = linearize(tiny, digits16, cfg, FAST)
    opts = dataclasses.replace(FAST, kernel_updates=(5, 10, 15))
    exact = predict_from(lin, cfg, opts, model=tiny, data=digits16)
    gaps = []
    for dim in (64, 4096):
        sketch = dataclasses.replace(opts, update_kernel=KernelConfig(method="countsketch", dim=dim, factor=False))
        pred = predict_from(lin, cfg, sketch, model=tiny, data=digits16)
        assert pred.kernel_path[0]["seconds"] > 0 and len(pred.kernel_path) == 3
        pairs = zip(pred.kernel_path, exact.kernel_path, strict=True)
        gaps.append(max(abs(a["relative_change"] - b["relative_change"]) for a, b in pairs))
        assert pred.loss[:6] == exact.loss[:6]  # the kernel at w0 is the exact one: identical up to step 5
        # so the weights at the first update are too: the real network's loss there does not depend on the method
        assert pred.kernel_path[0]["path_loss_real"] == pytest.approx(exact.kernel_path[0]["path_loss_real"], rel=1e-5)
    assert gaps[0] > 0 and gaps[1] < gaps[0]
    assert all(row["path_output_gap"] > 0 and math.isfinite(row["path_loss_real"]) for row in exact.kernel_path)


def test_update_kernel_layout_must_match(digits16):
    from trainless.errors import ConfigError
    from trainless.kernel import KernelConfig

    with pytest.raises(ConfigError, match="pseudo exactly when kernel is"):
        PredictConfig(kernel_updates=(5,), update_kernel=KernelConfig(method="pseudo"))
    cfg = PredictConfig(kernel_updates=(5,), update_kernel=KernelConfig(method="countsketch", dim=128))
    assert PredictConfig.from_dict(cfg.to_dict()) == cfg


def test_kernel_updates_need_the_model_and_the_discrete_engine(digits16, tiny):
    from trainless.errors import ConfigError, TrainlessError

    with pytest.raises(ConfigError, match="kernel_updates needs engine 'discrete'"):
        PredictConfig(engine="ode", kernel_updates=(5,))
    with pytest.raises(ConfigError, match="increasing"):
        PredictConfig(kernel_updates=(5, 3))
    cfg = FinetuneConfig(lr=0.01, steps=10)
    lin = linearize(tiny, digits16, cfg, FAST)
    with pytest.raises(TrainlessError, match="pass model= and data="):
        predict_from(lin, cfg, dataclasses.replace(FAST, kernel_updates=(5,)))


def test_auto_kernel_updates_are_the_default_where_they_can_move_the_kernel(digits16, tiny):
    from trainless.errors import ConfigError
    from trainless.predict import auto_kernel_updates, predict

    assert PredictConfig().kernel_updates == "auto" and PredictConfig().scheduled_updates == ()
    assert PredictConfig.from_dict(PredictConfig().to_dict()) == PredictConfig()
    assert PredictConfig.from_dict({**PredictConfig().to_dict(), "kernel_updates": []}).kernel_updates == ()
    assert PredictConfig(engine="ode").kernel_updates == "auto"  # the ODE has no updates: "auto" makes none
    with pytest.raises(ConfigError, match="kernel_updates"):
        PredictConfig(kernel_updates="always")
    cfg = FinetuneConfig(lr=0.05, steps=30)
    lin = linearize(tiny, digits16, cfg, FAST)
    auto = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    steps = dataclasses.replace(FAST, kernel_updates=(1, 2, 5, 10, 20))
    given = predict_from(lin, cfg, steps, model=tiny, data=digits16)
    assert auto.options.kernel_updates == auto_kernel_updates(30) == (1, 2, 5, 10, 20)
    assert auto.loss == given.loss and auto.trust["mode"] == "updates"
    # the updated kernels' time is counted once, under the kernels, not again in the dynamics that call them
    assert 0 < auto.dynamics_seconds < auto.seconds - auto.kernel_seconds
    # The frozen kernel where updates cannot change the prediction or are not supported, with the reason's case:
    frozen = {
        "momentum": predict_from(lin, dataclasses.replace(cfg, momentum=0.9), FAST, model=tiny, data=digits16),
        "no network": predict_from(lin, cfg, FAST),
        "ode": predict_from(lin, cfg, dataclasses.replace(FAST, engine="ode"), model=tiny, data=digits16),
        "weight decay": predict(tiny, digits16, dataclasses.replace(cfg, weight_decay=0.01), FAST),
        "head only": predict(tiny, digits16, cfg, FAST, trainable="head"),
        "test points": predict(tiny, digits16, cfg, FAST, test_data=digits16),
    }
    for why, pred in frozen.items():
        assert pred.options.kernel_updates == () and pred.kernel_path == () and pred.trust["mode"] == "frozen", why
    assert frozen["test points"].test_n == digits16.n


def test_trust_flags_and_the_band_quoted(tmp_path):
    import json

    from trainless.predict import trust_flags, trust_summary

    assert trust_flags(0.5, {"output_gap": 0.2}, 0.5) == []
    assert trust_flags(1.5, {"output_gap": 0.7}, 0.5) == ["edge", "endpoint"]
    assert trust_flags(None, None, 0.5) == []
    bands = tmp_path / "bands.json"
    bands.write_text(
        json.dumps(
            {
                "suite": "s",
                "frozen": {
                    "flagged": {"median": 0.3, "p95": 0.9, "cases": 4},
                    "unflagged": {"median": 0.05, "p95": 0.12, "cases": 9},
                },
            }
        )
    )
    calm = trust_summary([], "frozen", bands)
    assert calm["band"]["p95"] == 0.12 and "unflagged cases were within 12%" in calm["text"]
    alarm = trust_summary(["edge"], "frozen", bands)
    assert "stability edge" in alarm["text"] and "within 90%" in alarm["text"]
    assert "along the predicted path" not in alarm["text"]  # an updated kernel's edge is the updates' reason only
    assert "kernel updated along the predicted path" in trust_summary(["edge"], "updates", bands)["text"]
    none = trust_summary([], "updates", bands)
    assert none["band"] is None and "no benchmark band" in none["text"]
    assert trust_summary([], "frozen", tmp_path / "missing.json")["band"] is None
    assert "measured on runs" not in trust_summary([], "frozen", bands, steps=300)["text"]  # no T recorded
    assert "written before they ran" not in calm["text"]
    # With the held-out suites' band packaged, it is quoted beside the calibration suite's, for the same flags.
    held = json.loads(bands.read_text())
    held["frozen"]["validation_band"] = {
        "suites": ["u1", "u2"],
        "all": {
            "flagged": {"median": 0.25, "p95": 0.7, "cases": 30},
            "unflagged": {"median": 0.06, "p95": 0.18, "cases": 12},
        },
        "sgd-momentum-ce": {
            "flagged": {"median": 0.4, "p95": 1.5, "cases": 8},
            "unflagged": {"median": 0.1, "p95": 0.3, "cases": 4},
        },
    }
    held_file = tmp_path / "bands_held.json"  # a new path: the bands are cached per file
    held_file.write_text(json.dumps(held))
    text = trust_summary([], "frozen", held_file)["text"]
    assert "unflagged cases were within 12%" in text
    assert "on the 2 suites written before they ran within 18% (median 6%, 12 cases)" in text
    assert "within 70%" in trust_summary(["endpoint"], "frozen", held_file)["text"]
    # The regime's own band where it rests on enough cases (8 here), the pooled one where it does not (4).
    momentum = trust_summary(["endpoint"], "frozen", held_file, regime="sgd-momentum-ce")["text"]
    assert "sgd-momentum-ce cases within 150% (median 40%, 8 cases)" in momentum
    few = trust_summary([], "frozen", held_file, regime="sgd-momentum-ce")["text"]
    assert "written before they ran within 18%" in few and "cases within 30%" not in few


def test_the_band_says_when_the_run_is_longer_than_the_calibration_runs(tmp_path):
    import json

    from trainless.predict import trust_summary

    bands = tmp_path / "bands_with_steps.json"
    band = {"median": 0.05, "p95": 0.12, "cases": 9}
    bands.write_text(json.dumps({"suite": "s", "steps": [150], "updates": {"flagged": band, "unflagged": band}}))
    assert "measured on runs" not in trust_summary([], "updates", bands, steps=150)["text"]
    assert "measured on runs" not in trust_summary([], "updates", bands)["text"]
    text = trust_summary(["endpoint"], "updates", bands, steps=300)["text"]
    assert "T = 150 steps, this one predicts 300" in text and text.startswith("flagged: ")
    assert "fires more often at a longer T" in text
    short = trust_summary([], "updates", bands, steps=40)["text"]
    assert "T = 150 steps, this one predicts 40: the band was not measured on runs this short" in short
    assert "not evaluated at the predicted final weights" not in text + short


def test_the_band_says_when_no_endpoint_check_could_raise_its_flag(tmp_path):
    import json

    from trainless.predict import trust_summary

    bands = tmp_path / "bands_with_steps.json"
    band = {"median": 0.05, "p95": 0.12, "cases": 9}
    bands.write_text(json.dumps({"suite": "s", "steps": [150], "frozen": {"flagged": band, "unflagged": band}}))
    text = trust_summary([], "frozen", bands, steps=150, endpoint_checked=False)["text"]
    assert "not evaluated at the predicted final weights" in text and "measured on runs" not in text
    longer = trust_summary([], "frozen", bands, steps=300, endpoint_checked=False)["text"]
    # a prediction that could not raise the endpoint flag is not told that the flag fires more often
    assert "this one predicts 300: the band was not measured on runs this long" in longer
    assert "fires more often" not in longer


def test_packaged_bands_record_the_calibration_runs_length():
    from trainless.predict._trust import BANDS_FILE, _bands

    assert _bands(BANDS_FILE)["steps"] == [150]
    assert _bands(BANDS_FILE)["models"] == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]


def test_the_band_says_when_the_network_is_not_one_it_was_measured_on(tmp_path):
    import json

    from trainless.predict import trust_summary

    bands = tmp_path / "bands_with_models.json"
    band = {"median": 0.05, "p95": 0.12, "cases": 9}
    bands.write_text(json.dumps({"suite": "s", "models": ["net-a", "net-b"], "updates": {"unflagged": band}}))
    own = trust_summary([], "updates", bands, model="MyResNet")["text"]
    assert "measured on fine-tuning net-a, net-b, not MyResNet" in own
    for model in ("net-b", None):  # a network measured, or none named: nothing to add
        assert "measured on fine-tuning" not in trust_summary([], "updates", bands, model=model)["text"]


REGIME = "sgd-momentum-ce"
CLOSED = {
    "regime": REGIME,
    "suites": ["u1", "u2", "u3"],
    "steps": [150],
    "open_loop": {"cases": 60, "pairs": 300, "p95": 0.68, "median": 0.18, "loss_at_T_median": 2.25},
    "observed": {
        "10": {"cases": 60, "pairs": 270, "p95": 0.5, "median": 0.1, "loss_at_T_median": 1.4},
        "40": {"cases": 60, "pairs": 100, "p95": 0.44, "median": 0.06, "loss_at_T_median": 0.23},
    },
}


def test_a_closed_loop_quotes_the_closed_loops_band_not_the_open_loops(tmp_path):
    import json

    from trainless.predict import trust_summary
    from trainless.predict._trust import closed_loop_trust

    band = {"median": 0.05, "p95": 0.12, "cases": 9}
    bands = tmp_path / "bands_closed.json"
    bands.write_text(
        json.dumps({"suite": "s", "frozen": {"flagged": band, "unflagged": band}, "closed_loop": {REGIME: CLOSED}})
    )
    opened = trust_summary(["edge"], "frozen", bands, regime="sgd-momentum-ce")
    closed = closed_loop_trust(opened, 20, 150, "sgd-momentum-ce", bands)
    text = closed["text"]
    assert text.startswith("flagged: the lr is above the linearized stability edge; closed loop, 20 of 150 steps")
    assert "with 10 / 40 of 150 steps observed" in text and "within 50% / 44%" in text
    assert "median 10% / 6%" in text and "loss at T a median 140% / 23% off" in text
    assert "the open loop from w0: 68% / median 18%" in text and "within 12%" not in text
    # 20 of 150 lies nearer 10 of 150 than 40 of 150: that band is the one carried
    assert closed["band"]["p95"] == 0.5 and closed["flags"] == ["edge"] and closed["mode"] == "frozen"
    assert "fewer than any" not in text and "more than any" not in text
    assert closed_loop_trust(opened, 30, 150, "sgd-momentum-ce", bands)["band"]["p95"] == 0.44
    assert "fewer than any measured (10 of 150)" in closed_loop_trust(opened, 5, 150, "sgd-momentum-ce", bands)["text"]
    longer = closed_loop_trust(opened, 400, 600, "sgd-momentum-ce", bands)["text"]
    assert "observes 67% of its steps, more than any measured (40 of 150)" in longer
    # Another regime: which regimes were measured, and the open loop's band as a reference.
    opened_gd = trust_summary([], "frozen", bands, regime="gd-ce")
    assert opened_gd["text"] == f"no flag; {opened_gd['basis']}"
    gd = closed_loop_trust(opened_gd, 20, 150, "gd-ce", bands)
    assert gd["band"] is None and "the closed loop was measured on sgd-momentum-ce runs only" in gd["text"]
    assert "not on gd-ce runs; the open loop's band for these, as a reference: on the s suite" in gd["text"]
    assert gd["text"].startswith("no flag; closed loop") and "within 50%" not in gd["text"]
    assert gd["text"] == f"no flag; closed loop, 20 of 150 steps observed: {gd['basis']}"
    assert gd["basis"].endswith(f"as a reference: {opened_gd['basis']}")
    # A flagged run's reason is said once, in the opening, not again in the open loop's reference.
    flagged = closed_loop_trust(trust_summary(["edge"], "frozen", bands, regime="gd-ce"), 20, 150, "gd-ce", bands)
    assert flagged["text"].count("stability edge") == 1 and flagged["text"].startswith("flagged: the lr is above")
    plain = tmp_path / "bands_plain.json"
    plain.write_text(json.dumps({"suite": "s", "frozen": {"flagged": band, "unflagged": band}}))
    assert "no closed-loop band is packaged" in closed_loop_trust(opened, 20, 150, "sgd-momentum-ce", plain)["text"]


def test_a_closed_loop_quotes_its_own_regimes_band(tmp_path):
    """Each regime's closed loop measured apart: a prediction quotes its regime's entry, not another's."""
    import json

    from trainless.predict import trust_summary
    from trainless.predict._trust import closed_loop_level_note, closed_loop_trust

    band = {"median": 0.05, "p95": 0.12, "cases": 9}
    gd = {
        "regime": "gd-ce",
        "suites": ["u1", "u2"],
        "steps": [150],
        "open_loop": {"cases": 30, "pairs": 150, "p95": 0.2, "median": 0.06, "loss_at_T_median": 0.07},
        "observed": {
            "20": {
                "cases": 30,
                "pairs": 120,
                "p95": 0.11,
                "median": 0.03,
                "loss_at_T_median": 0.05,
                "loss_at_T_above": 25,
                "loss_at_T_ratio_median": 1.04,
            }
        },
    }
    bands = tmp_path / "bands_regimes.json"
    frozen = {"flagged": band, "unflagged": band}
    bands.write_text(json.dumps({"suite": "s", "frozen": frozen, "closed_loop": {REGIME: CLOSED, "gd-ce": gd}}))
    opened = trust_summary([], "frozen", bands, regime="gd-ce")
    got = closed_loop_trust(opened, 20, 150, "gd-ce", bands)
    assert got["band"]["p95"] == 0.11 and "on 30 gd-ce runs of the 2 suites" in got["text"]
    assert "with 20 of 150 steps observed" in got["text"] and "within 11% of its T_eps" in got["text"]
    assert "the open loop from w0: 20% / median 6%" in got["text"] and "50%" not in got["text"]
    assert "fewer than any measured (20 of 150)" in closed_loop_trust(opened, 10, 150, "gd-ce", bands)["text"]
    note = closed_loop_level_note(20, 150, "gd-ce", bands)
    assert "on the benchmark's gd-ce runs (30," in note and note.endswith("expect the real run to end lower")
    sgd = closed_loop_trust(trust_summary([], "frozen", bands, regime="sgd-ce"), 20, 150, "sgd-ce", bands)
    assert sgd["band"] is None and "measured on gd-ce and sgd-momentum-ce runs only, not on sgd-ce" in sgd["text"]
    assert closed_loop_level_note(20, 150, "sgd-ce", bands) is None
    # Asked to keep the kernel frozen at w_k: no frozen measurement packaged, so the default closed loop's band,
    # saying how it was measured; no side of the loss at T claimed for a mode not measured.
    asked = closed_loop_trust(opened, 20, 150, "gd-ce", bands, frozen=True)
    assert asked["band"]["p95"] == 0.11 and asked["text"].startswith("no flag; closed loop, 20 of 150")
    assert "measured with kernel_updates='auto', not this prediction's frozen kernel" in asked["text"]
    assert closed_loop_level_note(20, 150, "gd-ce", bands, frozen=True) is None
    # With the frozen closed loop's own measurement packaged, that one is quoted, and only when asked for.
    gd_frozen = json.loads(json.dumps(gd))
    gd_frozen["observed"]["20"] |= {"p95": 0.3, "median": 0.07, "loss_at_T_above": 29, "loss_at_T_ratio_median": 1.8}
    both = tmp_path / "bands_frozen.json"
    both.write_text(
        json.dumps(
            {
                "suite": "s",
                "frozen": frozen,
                "closed_loop": {REGIME: CLOSED, "gd-ce": gd},
                "closed_loop_frozen": {"gd-ce": gd_frozen},
            }
        )
    )
    own = closed_loop_trust(opened, 20, 150, "gd-ce", both, frozen=True)
    assert own["band"]["p95"] == 0.3 and "within 30% of its T_eps" in own["text"] and "11%" not in own["text"]
    assert own["text"].startswith("no flag; closed loop, the kernel frozen at w_k, 20 of 150 steps observed: on 30")
    assert "kernel_updates='auto'" not in own["text"]
    assert closed_loop_trust(opened, 20, 150, "gd-ce", both)["band"]["p95"] == 0.11
    note = closed_loop_level_note(20, 150, "gd-ce", both, frozen=True)
    assert note.startswith("closed loop, the kernel frozen at w_k: on the benchmark's gd-ce runs (30,")
    assert "above the real one on 29 of them" in note and note.endswith("expect the real run to end lower")
    # a regime whose frozen closed loop was not measured falls back to its default closed loop's band
    momentum = closed_loop_trust(opened, 10, 150, REGIME, both, frozen=True)
    assert momentum["band"]["p95"] == 0.5 and "not this prediction's frozen kernel" in momentum["text"]
    # Where the band file scored the open loop on the same levels as each k, that is the comparison quoted.
    gd["observed"]["20"]["open_loop_same_levels"] = {"p95": 0.17, "median": 0.044}
    same = tmp_path / "bands_same_levels.json"
    same.write_text(json.dumps({"suite": "s", "frozen": frozen, "closed_loop": {"gd-ce": gd}}))
    fair = closed_loop_trust(opened, 20, 150, "gd-ce", same)["text"]
    assert "(the open loop from w0 on the same levels: 17% (median 4%), loss at T 7%)" in fair
    assert "20% / median 6%" not in fair


def test_a_closed_loop_says_which_side_of_the_real_loss_at_t_it_ended_on(tmp_path):
    import json

    from trainless.predict._trust import closed_loop_level_note

    closed = json.loads(json.dumps(CLOSED))
    closed["observed"]["10"] |= {"loss_at_T_above": 45, "loss_at_T_ratio_median": 2.4}
    closed["observed"]["40"] |= {"loss_at_T_above": 15, "loss_at_T_ratio_median": 0.85}
    bands = tmp_path / "bands_level.json"
    bands.write_text(json.dumps({"suite": "s", "closed_loop": {REGIME: closed}}))
    early = closed_loop_level_note(10, 150, "sgd-momentum-ce", bands)
    assert "ended above the real one on 45 / 15 of them with 10 / 40 of 150 steps observed" in early
    assert "median 2.40x / 0.85x" in early
    assert early.endswith("nearest this run, 10 of 150: expect the real run to end lower")
    assert closed_loop_level_note(40, 150, "sgd-momentum-ce", bands).endswith("expect the real run to end higher")
    closed["observed"]["40"]["loss_at_T_above"] = 30  # 30 of 60: no side
    even = tmp_path / "bands_level_even.json"
    even.write_text(json.dumps({"suite": "s", "closed_loop": {REGIME: closed}}))
    assert closed_loop_level_note(40, 150, "sgd-momentum-ce", even).endswith("no side to expect")
    # nothing measured for the regime, or no side figures packaged: no note
    assert closed_loop_level_note(10, 150, "gd-ce", bands) is None
    old = tmp_path / "bands_level_old.json"
    old.write_text(json.dumps({"suite": "s", "closed_loop": {REGIME: CLOSED}}))
    assert closed_loop_level_note(10, 150, "sgd-momentum-ce", old) is None


def test_a_flagged_open_loop_is_told_what_observing_steps_bought(tmp_path):
    """The hint of a flagged open-loop prediction: each packaged closed-loop mode of its regime, its measured k with
    their p95 / median and cost, and those k as the same shares of this run's steps."""
    import json

    from trainless.predict._trust import closed_loop_hint

    closed = json.loads(json.dumps(CLOSED))
    closed["observed"]["10"] |= {"cost_median": 0.2, "open_loop_same_levels": {"p95": 0.67, "median": 0.19}}
    closed["observed"]["40"] |= {"cost_median": 0.31, "open_loop_same_levels": {"p95": 0.63, "median": 0.25}}
    frozen = json.loads(json.dumps(CLOSED))
    frozen["observed"] = {"20": {"cases": 60, "pairs": 200, "p95": 0.26, "median": 0.055}}
    bands = tmp_path / "bands_hint.json"
    packaged = {"suite": "s", "closed_loop": {REGIME: closed}, "closed_loop_frozen": {REGIME: frozen}}
    bands.write_text(json.dumps(packaged))
    hint = closed_loop_hint(REGIME, 150, bands)
    assert hint.startswith("what observing real steps first bought (the closed loop, --observe K")
    assert "on the benchmark's 60 sgd-momentum-ce runs" in hint
    assert (
        "10 / 40 of 150 steps observed came within 50% / 44% (median 10% / 6%; the open loop from w0 on the same "
        "levels: 67% / 63%), at a median 0.20x / 0.31x the real run's cost; with the kernel" in hint
    )
    # the frozen mode's cost was not measured: none is claimed
    assert "with the kernel frozen at w_k (--kernel-updates none), 20 of 150 steps observed came within 26% " in hint
    assert "(median 6%); the same" in hint and hint.endswith("this run's 150 steps: --observe 10 / 20 / 40")
    assert hint.count("on the same levels") == 1  # the frozen mode's band carries no open-loop figure
    # the measured shares carried to a run of another length, each k at least 1 and below its steps
    assert closed_loop_hint(REGIME, 300, bands).endswith("this run's 300 steps: --observe 20 / 40 / 80")
    assert closed_loop_hint(REGIME, 3, bands).endswith("--observe 1")
    assert closed_loop_hint("gd-ce", 150, bands) is None and closed_loop_hint(REGIME, 1, bands) is None
    # a mode measured on part of the runs says on how many
    frozen["open_loop"]["cases"] = 30
    part = tmp_path / "bands_hint_part.json"
    part.write_text(json.dumps(packaged))  # the frozen entry, changed above
    assert "(--kernel-updates none), on 30 of them, 20 of 150 steps observed" in closed_loop_hint(REGIME, 150, part)
    assert "on 60 of them" not in closed_loop_hint(REGIME, 150, part)


def test_only_a_flagged_open_loop_prediction_carries_the_closed_loop_hint(digits16, tiny):
    """End to end: above the stability edge the open-loop prediction of a full-batch cross-entropy run is flagged and
    says what observing steps bought on its regime (the packaged bands); the same run below the edge does not."""
    cfg = FinetuneConfig(lr=0.01, steps=12)
    lin = linearize(tiny, digits16, cfg, FAST)
    edge = 2.0 / predict_from(lin, cfg, FAST).sharpness
    flagged = predict_from(lin, FinetuneConfig(lr=1.5 * edge, steps=12), FAST)
    calm = predict_from(lin, FinetuneConfig(lr=0.5 * edge, steps=12), FAST)
    assert flagged.trust["flags"] == ["edge"] and not calm.trust["flags"]
    hints = [w for w in flagged.warnings if w.startswith("what observing real steps first")]
    assert len(hints) == 1 and "gd-ce runs" in hints[0] and hints[0].endswith("this run's 12 steps: --observe 2 / 3")
    assert not any(w.startswith("what observing real steps first") for w in calm.warnings)
    # the edge warning quotes what the benchmark's real runs this far past their edge did (the packaged counts)
    edge = [w for w in flagged.warnings if "stability edge 2(1+m)/sharpness" in w]
    from trainless.predict import edge_outcome_note

    note = edge_outcome_note(flagged.edge_ratio, "gd-ce")
    assert note is not None and "the stability edge at w0" in note
    assert len(edge) == 1 and edge[0].endswith(f"; {note}; lower the lr or read the prediction as a bound")
    assert not any("stability edge at w0:" in w for w in calm.warnings)


def test_packaged_closed_loop_bands_are_keyed_by_the_regime_measured():
    from trainless.predict._trust import BANDS_FILE, _bands

    packaged = _bands(BANDS_FILE)["closed_loop"]
    assert sorted(packaged) == ["gd-ce", "sgd-ce", "sgd-momentum-ce"]
    assert sorted(int(k) for k in packaged["sgd-momentum-ce"]["observed"]) == [10, 20, 40]
    assert list(packaged["gd-ce"]["observed"]) == list(packaged["sgd-ce"]["observed"]) == ["20"]
    # the closed loop with the kernel frozen at w_k, measured on full-batch GD and plain SGD, packaged apart
    frozen = _bands(BANDS_FILE)["closed_loop_frozen"]
    assert sorted(frozen) == ["gd-ce", "sgd-ce"] and all(f["kernel_updates"] == "none" for f in frozen.values())
    assert all(closed["kernel_updates"] == "auto" for closed in packaged.values())
    for regime, closed in (*packaged.items(), *frozen.items()):
        assert closed["regime"] == regime and closed["steps"] == [150] and closed["observed"]
        for band in (closed["open_loop"], *closed["observed"].values()):
            assert band["cases"] > 0 and 0 <= band["median"] <= band["p95"]
            assert 0 <= band["loss_at_T_above"] <= band["cases"] and band["loss_at_T_ratio_median"] > 0
        for band in closed["observed"].values():
            same = band["open_loop_same_levels"]
            assert band["cost_median"] > 0 and 0 <= same["median"] <= same["p95"]
    assert sorted(int(k) for k in frozen["gd-ce"]["observed"]) == sorted(int(k) for k in frozen["sgd-ce"]["observed"])
    assert sorted(int(k) for k in frozen["gd-ce"]["observed"]) == [20, 40]


def test_endpoint_ratio_rule():
    import math

    from trainless.predict import endpoint_ratio, trust_flags

    assert endpoint_ratio({"loss_real": 0.6, "loss_linear": 0.2}) == pytest.approx(3.0)
    assert endpoint_ratio({"loss_real": 0.1, "loss_linear": 0.0}) == math.inf
    assert endpoint_ratio({"loss_real": float("nan"), "loss_linear": 0.1}) == math.inf
    assert endpoint_ratio(None) is None
    end = {"loss_real": 0.6, "loss_linear": 0.2, "output_gap": 0.9}
    # with a calibrated R the output gap no longer decides, the loss ratio does
    assert trust_flags(0.5, end, 0.5, ratio_threshold=5.0) == []
    assert trust_flags(0.5, end, 0.5, ratio_threshold=2.5) == ["endpoint"]
    assert trust_flags(0.5, end, 0.5) == ["endpoint"]  # no R: the output-gap rule


def test_calibration_rule_takes_the_margin_below_the_smallest_bad_ratio():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "trust_bands.py"
    spec = importlib.util.spec_from_file_location("trust_bands", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def row(err, ratio, flags=()):
        return {"max_rel_error": err, "endpoint_ratio": ratio, "flags": list(flags)}

    table = {
        "rows": [
            row(0.1, 2.0),
            row(0.1, 4.0),
            row(0.5, 9.0),
            row(0.3, 16.0),
            row(0.9, 1.5, ["edge"]),  # caught by the edge flag: not used
            row(0.1, 30.0),  # a good case above: a false alarm, not used
        ]
    }
    assert mod.calibrate(table) == pytest.approx(6.0)  # sqrt(4 x 9)
    assert mod.calibrate({"rows": [row(0.1, 2.0)]}) is None


def test_every_prediction_carries_the_trust_signal(digits16, tiny):
    cfg = FinetuneConfig(lr=0.01, steps=10)
    lin = linearize(tiny, digits16, cfg, FAST)
    bare = predict_from(lin, cfg, FAST)
    full = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    assert bare.trust is not None and bare.trust["mode"] == "frozen" and bare.endpoint is None
    assert full.trust is not None and full.trust["flags"] == trust_flags_of(full)
    # the packaged band was measured at T = 150: a 10-step run is told so
    assert all("this one predicts 10" in p.trust["text"] for p in (bare, full))
    assert "not evaluated at the predicted final weights" in bare.trust["text"]
    assert "not evaluated" not in full.trust["text"] and full.endpoint is not None
    # the tiny CNN is not a network the packaged bands were measured on
    assert all("not tiny-cnn" in p.trust["text"] for p in (bare, full))


def trust_flags_of(pred):
    from trainless.predict import trust_flags

    return trust_flags(pred.edge_ratio, pred.endpoint, pred.options.endpoint_warning)


def test_kernel_updates_on_a_diverging_run_keep_the_last_kernel(digits16, tiny):
    cfg = FinetuneConfig(lr=0.01, steps=60, loss="mse")
    lin = linearize(tiny, digits16, cfg, FAST)
    edge = 2.0 / predict_from(lin, cfg, FAST).sharpness
    far = FinetuneConfig(lr=3 * edge, steps=60, loss="mse")
    opts = dataclasses.replace(FAST, kernel_updates=(2, 30, 50), above_edge="diverge")
    pred = predict_from(lin, far, opts, model=tiny, data=digits16)
    assert pred.status.value == "diverged" or pred.loss[-1] > 1e6 * pred.loss[0]
    assert "edge" in pred.trust["flags"]
    assert len(pred.kernel_path) >= 1 and math.isfinite(pred.kernel_path[0]["trace_ratio"])


@pytest.mark.parametrize("shape", ["scale", "clip"])
def test_edge_cap_scales_an_updated_kernel_to_the_edge_and_is_a_no_op_below_it(digits16, tiny, shape):
    cfg = FinetuneConfig(lr=0.01, steps=40, loss="mse")
    lin = linearize(tiny, digits16, cfg, FAST)
    edge = 2.0 / predict_from(lin, cfg, FAST).sharpness
    opts = dataclasses.replace(FAST, kernel_updates=(5, 20), edge_cap_shape=shape)
    # well below the edge: the cap changes nothing
    low = FinetuneConfig(lr=0.2 * edge, steps=40, loss="mse")
    plain = predict_from(lin, low, opts, model=tiny, data=digits16)
    capped = predict_from(lin, low, dataclasses.replace(opts, edge_cap=True), model=tiny, data=digits16)
    assert capped.loss == plain.loss and all(row["scale"] == 1.0 for row in capped.kernel_path)
    # updates computed on inputs 3x larger (a kernel ~9x larger at the first update, past the edge): the
    # capped run stays bounded while the uncapped one diverges; the raw ratio is kept for the trust signal
    big = dataclasses.replace(digits16, x=3.0 * digits16.x)
    mid = FinetuneConfig(lr=0.5 * edge, steps=40, loss="mse")
    free = predict_from(lin, mid, dataclasses.replace(opts, above_edge="diverge"), model=tiny, data=big)
    held = predict_from(lin, mid, dataclasses.replace(opts, edge_cap=True), model=tiny, data=big)
    first = held.kernel_path[0]
    assert first["edge_ratio"] > 1
    if shape == "scale":
        assert first["scale"] == pytest.approx(1 / first["edge_ratio"])
    else:  # only the top modes lowered: the trace falls by less than the ratio
        assert 1 / first["edge_ratio"] < first["scale"] < 1
    assert math.isfinite(held.loss[-1]) and held.loss[-1] < 10 * held.loss[0]
    assert not (math.isfinite(free.loss[-1]) and free.loss[-1] < 10 * free.loss[0])
    assert "edge" in held.trust["flags"]


def test_edge_cap_auto_caps_runs_longer_than_the_anchor_and_no_shorter_one(digits16, tiny):
    from trainless.predict import auto_edge_cap
    from trainless.predict._config import AUTO_ANCHOR_STEPS

    assert auto_edge_cap(AUTO_ANCHOR_STEPS + 1) and not auto_edge_cap(AUTO_ANCHOR_STEPS)
    cfg = FinetuneConfig(lr=0.01, steps=40, loss="mse")
    lin = linearize(tiny, digits16, cfg, FAST)
    edge = 2.0 / predict_from(lin, cfg, FAST).sharpness
    # As in the test above: updates on inputs 3x larger put the run past the edge, where an uncapped MSE run
    # (above_edge="diverge") diverges.
    big = dataclasses.replace(digits16, x=3.0 * digits16.x)
    opts = dataclasses.replace(FAST, kernel_updates=(5, 20), above_edge="diverge")
    for steps, on in ((AUTO_ANCHOR_STEPS, False), (AUTO_ANCHOR_STEPS + 10, True)):
        run = FinetuneConfig(lr=0.5 * edge, steps=steps, loss="mse")
        auto = predict_from(lin, run, opts, model=tiny, data=big)
        chosen = predict_from(lin, run, dataclasses.replace(opts, edge_cap=on), model=tiny, data=big)
        assert auto.options.edge_cap is on
        np.testing.assert_array_equal(auto.loss, chosen.loss)  # NaN where the uncapped run diverges
        assert (auto.kernel_path[0]["scale"] < 1) is on


def test_above_edge_trains_an_mse_run_past_the_edge_at_the_edge(digits16, tiny):
    # In function space the scaled lrs are the whole definition: the prediction at r x the edge equals the
    # linearized model as it is at lr / r, every engine, and it changes nothing below the edge or for CE.
    cfg = FinetuneConfig(lr=0.01, steps=60, loss="mse")
    lin = linearize(tiny, digits16, cfg, FAST)
    edge = 2.0 / predict_from(lin, cfg, FAST).sharpness
    as_is = dataclasses.replace(FAST, above_edge="diverge")
    for engine in ("discrete", "ode"):
        opts = dataclasses.replace(FAST, engine=engine)
        past = predict_from(lin, FinetuneConfig(lr=2.5 * edge, steps=60, loss="mse"), opts)
        ref = predict_from(
            lin, FinetuneConfig(lr=edge, steps=60, loss="mse"), dataclasses.replace(as_is, engine=engine)
        )
        assert past.edge_ratio == pytest.approx(2.5) and past.edge_scale == pytest.approx(1 / 2.5)
        torch.testing.assert_close(torch.tensor(past.loss), torch.tensor(ref.loss), rtol=1e-9, atol=1e-12)
        assert past.lr[0] == pytest.approx(2.5 * edge) and "edge" in past.trust["flags"]
    for low in (FinetuneConfig(lr=0.5 * edge, steps=60, loss="mse"), FinetuneConfig(lr=2.5 * edge, steps=60)):
        a, b = predict_from(lin, low, FAST), predict_from(lin, low, as_is)
        assert a.loss == b.loss and a.edge_scale == 1.0
    # with kernel updates the grown kernels past the (scaled) lrs' edge are capped: the run stays bounded
    far = FinetuneConfig(lr=3 * edge, steps=60, loss="mse")
    opts = dataclasses.replace(FAST, kernel_updates=(2, 30, 50))
    held = predict_from(lin, far, opts, model=tiny, data=digits16)
    assert held.edge_scale == pytest.approx(1 / 3) and held.loss[-1] < held.loss[0]
    assert all(row["edge_ratio"] * row["scale"] <= 1 + 1e-9 for row in held.kernel_path)
    # a network linear in its trained weights has no catapult: its real run diverges past the edge, as the
    # linearized one does, so the mode steps aside (a head trained alone by rule, a linear model by one step)
    head = linearize(tiny, digits16, cfg, FAST, trainable="head")
    head_edge = 2.0 / predict_from(head, cfg, FAST).sharpness
    past = FinetuneConfig(lr=3 * head_edge, steps=60, loss="mse")
    as_is_head = predict_from(head, past, as_is)
    for p in (predict_from(head, past, FAST), predict_from(head, past, FAST, model=tiny, data=digits16)):
        assert p.edge_scale == 1.0 and p.loss[:10] == as_is_head.loss[:10]
        assert any("linear in its trained weights" in w for w in p.warnings)
    linear = load_model("factories:linear16", 5, seed=0)
    lin_linear = linearize(linear, digits16, cfg, FAST)
    past = FinetuneConfig(lr=3 * 2.0 / predict_from(lin_linear, cfg, FAST).sharpness, steps=60, loss="mse")
    probed = predict_from(lin_linear, past, FAST, model=linear, data=digits16)
    assert probed.edge_scale == 1.0 and any("linear in its trained weights" in w for w in probed.warnings)
    assert predict_from(lin_linear, past, FAST).edge_scale == pytest.approx(1 / 3)  # no model given: not probed


def _piecewise_momentum_reference(model, data, cfg, updates, orders):
    """torch's momentum SGD in weight space (float64) on the piecewise-linear model f = f_k + J_k (w - w_k),
    J_k the real network's Jacobian at the first path's weights w_k at each update step. Returns each
    path's loss curve and the first path's final ||w - w0||."""
    from torch.func import functional_call, jacrev

    from trainless._losses import loss_grad

    module = model.module.eval()
    x, y = data.x, data.y
    n, c = x.shape[0], data.num_classes
    names = [k for k, p in module.named_parameters() if p.requires_grad]
    shapes = [p.shape for k, p in module.named_parameters() if p.requires_grad]
    w0 = torch.cat([p.detach().reshape(-1) for k, p in module.named_parameters() if p.requires_grad]).double()

    def unflat(w):
        out, i = {}, 0
        for k, s in zip(names, shapes, strict=True):
            out[k] = w[i : i + s.numel()].reshape(s).float()
            i += s.numel()
        return out

    def jac(w):
        j = jacrev(lambda pr: functional_call(module, pr, (x,)))(unflat(w))
        return torch.cat([j[k].reshape(n * c, -1) for k in names], 1).double()

    f_init = module(x).double().detach()
    jacs, curves, dist = {0: jac(w0)}, [], None
    for p, order in enumerate(orders):
        w, buf, f_k, w_k, j = w0.clone(), None, f_init.clone(), w0.clone(), jacs[0]
        curve = []
        for t in range(cfg.steps + 1):
            f = f_k + (j @ (w - w_k)).reshape(n, c)
            if t in updates:
                if p == 0:
                    jacs[t] = jac(w)
                f_k, w_k, j = f, w.clone(), jacs[t]
            curve.append(float(loss_value(cfg.loss, f, y)))
            if t == cfg.steps:
                break
            e = loss_grad(cfg.loss, f, y)
            g_a = batch_coefficients(e, None if order is None else order[t])
            g = j.T @ g_a.reshape(-1)
            buf = g.clone() if buf is None else cfg.momentum * buf + g
            w = w - cfg.lr * (g + cfg.momentum * buf if cfg.nesterov else buf)
        curves.append(curve)
        if p == 0:
            dist = float((w - w0).norm())
    return torch.tensor(curves, dtype=torch.float64), dist


@pytest.mark.parametrize("batch_size, nesterov", [(None, False), (None, True), (20, False)])
def test_kernel_updates_with_momentum_are_momentum_sgd_on_the_piecewise_linear_model(
    digits16, tiny, batch_size, nesterov
):
    # The momentum buffer is a weight-space vector: when J changes, its function-space image must be taken
    # through the new J (BufferCarry). Checked against weight-space training of f = f_k + J_k (w - w_k).
    from trainless.data import batch_schedule

    cfg = FinetuneConfig(lr=0.02, steps=16, momentum=0.9, nesterov=nesterov, batch_size=batch_size)
    updates = (4, 9)
    lin = linearize(tiny, digits16, cfg, FAST)
    opts = dataclasses.replace(FAST, kernel_updates=updates, momentum_buffer="exact")
    pred = predict_from(lin, cfg, opts, model=tiny, data=digits16)
    if batch_size is None:
        orders, paths = [None], torch.tensor([pred.loss], dtype=torch.float64)
    else:
        orders = [batch_schedule(60, batch_size, cfg.steps, drop_last=False, seed=s) for s in (0, 1)]
        paired = torch.tensor(pred.paired_loss, dtype=torch.float64)
        paths = torch.stack(
            [paired, 2 * torch.tensor(pred.loss, dtype=torch.float64) - paired]
        )  # the mean of the two orders
    ref, dist = _piecewise_momentum_reference(tiny, digits16, cfg, updates, orders)
    torch.testing.assert_close(paths, ref, rtol=2e-5, atol=1e-6)
    assert pred.paired_weight_distance[-1] == pytest.approx(dist, rel=1e-4)
    # the updates matter here, and the buffer kept as J_k B (the default, free) is off by far more than the
    # tolerance: the test sees a wrong carry
    frozen = torch.tensor(predict_from(lin, cfg, FAST).paired_loss, dtype=torch.float64)
    assert float((frozen - paths[0]).abs().max()) > 100 * 1e-6
    kept = predict_from(lin, cfg, dataclasses.replace(opts, momentum_buffer="kept"), model=tiny, data=digits16)
    assert float((torch.tensor(kept.paired_loss, dtype=torch.float64) - ref[0]).abs().max()) > 100 * 1e-6


def test_path_stride_moves_the_weights_through_the_jacobian_at_each_stride(digits16, tiny):
    # Before the first kernel update the coefficients are the frozen run's; walking them by hand, each
    # increment through the Jacobian at the weights reached every `stride` steps, gives the weights the
    # update's kernel is taken at: the same kernel (its trace) as the prediction reports.
    from trainless.dynamics import SGDSchedule, simulate
    from trainless.kernel import compute_kernel
    from trainless.predict._endpoint import WeightPath
    from trainless.predict._preserve import preserved

    cfg = FinetuneConfig(lr=0.05, steps=20)
    lin = linearize(tiny, digits16, cfg, FAST)
    opts = dataclasses.replace(FAST, kernel_updates=(9, 15), path_stride=2, path_samples=1)  # one path walked
    pred = predict_from(lin, cfg, opts, model=tiny, data=digits16)
    plain = predict_from(lin, cfg, dataclasses.replace(opts, path_stride=None), model=tiny, data=digits16)
    wide = predict_from(lin, cfg, dataclasses.replace(opts, path_stride=20), model=tiny, data=digits16)
    assert wide.loss == plain.loss  # no stride step before T: the plain updates
    assert pred.loss[:10] == plain.loss[:10]  # Theta_0 until the first update either way
    alphas = {}

    def record(t, alpha, f, segment):
        alphas[t] = alpha
        return lin.operator

    theta0 = lin.kernel.k_train_train
    simulate(
        theta0,
        lin.kernel.f0,
        lin.y,
        SGDSchedule(lr=(0.05,) * 20),
        loss="ce",
        kernel_updates=(2, 4, 6, 8, 9),
        update_kernel=record,
    )
    with preserved(tiny.module):
        path = WeightPath(tiny, digits16, "all")
        for t in (2, 4, 6, 8, 9):
            path.move_to(alphas[t])
        theta = compute_kernel(tiny.module, path.x, opts.kernel).k_train_train
    trace = float(torch.einsum("iicc->", theta)) / float(torch.einsum("iicc->", theta0))
    assert pred.kernel_path[0]["trace_ratio"] == pytest.approx(trace, rel=1e-6)
    assert abs(pred.kernel_path[0]["trace_ratio"] - plain.kernel_path[0]["trace_ratio"]) > 1e-6
    assert pred.loss[-1] != plain.loss[-1]


def test_auto_kernel_updates_scale_with_the_run_and_are_off_with_momentum_unless_along_the_flow():
    from trainless.predict import auto_kernel_updates

    assert auto_kernel_updates(150) == (1, 10, 25, 50, 100)
    assert auto_kernel_updates(90) == (1, 6, 15, 30, 60)
    # Past T = 150 anchored at the start: T = 150's steps, then doubling up to 2T/3.
    assert auto_kernel_updates(151) == (1, 10, 25, 50, 100)
    assert auto_kernel_updates(299) == (1, 10, 25, 50, 100)
    assert auto_kernel_updates(300, 0.0) == (1, 10, 25, 50, 100, 200)
    assert auto_kernel_updates(600) == (1, 10, 25, 50, 100, 200, 400)
    assert auto_kernel_updates(5000) == (1, 10, 25, 50, 100, 200, 400, 800, 1600, 3200)
    assert auto_kernel_updates(600, 0.9) == () == auto_kernel_updates(600, 0.9, "own")
    assert auto_kernel_updates(600, 0.9, "flow") == auto_kernel_updates(600)  # asked for: GD's schedule
    # Short runs: steps that round onto each other or onto the end are made once or dropped.
    assert auto_kernel_updates(15) == (1, 2, 5, 10)
    assert auto_kernel_updates(3) == (1, 2)
    assert auto_kernel_updates(1) == ()
    assert auto_kernel_updates(150, 0.9) == ()
    assert auto_kernel_updates(150, 0.5) == ()


def test_auto_path_stride_is_a_thirtieth_of_the_run_and_off_with_momentum():
    assert auto_path_stride(150, 0.0) == 5
    assert auto_path_stride(3000, 0.0) == 100
    assert auto_path_stride(20, 0.0) == 1  # at least one step
    assert auto_path_stride(150, 0.9) is None


def test_default_path_stride_resolves_per_run_and_is_reported(digits16, tiny):
    cfg = FinetuneConfig(lr=0.05, steps=60)
    lin = linearize(tiny, digits16, cfg, FAST)
    opts = dataclasses.replace(FAST, kernel_updates=(9, 30))
    assert opts.path_stride == "auto"
    auto = predict_from(lin, cfg, opts, model=tiny, data=digits16)
    explicit = predict_from(lin, cfg, dataclasses.replace(opts, path_stride=2), model=tiny, data=digits16)
    plain = predict_from(lin, cfg, dataclasses.replace(opts, path_stride=None), model=tiny, data=digits16)
    assert auto.options.path_stride == 2 and auto.loss == explicit.loss and auto.loss != plain.loss
    # With momentum along the run's own path "auto" makes no moves: the plain updates.
    heavy, own = dataclasses.replace(cfg, momentum=0.9), dataclasses.replace(opts, update_path="own")
    auto_m = predict_from(lin, heavy, own, model=tiny, data=digits16)
    plain_m = predict_from(lin, heavy, dataclasses.replace(own, path_stride=None), model=tiny, data=digits16)
    assert auto_m.options.path_stride is None and auto_m.loss == plain_m.loss
    # Along the flow path (the default with momentum) the flow moves as GD's would: T / 30.
    assert predict_from(lin, heavy, opts, model=tiny, data=digits16).options.path_stride == 2
    # "auto" gives way to the exact buffer (an integer stride is refused with it); without updates it stays.
    exact = predict_from(lin, cfg, dataclasses.replace(opts, momentum_buffer="exact"), model=tiny, data=digits16)
    assert exact.options.path_stride is None and exact.loss == plain.loss
    frozen = dataclasses.replace(FAST, kernel_updates=())
    assert predict_from(lin, cfg, frozen, model=tiny, data=digits16).options.path_stride == "auto"


def test_path_stride_refuses_the_exact_buffer():
    with pytest.raises(ConfigError, match="path_stride=5 needs momentum_buffer 'kept'"):
        PredictConfig(path_stride=5, momentum_buffer="exact")
    with pytest.raises(ConfigError, match="path_stride"):
        PredictConfig(path_stride=0)


def test_trust_regime_keys():
    from trainless.predict import trust_regime

    assert trust_regime(None, 50, 0.0, "ce") == "gd-ce"
    assert trust_regime(0, 50, 0.9, "mse") == "gd-mse"  # the bench's full batch; momentum does not split GD
    assert trust_regime(50, 50, 0.0, "ce") == "gd-ce"  # one batch of all N is full-batch GD
    assert trust_regime(16, 50, 0.0, "ce") == "sgd-ce"
    assert trust_regime(16, 50, 0.9, "ce") == "sgd-momentum-ce"


def test_the_band_says_which_way_the_regimes_predictions_missed(tmp_path):
    import json

    from trainless.predict import trust_summary

    band = {"median": 0.05, "p95": 0.12, "cases": 9}
    direction = {
        "sgd-ce": {"early": 27, "pairs": 27},
        "gd-ce": {"early": 38, "pairs": 78},
        "gd-mse": {"early": 2, "pairs": 9},  # too few pairs to quote
        "sgd-momentum-ce": {"early": 3, "pairs": 30},
    }
    bands = tmp_path / "bands_with_direction.json"
    bands.write_text(
        json.dumps({"suite": "s", "updates": {"flagged": band, "unflagged": band, "direction": direction}})
    )
    ahead = trust_summary([], "updates", bands, regime="sgd-ce")
    assert ahead["direction"] == {"early": 27, "pairs": 27}
    assert "predictions of sgd-ce runs reached the eps levels before the real run at 100% of 27" in ahead["text"]
    assert ahead["text"].endswith("expect the real run to be slower than predicted")
    even = trust_summary([], "updates", bands, regime="gd-ce")["text"]
    assert "at 49% of 78 (case, eps) pairs" in even and "expect" not in even
    behind = trust_summary([], "updates", bands, regime="sgd-momentum-ce")["text"]
    assert behind.endswith("at 10% of 30 (case, eps) pairs: expect the real run to be faster than predicted")
    for regime in ("gd-mse", "sgd-mse", None):
        assert "reached the eps levels" not in trust_summary([], "updates", bands, regime=regime)["text"], regime
    assert "reached the eps levels" not in trust_summary([], "frozen", bands, regime="sgd-ce")["text"]
    # The lean is quoted only where the suites written before they ran lean the same way (or say too little).
    held = {"sgd-ce": {"early": 23, "pairs": 40}, "sgd-momentum-ce": {"early": 2, "pairs": 20}}
    bands = tmp_path / "bands_with_held_out_direction.json"  # a new path: the bands are cached per file
    bands.write_text(
        json.dumps(
            {
                "suite": "s",
                "updates": {"flagged": band, "unflagged": band, "direction": direction, "validation_direction": held},
            }
        )
    )
    unheld = trust_summary([], "updates", bands, regime="sgd-ce")["text"]
    assert unheld.endswith(
        "at 100% of 27 (case, eps) pairs, but 57% of 40 on the suites written before they ran: no side to expect"
    )
    assert trust_summary([], "updates", bands, regime="sgd-momentum-ce")["text"].endswith(
        "at 10% of 30 (case, eps) pairs, and at 10.0% of 20 on the suites written before they ran: expect the real run "
        "to be faster than predicted"
    )


def test_direction_table_counts_the_eps_pairs_the_prediction_reaches_first():
    from trainless.bench._run import direction_table

    def result(batch_size, rows, engine="discrete"):
        eps = [{"basis": b, "eps": 0.1, "predicted": p, "real": r} for b, p, r in rows]
        return {
            "n": 50,
            "case": {"batch_size": batch_size, "momentum": 0.0, "loss": "ce"},
            "comparisons": [{"engine": engine, "eps": eps}],
        }

    results = [
        # ahead, behind, a tie, one never reached, and an error-basis row: 1 early of 2 pairs
        result(0, [("loss", 5, 8), ("loss", 9, 8), ("loss", 4, 4), ("loss", None, 8), ("error", 1, 9)]),
        result(16, [("loss", 3, 4)]),
        result(16, [("loss", 3, 4)], engine="ode"),  # another engine: not counted
    ]
    assert direction_table(results, "discrete") == {
        "gd-ce": {"early": 1, "pairs": 2},
        "sgd-ce": {"early": 1, "pairs": 1},
    }


def test_packaged_direction_figures_quote_the_calibration_suite(digits16, tiny):
    from trainless.predict._trust import BANDS_FILE, _bands

    packaged = _bands(BANDS_FILE)["updates"]["direction"]["sgd-ce"]
    assert packaged["pairs"] >= 10
    lin = linearize(tiny, digits16, FinetuneConfig(lr=0.05, steps=10, batch_size=8), FAST)
    cfg = FinetuneConfig(lr=0.05, steps=10, batch_size=8)
    pred = predict_from(lin, cfg, dataclasses.replace(FAST, kernel_updates=(5,)), model=tiny, data=digits16)
    assert pred.trust["direction"] == packaged
    assert (
        f"sgd-ce runs reached the eps levels before the real run at {packaged['early'] / packaged['pairs']:.0%}"
        in (pred.trust["text"])
    )


def test_kernel_update_at_step_one_is_the_real_networks_kernel_after_one_gd_step(digits16, tiny):
    # Why auto_kernel_updates starts at step 1: one full-batch GD step of the linearized model moves the weights
    # by the network's own gradient at w_0, so the kernel taken there is the real network's after one real step
    # (taken here by hand: one SGD step on the mean cross-entropy), already off Theta_0.
    from trainless.kernel import compute_kernel
    from trainless.predict._preserve import preserved

    cfg = FinetuneConfig(lr=0.5, steps=4)
    lin = linearize(tiny, digits16, cfg, FAST)
    pred = predict_from(lin, cfg, dataclasses.replace(FAST, kernel_updates=(1,)), model=tiny, data=digits16)
    theta0 = lin.kernel.k_train_train
    with preserved(tiny.module):
        tiny.module.eval()
        params = [p for p in tiny.module.parameters() if p.requires_grad]
        loss = torch.nn.functional.cross_entropy(tiny.module(digits16.x), digits16.y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= cfg.lr * g
        theta1 = compute_kernel(tiny.module, digits16.x, FAST.kernel).k_train_train
    ratio = float(torch.einsum("iicc->", theta1)) / float(torch.einsum("iicc->", theta0))
    assert pred.kernel_path[0]["step"] == 1
    assert pred.kernel_path[0]["trace_ratio"] == pytest.approx(ratio, rel=1e-5)
    assert abs(ratio - 1.0) > 1e-3


def test_progress_shows_the_dynamics_and_each_updated_kernel(digits16, tiny, capsys):
    # The default prediction computes several kernels along the path: each shows its own bar (tqdm, on stderr).
    cfg = FinetuneConfig(lr=0.05, steps=12)
    lin = linearize(tiny, digits16, cfg, FAST)
    capsys.readouterr()
    pred = predict_from(lin, cfg, FAST, model=tiny, data=digits16, progress=True)
    err = capsys.readouterr().err
    assert len(pred.kernel_path) == 4 and "linearized dynamics" in err
    assert err.count("kernel (exact)") >= len(pred.kernel_path)
    # Before the updates start, what they will cost (the kernel at w0's time, once per update).
    steps = ", ".join(str(int(row["step"])) for row in pred.kernel_path)
    assert f"kernel updates: {len(pred.kernel_path)} more kernels along the predicted path (steps {steps})" in err
    assert err.index("kernel updates:") < err.rindex("kernel (exact)")
    predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    assert capsys.readouterr().err == ""


def test_auto_updates_on_runs_longer_than_measured_say_so(digits16, tiny):
    # The anchored schedule was measured up to T = 600 (unseen24, unseen26); longer runs are untested.
    from trainless.predict import predict
    from trainless.predict._predict import LONGEST_MEASURED_STEPS

    def says(steps, updates="auto"):
        cfg = FinetuneConfig(lr=0.05, steps=steps)
        opts = dataclasses.replace(FAST, kernel_updates=updates, endpoint_check=False)
        pred = predict(tiny, digits16, cfg, opts)
        return sum(f"up to T = {LONGEST_MEASURED_STEPS}" in w for w in pred.warnings)

    assert says(LONGEST_MEASURED_STEPS + 20) == 1
    assert says(LONGEST_MEASURED_STEPS) == 0
    assert says(LONGEST_MEASURED_STEPS + 20, updates=(1, 10, 25, 50, 100, 200)) == 0  # a schedule of one's own
    assert says(LONGEST_MEASURED_STEPS + 20, updates=()) == 0  # the frozen kernel


def test_updates_that_cost_more_than_half_the_run_say_so(digits16, tiny):
    # On the tiny CNN a real step takes milliseconds: five kernels along the path cost more than the 12-step run.
    from trainless.predict import predict

    cfg = FinetuneConfig(lr=0.05, steps=12)
    timed = dataclasses.replace(FAST, timing_steps=1)
    updated = predict(tiny, digits16, cfg, timed)
    assert updated.kernel_path and updated.seconds > 0.5 * updated.estimated_run_seconds
    assert sum("of the estimated real run" in w and "--kernel-updates none" in w for w in updated.warnings) == 1
    # A run of seconds is quoted to three digits (a 0.5 s run was printed as "0 s").
    quoted = next(w for w in updated.warnings if "of the estimated real run" in w)
    assert updated.estimated_run_seconds < 100 and f"({updated.estimated_run_seconds:.3g} s)" in quoted, quoted
    # T / 30 rounds to no stride at T = 12: one path, and nothing said of paths. With a stride the default averages
    # two on this full-batch run, and the warning quotes both paths' cost together.
    assert updated.path_losses == () and "--path-samples" not in quoted
    two = predict(tiny, digits16, cfg, dataclasses.replace(timed, path_stride=4))
    quoted = next(w for w in two.warnings if "of the estimated real run" in w)
    assert len(two.path_losses) == 2 and f"took {two.seconds:.3g} s" in quoted and "--path-samples 1" in quoted
    frozen = predict(tiny, digits16, cfg, dataclasses.replace(timed, kernel_updates=()))
    untimed = predict(tiny, digits16, cfg, FAST)  # no estimate of the run: nothing to compare with
    assert untimed.kernel_path and untimed.estimated_run_seconds is None
    assert not any("of the estimated real run" in w for w in (*frozen.warnings, *untimed.warnings))


def test_edge_bins_hold_their_upper_bound_and_nothing_at_or_below_the_edge():
    from trainless.predict import EDGE_BINS, edge_bin

    assert EDGE_BINS[0] == 1.0
    assert [edge_bin(r) for r in (None, math.nan, 0.5, 1.0)] == [None] * 4
    assert [edge_bin(r) for r in (1.01, 1.5, 1.51, 2.0, 2.5, 3.0, 3.01, 40.0)] == [0, 0, 1, 1, 2, 2, 3, 3]


EDGE_OUTCOME_BANDS = {
    "suite": "s",
    "edge_outcomes": {
        "suites": ["s"],
        "bins": [1.0, 1.5, 2.0, 3.0],
        "outcomes": ["converged", "stalled", "diverged"],
        "runs": {
            "gd-ce": [{"converged": 9, "stalled": 0, "diverged": 0}, {}, {"converged": 1, "diverged": 1}, {}],
            "sgd-momentum-ce": [{"converged": 2, "stalled": 1}, {}, {"diverged": 2}, {"diverged": 3}],
            "gd-mse": [{}, {"converged": 2}, {}, {}],
        },
    },
}


def test_the_edge_warning_quotes_what_real_runs_this_far_past_their_edge_did(tmp_path):
    """Pooled over the runs of the prediction's loss in its bin of lr over the edge, and its own regime's apart where
    it holds fewer of them; nothing at or below the edge, for a bin of the loss without runs, or without a table."""
    import json

    from trainless.predict import edge_outcome_note

    bands = tmp_path / "bands_edge.json"
    bands.write_text(json.dumps(EDGE_OUTCOME_BANDS))

    def runs(converged, stalled, diverged):
        return (
            f"{converged} of {converged + stalled + diverged} converged, {stalled} stalled (loss at T above half the "
            f"initial), {diverged} diverged (above the initial)"
        )

    assert edge_outcome_note(2.4, "gd-ce", bands) == (
        f"the benchmark's gd-ce runs at 2-3x the stability edge at w0: {runs(1, 0, 1)}; all its cross-entropy runs "
        f"there: {runs(1, 0, 3)}"
    )
    # every run of the bin is the regime's own: no second count
    assert edge_outcome_note(7.0, "sgd-momentum-ce", bands) == (
        f"the benchmark's sgd-momentum-ce runs at more than 3x the stability edge at w0: {runs(0, 0, 3)}"
    )
    assert edge_outcome_note(1.2, "sgd-ce", bands) == (
        f"no sgd-ce run of the benchmark was at 1-1.5x the stability edge at w0; its cross-entropy runs there: "
        f"{runs(11, 1, 0)}"
    )
    assert (
        edge_outcome_note(1.7, "gd-mse", bands)
        == f"the benchmark's gd-mse runs at 1.5-2x the stability edge at w0: {runs(2, 0, 0)}"
    )
    assert edge_outcome_note(1.7, "gd-ce", bands) is None  # no cross-entropy run in that bin
    assert edge_outcome_note(2.4, "gd-mse", bands) is None
    assert edge_outcome_note(0.9, "gd-ce", bands) is None
    assert edge_outcome_note(2.4, "gd-ce", tmp_path / "missing.json") is None
    other = tmp_path / "bands_edge_other_bins.json"  # bins the predictor does not read: quoted nowhere
    other.write_text(json.dumps({"edge_outcomes": {**EDGE_OUTCOME_BANDS["edge_outcomes"], "bins": [1, 2, 4, 8]}}))
    assert edge_outcome_note(2.4, "gd-ce", other) is None


def test_packaged_edge_outcomes_count_every_cached_run_past_its_edge():
    from trainless.predict import EDGE_BINS, EDGE_OUTCOMES
    from trainless.predict._trust import BANDS_FILE, _bands

    table = _bands(BANDS_FILE)["edge_outcomes"]
    assert tuple(table["bins"]) == EDGE_BINS and tuple(table["outcomes"]) == EDGE_OUTCOMES
    assert "paper" in table["suites"] and "unseen53" in table["suites"]
    assert all(len(rows) == len(EDGE_BINS) for rows in table["runs"].values())
    ce = sum(row[o] for r, rows in table["runs"].items() if r.endswith("-ce") for row in rows for o in EDGE_OUTCOMES)
    assert ce >= 36  # the cross-entropy runs past their edge cached before unseen53 ran, each counted once


def test_run_outcome_reads_the_real_loss_at_t_against_its_start():
    from trainless.bench._run import edge_outcome_table, run_outcome

    def result(losses, status="completed", ratio=2.5, batch=0):
        case = {"batch_size": batch, "momentum": 0.0, "loss": "ce"}
        preds = {"discrete": {"edge_ratio": ratio}}
        return {"record": {"loss": losses, "status": status}, "case": case, "n": 10, "predictions": preds}

    assert run_outcome(result([1.6, 0.1])) == "converged"
    assert run_outcome(result([1.6, 0.9])) == "stalled"
    assert run_outcome(result([1.6, 1.7])) == "diverged"
    assert run_outcome(result([1.6, math.nan])) == "diverged"
    assert run_outcome(result([1.6, 0.1], status="diverged")) == "diverged"
    table = edge_outcome_table(
        [
            result([1.6, 0.1]),
            result([1.6, 2.0]),
            result([1.6, 0.1], ratio=0.9),  # below the edge: not counted
            result([1.6, 0.1], ratio=1.2, batch=4),
            {**result([1.6, 0.1]), "predictions": {"discrete": {"edge_ratio": math.nan}}},  # no ratio: not counted
        ]
    )
    assert table == {
        "gd-ce": [{"converged": 0, "stalled": 0, "diverged": 0}] * 2
        + [{"converged": 1, "stalled": 0, "diverged": 1}, {"converged": 0, "stalled": 0, "diverged": 0}],
        "sgd-ce": [{"converged": 1, "stalled": 0, "diverged": 0}] + [{"converged": 0, "stalled": 0, "diverged": 0}] * 3,
    }


def test_conformal_bounds_are_order_statistics_and_need_nineteen_runs():
    from trainless.bench._loss_band import conformal_bounds
    from trainless.predict import LOSS_BAND_MIN_CASES

    assert LOSS_BAND_MIN_CASES == 19
    runs = [[float(v), -float(v)] for v in range(1, 20)]
    assert conformal_bounds(runs) == ([1.0, -19.0], [19.0, -1.0])  # n = 19: the least and the largest
    assert conformal_bounds(runs[:18]) is None  # the 95% bound would be the 18.05th of 18
    runs = [[float(v)] for v in range(1, 40)]
    assert conformal_bounds(runs) == ([2.0], [38.0])  # n = 39: the 2nd and the 38th smallest


def _band_result(real_ratio, edge=0.5, steps=10, eval_steps=None, batch=0):
    """A cached case result holding one frozen-kernel prediction (loss 1 throughout) and a real run at
    ``real_ratio`` x it from step 1 on."""
    pred = {"loss": [1.0] * (steps + 1), "options": {}, "edge_ratio": edge, "endpoint": None}
    eval_steps = list(range(steps + 1)) if eval_steps is None else eval_steps
    record = {"loss": [1.0 if t == 0 else real_ratio for t in eval_steps], "eval_steps": eval_steps}
    return {
        "case": {"batch_size": batch, "momentum": 0.0, "loss": "ce"},
        "n": 10,
        "predictions": {"discrete": pred},
        "comparisons": [{"engine": "discrete"}],
        "record": record,
    }


def test_loss_log_ratios_read_the_real_loss_at_the_shares_of_the_run():
    from trainless.bench._loss_band import loss_log_ratios
    from trainless.predict import LOSS_BAND_FRACTIONS

    assert loss_log_ratios(_band_result(2.0, steps=150), "discrete") == [math.log(2.0)] * len(LOSS_BAND_FRACTIONS)
    # a run evaluated every 10 steps is read linearly between them (step 3: 0.3 of the way from 1 to 0.5); a
    # diverged one is +inf
    sparse = loss_log_ratios(_band_result(0.5, steps=150, eval_steps=list(range(0, 151, 10))), "discrete")
    assert sparse[0] == pytest.approx(math.log(0.85)) and sparse[-1] == pytest.approx(math.log(0.5))
    assert loss_log_ratios(_band_result(math.nan), "discrete")[-1] == math.inf
    zero = _band_result(0.5)
    zero["predictions"]["discrete"]["loss"][-1] = 0.0  # the real loss above a prediction of 0: +inf
    assert loss_log_ratios(zero, "discrete")[-1] == math.inf
    assert loss_log_ratios(_band_result(0.0), "discrete")[-1] == -math.inf  # a real loss of 0 below it


def test_loss_band_table_keeps_cells_of_enough_runs_and_checks_each_suite_against_the_others():
    from trainless.bench._loss_band import band_hits, loss_band_table, loss_band_vectors

    # a bound of None (how the packaged table stores an infinite one) is unbounded
    assert band_hits([[-9.0, 5.0], [2.0, -2.0]], [None, -1.0], [1.0, None]) == [[True, True], [False, False]]

    a = [_band_result(math.exp(v)) for v in np.linspace(-1.0, 1.0, 20)]
    b = [_band_result(math.exp(v)) for v in np.linspace(0.0, 2.0, 20)]
    flagged = [_band_result(1.0, edge=2.0) for _ in range(5)]  # too few for a band
    table = loss_band_table({"a": a, "b": b + flagged}, {"frozen": None})
    assert table["suites"] == ["a", "b"] and table["level"] == 0.9
    assert list(table["cells"]) == ["frozen"] and list(table["cells"]["frozen"]["gd-ce"]) == ["unflagged"]
    cell = table["cells"]["frozen"]["gd-ce"]["unflagged"]
    assert cell["cases"] == 40
    # 40 runs: the 2nd and the 39th smallest log ratio at every share
    values = sorted([*np.linspace(-1.0, 1.0, 20), *np.linspace(0.0, 2.0, 20)])
    assert cell["low"] == pytest.approx([values[1]] * 12) and cell["high"] == pytest.approx([values[38]] * 12)
    # a case without a kernel-updates prediction: the default's prediction is the frozen one
    assert loss_band_vectors(a, {"frozen": None}, default_only=True) == loss_band_vectors(a, {"frozen": None})
    # each suite against the other's band (20 runs: its least and largest): half of each inside
    assert cell["held_out_coverage"] == pytest.approx(0.5) and cell["held_out_coverage_at_T"] == pytest.approx(0.5)


LOSS_BAND_BANDS = {
    "loss_band": {
        "fractions": [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        "level": 0.9,
        "suites": ["a", "b", "c"],
        "cells": {
            "updates": {
                "gd-ce": {
                    "unflagged": {
                        "low": [math.log(0.5)] * 12,
                        "high": [math.log(2.0)] * 12,
                        "cases": 40,
                        "held_out_coverage": 0.88,
                        "held_out_coverage_at_T": 0.85,
                    },
                    "flagged": {
                        "low": [math.log(0.5)] * 12,
                        "high": [math.log(2.0)] * 11 + [None],
                        "cases": 25,
                        "held_out_coverage": None,
                        "held_out_coverage_at_T": None,
                    },
                }
            }
        },
    }
}


def test_loss_band_applies_the_cells_bounds_per_step(tmp_path):
    import json

    from trainless.predict import loss_band, loss_band_text

    bands = tmp_path / "bands.json"
    bands.write_text(json.dumps(LOSS_BAND_BANDS))
    loss = [1.0 - 0.005 * t for t in range(101)]
    low, high, info = loss_band(loss, "updates", "gd-ce", False, bands)
    assert len(low) == len(high) == 101
    assert low[0] == high[0] == loss[0]  # both curves start at f0
    # from 2% of the run on the cell's bounds; before it linear in t / T from 0
    assert low[1] == pytest.approx(loss[1] * math.sqrt(0.5)) and high[1] == pytest.approx(loss[1] * math.sqrt(2.0))
    assert all(
        lo == pytest.approx(v * 0.5) and hi == pytest.approx(v * 2.0)
        for lo, hi, v in zip(low[2:], high[2:], loss[2:], strict=True)
    )
    assert info["cases"] == 40 and info["suites"] == 3 and info["ratio_at_T"] == pytest.approx([0.5, 2.0])
    text = loss_band_text(info, low[-1], high[-1])
    assert text.startswith("at T 0.25 to 1: at each step the band held the real loss of 90% of the 40 benchmark runs")
    assert "alike (gd-ce, updates, unflagged; 3 suites)" in text
    assert text.endswith("in turn it held 88% of the runs (at T 85%)")
    # an unbounded side (runs that diverged) is inf on the steps it touches
    low, high, info = loss_band(loss, "updates", "gd-ce", True, bands)
    assert math.isfinite(high[89]) and high[-1] == math.inf and "unbounded" in loss_band_text(info, low[-1], high[-1])
    assert loss_band([1.0, 0.0], "updates", "gd-ce", True, bands)[1][-1] == math.inf  # not 0 x inf = NaN
    assert loss_band(loss, "frozen", "gd-ce", False, bands) is None  # no such cell
    assert loss_band([1.0, math.nan], "updates", "gd-ce", False, bands) is None
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"loss_band": {**LOSS_BAND_BANDS["loss_band"], "fractions": [0.5, 1.0]}}))
    assert loss_band(loss, "updates", "gd-ce", False, other) is None  # measured at other shares: not these
    assert loss_band(loss, "updates", "gd-ce", False, tmp_path / "missing.json") is None


def test_packaged_loss_bands_rest_on_enough_runs_at_the_shares_predictions_read():
    from trainless.predict import LOSS_BAND_FRACTIONS, LOSS_BAND_MIN_CASES
    from trainless.predict._trust import BANDS_FILE, _bands

    table = _bands(BANDS_FILE)["loss_band"]
    assert tuple(table["fractions"]) == LOSS_BAND_FRACTIONS and "unseen55" in table["suites"]
    cells = [c for regimes in table["cells"].values() for flags in regimes.values() for c in flags.values()]
    assert cells and all(c["cases"] >= LOSS_BAND_MIN_CASES for c in cells)
    assert all(lo is None or hi is None or lo <= hi for c in cells for lo, hi in zip(c["low"], c["high"], strict=True))
    # the default's full-batch cell, the one most predictions read
    assert table["cells"]["updates"]["gd-ce"]["unflagged"]["cases"] >= 100


def test_a_prediction_from_w0_carries_the_benchmark_loss_band_of_its_cell(digits16, tiny, tmp_path):
    from trainless.predict import loss_band, trust_regime

    cfg = FinetuneConfig(lr=0.01, steps=10)
    lin = linearize(tiny, digits16, cfg, FAST)
    bare = predict_from(lin, cfg, FAST)
    full = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    assert bare.real_loss_low == () and "loss_band" not in bare.trust  # no endpoint check: not as measured
    regime = trust_regime(cfg.batch_size, lin.n, cfg.momentum, cfg.loss)
    low, high, info = loss_band(full.loss, full.trust["mode"], regime, bool(full.trust["flags"]))
    assert full.real_loss_low == low and full.real_loss_high == high and len(low) == full.steps + 1
    assert full.trust["loss_band"]["cases"] == info["cases"] and full.trust["loss_band"]["text"].startswith("at T ")
    _, csv_path = full.save(tmp_path)
    assert csv_path.read_text().splitlines()[0].split(",")[9:11] == ["real_loss_low", "real_loss_high"]
    from trainless.predict import load_prediction

    assert load_prediction(tmp_path / "prediction.json").real_loss_high == high
    from trainless.predict import steps_band

    bands, info = steps_band(
        full.eps_times, full.level_times, full.steps, full.trust["mode"], regime, bool(full.trust["flags"])
    )
    assert full.steps_band == bands and bands and full.trust["steps_band"]["text"].startswith("real steps ")
    assert bare.steps_band == () and "steps_band" not in bare.trust
    assert load_prediction(tmp_path / "prediction.json").steps_band == bands
    # drawn at the levels, also where a band lies wholly after the predicted steps or is unbounded
    from trainless.predict import StepsBand
    from trainless.report import plot_prediction

    odd = dataclasses.replace(full, steps_band=(StepsBand("level", 0.5, 3, 4, None, 30), *bands))
    assert plot_prediction(odd, tmp_path / "odd.png").stat().st_size > 0


def _steps_result(level_real, eps_real, predicted=10, edge=0.5, batch=0):
    """A cached case result whose frozen-kernel prediction reaches the level 0.5 and eps 0.1 at ``predicted``
    steps and the level 0.1 never; the real run at ``level_real`` and ``eps_real`` (None: never)."""
    comparison = {
        "engine": "discrete",
        "levels": [
            {"level": 0.5, "predicted": predicted, "real": level_real},
            {"level": 0.1, "predicted": None, "real": 40},
        ],
        "eps": [
            {"eps": 0.1, "basis": "loss", "predicted": predicted, "real": eps_real},
            {"eps": 0.1, "basis": "error", "predicted": 3, "real": 300},  # not the loss: not read
        ],
    }
    return {
        "case": {"batch_size": batch, "momentum": 0.0, "loss": "ce"},
        "n": 10,
        "predictions": {"discrete": {"options": {}, "edge_ratio": edge, "endpoint": None}},
        "comparisons": [comparison],
    }


def test_steps_log_ratios_read_the_targets_the_prediction_reaches():
    from trainless.bench._loss_band import steps_log_ratios

    assert steps_log_ratios(_steps_result(20, 5), "discrete") == {
        "level 0.5": pytest.approx(math.log(2.0)),
        "eps 0.1": pytest.approx(math.log(0.5)),
    }
    # a real run that never got there is +inf: above any finite band
    assert steps_log_ratios(_steps_result(None, 10), "discrete") == {"level 0.5": math.inf, "eps 0.1": 0.0}


def test_steps_band_table_bounds_each_target_and_checks_each_suite_against_the_others():
    from trainless.bench._loss_band import steps_band_table, steps_hits

    # the high side None is unbounded, and holds a run that never got there
    assert steps_hits([{"level 0.5": math.inf, "eps 0.1": 0.0}], {"level 0.5": {"low": 0.0, "high": None}}) == [True]
    assert steps_hits([{"eps 0.1": 0.5}], {"eps 0.1": {"low": -1.0, "high": 0.4}}) == [False]

    a = [_steps_result(10 + k, 10 + k) for k in range(20)]  # ratios 1.0 .. 2.9
    b = [_steps_result(5 + k, None) for k in range(20)]  # 0.5 .. 2.4; its eps never reached
    flagged = [_steps_result(10, 10, edge=2.0) for _ in range(5)]  # too few for a band
    table = steps_band_table({"a": a, "b": b + flagged}, {"frozen": None})
    assert table["suites"] == ["a", "b"] and table["level"] == 0.9
    assert list(table["cells"]["frozen"]["gd-ce"]) == ["unflagged"]
    cell = table["cells"]["frozen"]["gd-ce"]["unflagged"]
    assert cell["cases"] == 40 and set(cell["targets"]) == {"level 0.5", "eps 0.1"}  # never predicted: no band
    # 40 runs: the 2nd and the 39th smallest; half the eps are +inf, stored as None
    levels = sorted(math.log(v / 10) for v in [*range(10, 30), *range(5, 25)])
    assert cell["targets"]["level 0.5"] == {
        "low": pytest.approx(levels[1]),
        "high": pytest.approx(levels[38]),
        "cases": 40,
    }
    assert cell["targets"]["eps 0.1"]["high"] is None
    # each suite against the other's bands (20 runs: the least and the largest). a's levels 1.0-2.9x inside b's
    # 0.5-2.4x at 15 of 20, a's eps outside b's band of runs that never got there; b's levels inside a's at 15, b's
    # eps (never reached) outside a's 1.0-2.9x
    assert cell["held_out_pairs"] == 80 and cell["held_out_coverage"] == pytest.approx((15 + 0 + 15 + 0) / 80)
    never = steps_band_table({"b": b, "c": b}, {"frozen": None})["cells"]["frozen"]["gd-ce"]["unflagged"]
    assert never["targets"]["eps 0.1"] == {"low": None, "high": None, "cases": 40}  # stored as None, not inf
    assert never["held_out_coverage"] == 1.0  # b's own runs held by c's identical band, the never-reached ones too


STEPS_BAND_BANDS = {
    "steps_band": {
        "level": 0.9,
        "suites": ["a", "b"],
        "cells": {
            "updates": {
                "gd-ce": {
                    "unflagged": {
                        "targets": {
                            "level 0.5": {"low": math.log(0.8), "high": math.log(1.25), "cases": 30},
                            "eps 0.1": {"low": math.log(0.5), "high": None, "cases": 25},
                        },
                        "cases": 30,
                        "held_out_coverage": 0.87,
                        "held_out_pairs": 55,
                    }
                }
            }
        },
    }
}


def test_steps_band_applies_the_cells_bounds_to_the_targets_reached(tmp_path):
    import json

    from trainless.dynamics import EpsStatus, EpsTime
    from trainless.dynamics._eps import EpsDefinition
    from trainless.predict import LevelTime, StepsBand, steps_band, steps_band_text

    bands = tmp_path / "bands.json"
    bands.write_text(json.dumps(STEPS_BAND_BANDS))
    reached = EpsStatus("reached")
    eps = (
        EpsTime(0.1, "loss", EpsDefinition.DECREASE, 33, reached),
        EpsTime(0.1, "error", EpsDefinition.DECREASE, 7, reached),  # the error: no band
        EpsTime(0.2, "loss", EpsDefinition.DECREASE, 20, reached),  # no band for eps 0.2 in the cell
    )
    levels = (LevelTime(0.5, 9), LevelTime(0.2, 30), LevelTime(0.1, None))
    out, info = steps_band(eps, levels, 100, "updates", "gd-ce", False, bands)
    # 9 x 0.8 = 7.2 -> 7, 9 x 1.25 = 11.25 -> 12 (outward); 33 x 0.5 = 16.5 -> 16, unbounded above
    assert out == (StepsBand("level", 0.5, 9, 7, 12, 30), StepsBand("eps", 0.1, 33, 16, None, 25))
    assert info["cases"] == 30 and info["suites"] == 2 and info["steps"] == 100
    text = steps_band_text(out, info)
    assert text.startswith("real steps 0.5 L0 7-12 (predicted 9), T_eps 0.1 16-unbounded (some never got there)")
    assert text.endswith(
        "(gd-ce, updates, unflagged; 2 suites); with each suite left out of the bands in turn they held 87%"
    )
    # float rounding of a ratio of whole steps does not widen the band a step: 1 x exp(log 5) = 4.999999999999999
    exact = json.loads(json.dumps(STEPS_BAND_BANDS))
    exact["steps_band"]["cells"]["updates"]["gd-ce"]["unflagged"]["targets"]["level 0.5"] |= {
        "low": math.log(5.0),
        "high": math.log(9.0),
    }
    (tmp_path / "exact.json").write_text(json.dumps(exact))
    one = steps_band((), (LevelTime(0.5, 1),), 100, "updates", "gd-ce", False, tmp_path / "exact.json")[0][0]
    assert (one.low, one.high) == (5, 9)
    # a level band may pass T (the real run may not get there), a T_eps band not: a run's T_eps is at most T
    exact["steps_band"]["cells"]["updates"]["gd-ce"]["unflagged"]["targets"]["eps 0.1"]["high"] = math.log(2.0)
    (tmp_path / "capped.json").write_text(json.dumps(exact))
    late = (EpsTime(0.1, "loss", EpsDefinition.DECREASE, 80, reached),)
    capped, _ = steps_band(late, (LevelTime(0.5, 90),), 100, "updates", "gd-ce", False, tmp_path / "capped.json")
    assert [(b.target, b.low, b.high) for b in capped] == [("level", 450, 810), ("eps", 40, 100)]
    exact["steps_band"]["cells"]["updates"]["gd-ce"]["unflagged"]["targets"]["eps 0.1"]["low"] = math.log(1.5)
    (tmp_path / "late.json").write_text(json.dumps(exact))  # all runs alike slower: the band sits at T, not past it
    (late_band,) = steps_band(late, (), 100, "updates", "gd-ce", False, tmp_path / "late.json")[0]
    assert (late_band.low, late_band.high) == (100, 100)
    assert "(past T)" in steps_band_text(*steps_band((), (LevelTime(0.5, 90),), 100, "updates", "gd-ce", False, bands))
    final = (EpsTime(0.1, "loss", EpsDefinition.FINAL, 33, reached),)  # another definition: not as measured
    assert steps_band(final, (), 100, "updates", "gd-ce", False, bands) is None
    never = json.loads(json.dumps(STEPS_BAND_BANDS))
    never["steps_band"]["cells"]["updates"]["gd-ce"]["unflagged"]["targets"]["level 0.5"]["low"] = None
    (tmp_path / "never.json").write_text(json.dumps(never))  # runs alike never got there: no band in steps for it
    assert steps_band((), (LevelTime(0.5, 10),), 100, "updates", "gd-ce", False, tmp_path / "never.json") is None
    assert steps_band(eps, levels, 100, "updates", "gd-ce", True, bands) is None  # no such cell
    assert steps_band(eps, levels, 100, "updates", "gd-ce", False, tmp_path / "missing.json") is None


def test_packaged_steps_bands_rest_on_enough_runs_per_target():
    from trainless.predict import LOSS_BAND_MIN_CASES, steps_target
    from trainless.predict._trust import BANDS_FILE, _bands

    table = _bands(BANDS_FILE)["steps_band"]
    assert table["suites"] == _bands(BANDS_FILE)["loss_band"]["suites"]
    cells = [c for regimes in table["cells"].values() for flags in regimes.values() for c in flags.values()]
    targets = [b for c in cells for b in c["targets"].values()]
    assert cells and all(b["cases"] >= LOSS_BAND_MIN_CASES for b in targets)
    assert all(b["high"] is None or b["low"] <= b["high"] for b in targets)
    default = table["cells"]["updates"]["gd-ce"]["unflagged"]
    assert default["cases"] >= 100 and steps_target("level", 0.2) in default["targets"]
