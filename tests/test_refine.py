"""Refined kernel-update schedules (``PredictConfig.refine_updates``): one more update inside every segment whose
kernel trace more than doubled."""

from __future__ import annotations

import dataclasses
import math
import sys

import pytest
import torch

from trainless import FinetuneConfig, load_model
from trainless.errors import ConfigError, TrainlessError
from trainless.predict import (
    FLOW_INACTIVE_SHARE,
    HALVE_INACTIVE_SHARE,
    REFINE_INACTIVE_SHARE,
    PredictConfig,
    auto_halve_updates,
    auto_kernel_updates,
    auto_refine_updates,
    halved_updates,
    linearize,
    predict_from,
    refined_updates,
)

FAST = PredictConfig(timing_steps=0, batch_orders=2, kernel_updates=(2, 10, 20))


def test_refined_updates_adds_the_midpoint_of_every_segment_whose_trace_more_than_doubled():
    # unseen37's digits run at 32 px: the trace along the default schedule, and the steps the exploration added.
    steps, traces = (1, 10, 25, 50, 100), (0.9, 1.3, 2.7, 13.9, 45.4)
    assert refined_updates(steps, traces) == (1, 10, 18, 25, 38, 50, 75, 100)
    # the first segment starts at step 0, trace 1; a segment of one step has no room; NaN (diverged) adds nothing
    assert refined_updates((4, 5), (2.5, 6.0)) == (2, 4, 5)
    assert refined_updates((10, 20), (math.nan, 5.0)) == (10, 20)
    # exactly twice is not more than twice, and a shrinking kernel adds nothing
    assert refined_updates((10, 20), (2.0, 0.5)) == (10, 20)


def test_refined_updates_refuses_mismatched_lengths():
    with pytest.raises(TrainlessError, match="3 update steps but 2 trace ratios"):
        refined_updates((1, 2, 3), (1.0, 1.0))


def test_auto_refines_only_without_momentum_from_ninety_percent_zero_features():
    assert auto_refine_updates(0.9, 0.0) and auto_refine_updates(0.98, 0.0)
    assert not auto_refine_updates(0.89, 0.0)
    assert not auto_refine_updates(0.98, 0.9)
    assert not auto_refine_updates(None, 0.0)


def test_refine_updates_is_checked_at_construction():
    for value in ("auto", True, False):
        assert PredictConfig(refine_updates=value).refine_updates == value
    with pytest.raises(ConfigError, match="refine_updates"):
        PredictConfig(refine_updates="yes")


def test_refining_predicts_again_with_the_refined_schedule(digits16, tiny):
    # At lr 1 the tiny CNN's kernel grows 13x between steps 2 and 10 (measured): the segment gets step 6.
    cfg = FinetuneConfig(lr=1.0, steps=30)
    lin = linearize(tiny, digits16, cfg, FAST)
    plain = predict_from(lin, cfg, dataclasses.replace(FAST, refine_updates=False), model=tiny, data=digits16)
    steps = tuple(int(r["step"]) for r in plain.kernel_path)
    schedule = refined_updates(steps, tuple(r["trace_ratio"] for r in plain.kernel_path))
    assert steps == (2, 10, 20) and schedule != steps and 6 in schedule
    refined = predict_from(lin, cfg, dataclasses.replace(FAST, refine_updates=True), model=tiny, data=digits16)
    assert refined.options.kernel_updates == schedule and refined.options.refine_updates is True
    assert tuple(int(r["step"]) for r in refined.kernel_path) == schedule
    assert any("predicted again with updates also at steps 6" in w for w in refined.warnings)
    # it is the one-pass prediction with that schedule given; the kernel before the first added step (step 2) is
    # the first pass's, reused, and the curve is the same all the same
    assert [r["seconds"] == 0.0 for r in refined.kernel_path] == [t < 6 for t in schedule]
    direct = predict_from(
        lin, cfg, dataclasses.replace(FAST, kernel_updates=schedule, refine_updates=False), model=tiny, data=digits16
    )
    torch.testing.assert_close(torch.tensor(refined.loss), torch.tensor(direct.loss), rtol=1e-6, atol=1e-9)
    assert refined.inactive_share == plain.inactive_share is not None  # measured all the same


def test_auto_measures_the_share_and_leaves_a_mostly_active_network_alone(digits16, tiny):
    cfg = FinetuneConfig(lr=1.0, steps=30)
    lin = linearize(tiny, digits16, cfg, FAST)
    auto = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    assert auto.options.refine_updates is False and auto.options.kernel_updates == (2, 10, 20)
    # the tiny CNN's head inputs: ReLU features, nearly all active on these digits
    assert auto.inactive_share is not None and 0.0 <= auto.inactive_share < 0.9
    # with momentum auto does not refine
    mom = FinetuneConfig(lr=0.01, steps=30, batch_size=20, momentum=0.9)
    lin_m = linearize(tiny, digits16, mom, FAST)
    with_m = predict_from(lin_m, mom, FAST, model=tiny, data=digits16)
    assert with_m.options.refine_updates is False and with_m.inactive_share == auto.inactive_share


def test_auto_schedules_updates_under_momentum_only_far_from_the_linearization():
    gd = auto_kernel_updates(150)
    assert auto_kernel_updates(150, 0.9) == auto_kernel_updates(150, 0.9, "auto", 0.5) == ()
    assert auto_kernel_updates(150, 0.9, "auto", FLOW_INACTIVE_SHARE) == gd == (1, 10, 25, 50, 100)
    # the two gates differ (unseen41): at 86-89% zero the flow under momentum, no refinement without it
    assert FLOW_INACTIVE_SHARE < REFINE_INACTIVE_SHARE
    assert auto_kernel_updates(150, 0.9, "auto", 0.87) == gd and not auto_refine_updates(0.87, 0.0)
    assert auto_kernel_updates(150, 0.9, "auto", 0.84) == ()
    # a path named by hand keeps its own rule: the flow always, the run's own path never
    assert auto_kernel_updates(150, 0.9, "flow", None) == gd and auto_kernel_updates(150, 0.9, "own", 0.99) == ()


@pytest.mark.parametrize("buffer, updated", [("kept", True), ("exact", False)])
def test_a_far_network_under_momentum_gets_updates_along_the_flow(digits16, tiny, monkeypatch, buffer, updated):
    # The tiny CNN's features are nearly all active; stand in a share above the gate to see what auto does with
    # it. With the exact buffer "auto" takes the run's own path, where the rule was not measured: none.
    # (trainless.predict is also the function's name at the top level, so the module is taken from sys.modules)
    monkeypatch.setattr(sys.modules["trainless.predict._predict"], "_inactive_share", lambda model, data: 0.95)
    mom = FinetuneConfig(lr=0.01, steps=30, batch_size=20, momentum=0.9)
    options = dataclasses.replace(FAST, kernel_updates="auto", momentum_buffer=buffer)
    pred = predict_from(linearize(tiny, digits16, mom, options), mom, options, model=tiny, data=digits16)
    assert pred.inactive_share == 0.95 and pred.options.refine_updates is False
    if updated:
        assert pred.options.kernel_updates == auto_kernel_updates(30) and pred.options.update_path == "flow"
        assert [int(r["step"]) for r in pred.kernel_path] == list(auto_kernel_updates(30))
        assert any("because 95% of the penultimate features are zero" in w for w in pred.warnings)
    else:
        assert pred.options.kernel_updates == () and not pred.kernel_path


@pytest.mark.parametrize("which", ["linear", "small lr"])
def test_refining_changes_nothing_where_the_kernel_does_not_grow(digits16, tiny, which):
    # A linear model's kernel never moves; as lr -> 0 the kernel's change vanishes: no segment doubles.
    model = load_model("factories:linear16", 5, seed=0) if which == "linear" else tiny
    cfg = FinetuneConfig(lr=0.002 if which == "linear" else 1e-4, steps=30)
    lin = linearize(model, digits16, cfg, FAST)
    plain = predict_from(lin, cfg, dataclasses.replace(FAST, refine_updates=False), model=model, data=digits16)
    refined = predict_from(lin, cfg, dataclasses.replace(FAST, refine_updates=True), model=model, data=digits16)
    assert refined.options.kernel_updates == plain.options.kernel_updates == (2, 10, 20)
    assert refined.loss == plain.loss


def test_halved_updates_adds_the_midpoint_of_every_segment_up_to_t():
    assert halved_updates((1, 10, 25, 50, 100), 150) == (1, 6, 10, 18, 25, 38, 50, 75, 100, 125)
    # segments shorter than 2 steps have no midpoint; the last one ends at T
    assert halved_updates((1, 2, 3), 4) == (1, 2, 3)
    assert halved_updates((2, 10, 20), 30) == (1, 2, 6, 10, 15, 20, 25)
    assert halved_updates((), 10) == (5,)


def test_auto_halves_only_full_batch_without_momentum_in_the_band_below_the_refinement():
    band = (HALVE_INACTIVE_SHARE + REFINE_INACTIVE_SHARE) / 2
    assert auto_halve_updates(HALVE_INACTIVE_SHARE, 0.0, None, 50) and auto_halve_updates(band, 0.0, 0, 50)
    assert auto_halve_updates(band, 0.0, 50, 50)  # a batch of the whole set is full batch
    # from 90% the refinement takes over; below 85%, under momentum, with minibatches or unmeasured: neither
    assert not auto_halve_updates(REFINE_INACTIVE_SHARE, 0.0, None, 50)
    assert not auto_halve_updates(HALVE_INACTIVE_SHARE - 0.01, 0.0, None, 50)
    assert not auto_halve_updates(band, 0.9, None, 50) and not auto_halve_updates(band, 0.0, 16, 50)
    assert not auto_halve_updates(None, 0.0, None, 50)


def _with_share(monkeypatch, share):
    # trainless.predict is also the function's name at the top level: the module is taken from sys.modules
    monkeypatch.setattr(sys.modules["trainless.predict._predict"], "_inactive_share", lambda model, data: share)


def test_auto_halves_the_schedule_in_the_band(digits16, tiny, monkeypatch):
    _with_share(monkeypatch, 0.87)
    cfg = FinetuneConfig(lr=1.0, steps=30)
    lin = linearize(tiny, digits16, cfg, FAST)
    halved = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    schedule = halved_updates((2, 10, 20), 30)
    assert halved.options.kernel_updates == schedule and halved.options.refine_updates is True
    assert [int(r["step"]) for r in halved.kernel_path] == list(schedule)
    assert any("halved up front" in w for w in halved.warnings) and halved.inactive_share == 0.87
    direct = predict_from(
        lin, cfg, dataclasses.replace(FAST, kernel_updates=schedule, refine_updates=False), model=tiny, data=digits16
    )
    torch.testing.assert_close(torch.tensor(halved.loss), torch.tensor(direct.loss), rtol=1e-6, atol=1e-9)
    # refine_updates off, or minibatches: the schedule as given
    off = predict_from(lin, cfg, dataclasses.replace(FAST, refine_updates=False), model=tiny, data=digits16)
    assert off.options.kernel_updates == (2, 10, 20)
    sgd = FinetuneConfig(lr=1.0, steps=30, batch_size=20)
    lin_sgd = linearize(tiny, digits16, sgd, FAST)
    assert predict_from(lin_sgd, sgd, FAST, model=tiny, data=digits16).options.kernel_updates == (2, 10, 20)


def test_halving_changes_nothing_for_a_linear_model(digits16, monkeypatch):
    # A linear model's kernel never moves: more updates give the same curve.
    _with_share(monkeypatch, 0.87)
    model = load_model("factories:linear16", 5, seed=0)
    cfg = FinetuneConfig(lr=0.002, steps=30)
    lin = linearize(model, digits16, cfg, FAST)
    plain = predict_from(lin, cfg, dataclasses.replace(FAST, refine_updates=False), model=model, data=digits16)
    halved = predict_from(lin, cfg, FAST, model=model, data=digits16)
    assert halved.options.kernel_updates == halved_updates((2, 10, 20), 30)
    torch.testing.assert_close(torch.tensor(halved.loss), torch.tensor(plain.loss), rtol=1e-9, atol=1e-12)
