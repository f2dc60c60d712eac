"""Kernel updates along the gradient-flow path (``PredictConfig(update_path="flow")``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from trainless import FinetuneConfig, load_model
from trainless.errors import ConfigError
from trainless.predict import (
    FLOW_EDGE_RATIO,
    FLOW_INACTIVE_SHARE,
    PredictConfig,
    auto_guarded_flow,
    auto_kernel_updates,
    largest_edge_ratio,
    linearize,
    predict_from,
    resolve_update_path,
    short_last_batch,
)
from trainless.predict._flow import heavy_ball_distance

FAST = PredictConfig(timing_steps=0, batch_orders=2)
FLOW = dataclasses.replace(FAST, update_path="flow")


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.5, True), (0.9, True)])
def test_heavy_ball_distance_is_how_far_torch_sgd_moves_under_a_constant_gradient(momentum, nesterov):
    # The reference: torch.optim.SGD itself on L(w) = w (gradient 1 everywhere), lr changed every step.
    lrs = [0.1, 0.3, 0.2, 0.05, 0.4, 0.1, 0.1, 0.25]
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lrs[0], momentum=momentum, nesterov=nesterov)
    moved = [0.0]
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        w.sum().backward()
        opt.step()
        moved.append(-float(w.detach()))
    assert heavy_ball_distance(lrs, momentum, nesterov) == pytest.approx(moved, rel=1e-12, abs=1e-15)


def test_flow_updates_change_nothing_for_a_linear_model(digits16):
    # Theta of f = W x + b never changes, so the flow's kernels are Theta_0 and the prediction the frozen one, and
    # the real network at the flow's weights is the linearized flow there.
    cfg = FinetuneConfig(lr=0.002, steps=30, batch_size=20, momentum=0.9)
    model = load_model("factories:linear16", 5, seed=0)
    lin = linearize(model, digits16, cfg, FAST)
    frozen = predict_from(lin, cfg, FAST)
    flow = predict_from(lin, cfg, dataclasses.replace(FLOW, kernel_updates=(5, 12, 20)), model=model, data=digits16)
    torch.testing.assert_close(torch.tensor(flow.loss), torch.tensor(frozen.loss), rtol=1e-5, atol=1e-7)
    assert [row["step"] for row in flow.kernel_path] == [5, 12, 20]
    assert all(abs(row["trace_ratio"] - 1) < 1e-5 and row["relative_change"] < 1e-5 for row in flow.kernel_path)
    assert all(row["path_output_gap"] < 1e-4 for row in flow.kernel_path)
    assert all(row["path_loss_real"] == pytest.approx(row["path_loss_linear"], rel=1e-5) for row in flow.kernel_path)
    # the flow moves on: farther from w0 at each update, and the endpoint check is made at its end
    distances = [row["weight_distance"] for row in flow.kernel_path]
    assert 0 < distances[0] < distances[1] < distances[2]
    assert flow.endpoint is not None and flow.endpoint["output_gap"] < 1e-4


def test_flow_updates_vanish_as_the_learning_rate_goes_to_zero(digits16, tiny):
    # Along the flow the weights move by O(lr t), so the kernel, and the curves' gap to the frozen one, by O(lr)
    # (with momentum 0.9 the kernel still changes by half at lr 5e-3 here: the asymptote starts below it).
    gaps = []
    for lr in (0.0005, 0.00005):
        cfg = FinetuneConfig(lr=lr, steps=20, batch_size=16, momentum=0.9)
        lin = linearize(tiny, digits16, cfg, FAST)
        frozen = torch.tensor(predict_from(lin, cfg, FAST).loss)
        pred = predict_from(lin, cfg, dataclasses.replace(FLOW, kernel_updates=(5, 10, 15)), model=tiny, data=digits16)
        gaps.append(float((torch.tensor(pred.loss) - frozen).abs().max() / (frozen[0] - frozen[-1])))
    assert gaps[0] > 1e-4  # the network is not linear: the updates do something at the larger lr
    assert gaps[1] < 0.3 * gaps[0]


def test_the_flow_path_tracks_the_gd_path_at_a_small_lr(digits16, tiny):
    # Without momentum the flow time of step t is t lr, so at a small lr the flow's weights and kernels are the
    # linearized GD run's own (the two differ by O(lr) per unit of time).
    cfg = FinetuneConfig(lr=0.002, steps=40)
    lin = linearize(tiny, digits16, cfg, FAST)
    opts = dataclasses.replace(FAST, kernel_updates=(10, 25), path_stride=1)
    own = predict_from(lin, cfg, opts, model=tiny, data=digits16)
    flow = predict_from(lin, cfg, dataclasses.replace(opts, update_path="flow"), model=tiny, data=digits16)
    for a, b in zip(own.kernel_path, flow.kernel_path, strict=True):
        assert b["weight_distance"] == pytest.approx(a["weight_distance"], rel=0.02)
        assert b["trace_ratio"] == pytest.approx(a["trace_ratio"], rel=0.02)
        assert abs(b["trace_ratio"] - 1) > 1e-4  # the kernel does move here
    torch.testing.assert_close(torch.tensor(flow.loss), torch.tensor(own.loss), rtol=0.02, atol=1e-6)


def test_momentum_keeps_the_flow_below_its_edge_line_without_a_short_batch_unless_the_flow_is_asked_for(digits16, tiny):
    # 60 samples at batch 16: epochs end in a batch of 12, not short (more than half a batch).
    cfg = FinetuneConfig(lr=0.005, steps=30, batch_size=16, momentum=0.9)
    lin = linearize(tiny, digits16, cfg, FAST)
    auto = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    assert largest_edge_ratio(auto.edge_ratio, auto.kernel_path) < FLOW_EDGE_RATIO
    assert auto.options.update_path == "flow" and auto_kernel_updates(30, 0.9) == ()
    assert auto.options.kernel_updates == auto_kernel_updates(30) == (1, 2, 5, 10, 20)
    assert [row["step"] for row in auto.kernel_path] == [1, 2, 5, 10, 20]
    assert any("predicted along the gradient flow and kept" in w for w in auto.warnings)
    # update_path="flow" given: the same prediction, with the measured note
    flow = predict_from(lin, cfg, FLOW, model=tiny, data=digits16)
    assert flow.options.kernel_updates == auto_kernel_updates(30, 0.9, "flow") == auto.options.kernel_updates
    assert flow.options.path_stride == 1 and flow.options.update_path == "flow"
    assert flow.loss == pytest.approx(auto.loss, rel=1e-9)
    assert any("along a full-batch gradient flow: on the benchmark's 50" in w for w in flow.warnings)
    none = dataclasses.replace(FAST, kernel_updates=())
    # epochs ending in a short batch (60 at batch 28: 4 left) keep the frozen kernel; drop_last takes the flow again
    short = dataclasses.replace(cfg, batch_size=28)
    lin_short = linearize(tiny, digits16, short, FAST)
    kept_frozen = predict_from(lin_short, short, FAST, model=tiny, data=digits16)
    assert kept_frozen.options.kernel_updates == () and kept_frozen.kernel_path == ()
    assert kept_frozen.loss == pytest.approx(predict_from(lin_short, short, none).loss, rel=1e-12)
    dropped = dataclasses.replace(short, drop_last=True)
    assert predict_from(lin_short, dropped, FAST, model=tiny, data=digits16).options.update_path == "flow"
    # above FLOW_EDGE_RATIO "auto" falls back to the frozen kernel (both passes in its cost); "flow" keeps the flow
    high = FinetuneConfig(lr=1.2, steps=30, batch_size=16, momentum=0.9)
    lin_high = linearize(tiny, digits16, high, FAST)
    frozen = predict_from(lin_high, high, FAST, model=tiny, data=digits16)
    assert frozen.options.kernel_updates == () and frozen.kernel_path == ()
    assert any("the frozen kernel's prediction; along the gradient flow the lr at" in w for w in frozen.warnings)
    plain = predict_from(lin_high, high, none, model=tiny, data=digits16)
    assert frozen.loss == pytest.approx(plain.loss, rel=1e-12) and frozen.seconds > plain.seconds
    along = predict_from(lin_high, high, FLOW, model=tiny, data=digits16)
    assert largest_edge_ratio(along.edge_ratio, along.kernel_path) > FLOW_EDGE_RATIO
    # steps given by hand under momentum: along the flow by default ("auto", resolved in the options) ...
    given = dataclasses.replace(FAST, kernel_updates=(1, 2, 5, 10, 20))
    by_hand = predict_from(lin, cfg, given, model=tiny, data=digits16)
    assert by_hand.options.update_path == "flow" and by_hand.loss == pytest.approx(flow.loss, rel=1e-6)
    # ... and along the run's own path when asked, with the note that it scored worse there
    own = predict_from(lin, cfg, dataclasses.replace(given, update_path="own"), model=tiny, data=digits16)
    assert own.options.update_path == "own" and own.loss != pytest.approx(flow.loss, rel=1e-6)
    assert any("along the run's own path (update_path='own')" in w for w in own.warnings)


@pytest.mark.parametrize(
    "path, momentum, buffer, resolved",
    [
        ("auto", 0.9, "kept", "flow"),
        ("auto", 0.0, "kept", "own"),
        ("auto", 0.9, "exact", "own"),  # the flow path has no buffer to carry exactly
        ("own", 0.9, "kept", "own"),
        ("flow", 0.0, "kept", "flow"),
    ],
)
def test_resolve_update_path(path, momentum, buffer, resolved):
    assert resolve_update_path(path, momentum, buffer) == resolved


def test_a_prediction_file_from_before_the_field_took_the_own_path():
    d = PredictConfig().to_dict()
    del d["update_path"]
    assert PredictConfig.from_dict(d).update_path == "own"
    assert PredictConfig.from_dict(PredictConfig().to_dict()).update_path == "auto"


def test_flow_path_refuses_the_exact_buffer():
    with pytest.raises(ConfigError, match="update_path='flow' needs momentum_buffer 'kept'"):
        PredictConfig(update_path="flow", momentum_buffer="exact")
    with pytest.raises(ConfigError, match="update_path"):
        PredictConfig(update_path="weights")


@pytest.mark.parametrize(
    "n, batch_size, drop_last, short",
    [
        (50, 16, False, True),  # 16 + 16 + 16 + 2
        (50, 16, True, False),  # the 2 dropped
        (100, 32, False, True),  # a last batch of 4
        (250, 32, False, False),  # 26 of 32: more than half a batch
        (80, 32, False, True),  # 16 of 32: exactly half, short
        (100, 25, False, False),  # an even split
        (50, None, False, False),  # full batch
        (50, 50, False, False),
    ],
)
def test_short_last_batch(n, batch_size, drop_last, short):
    assert short_last_batch(n, batch_size, drop_last) is short


def test_auto_guards_the_flow_only_where_it_was_measured():
    ok = {"momentum": 0.9, "loss": "ce", "update_path": "auto", "momentum_buffer": "kept", "inactive_share": 0.7}
    assert auto_guarded_flow(**ok, n=50, batch_size=25)
    assert not auto_guarded_flow(**ok, n=50, batch_size=16)  # a short last batch (2)
    assert auto_guarded_flow(**ok, n=50, batch_size=16, drop_last=True)
    assert not auto_guarded_flow(**ok, n=50, batch_size=None)  # full-batch momentum: never measured
    for change in (
        {"momentum": 0.0},  # without momentum the run's own path
        {"loss": "mse"},  # never measured under momentum
        {"update_path": "flow"},  # asked for by name: kept whatever the edge
        {"momentum_buffer": "exact"},  # "auto" takes the run's own path there
        {"inactive_share": FLOW_INACTIVE_SHARE},  # from there the flow whatever the edge (auto_kernel_updates)
    ):
        assert not auto_guarded_flow(**(ok | change), n=50, batch_size=25)
    assert auto_guarded_flow(**(ok | {"inactive_share": None}), n=50, batch_size=25)  # not measured: below the gate
