"""Predictions averaged over weight paths at shifted phases of the stride (``PredictConfig(path_samples=K)``)."""

from __future__ import annotations

import csv
import dataclasses

import pytest
import torch

from trainless import FinetuneConfig, load_model
from trainless.cli import build_parser
from trainless.cli._predict import (
    PredictJob,
    eps_rows,
    job_from_args,
    predict_config_from_args,
    render_predict,
    run_predict,
)
from trainless.dynamics import epsilon_times
from trainless.errors import ConfigError
from trainless.predict import (
    PredictConfig,
    Prediction,
    level_times,
    linearize,
    path_phases,
    predict_from,
    resolve_path_samples,
)
from trainless.predict._predict import _move_steps

# One path unless a test asks for more (the default, "auto", makes two on these full-batch runs).
FAST = PredictConfig(
    timing_steps=0, batch_orders=2, kernel_updates=(6, 14), path_stride=4, refine_updates=False, path_samples=1
)


def test_the_shifted_path_moves_half_a_stride_early_and_never_at_an_update():
    assert _move_steps(5, 30, (10, 20)) == (5, 15, 25)
    assert _move_steps(5, 30, (10, 20), 2) == (3, 8, 13, 18, 23, 28)
    assert _move_steps(4, 20, (6, 14), 2) == (2, 10, 18)  # 6 and 14 are updates: the weights move there anyway
    assert _move_steps(None, 30, (10,), 2) == ()


def test_two_paths_are_the_mean_of_the_paths_predicted_one_by_one(digits16, tiny):
    cfg = FinetuneConfig(lr=0.02, steps=24)
    lin = linearize(tiny, digits16, cfg, FAST)
    one = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    two = predict_from(lin, cfg, dataclasses.replace(FAST, path_samples=2), model=tiny, data=digits16)
    assert len(two.path_losses) == 2 and one.path_losses == ()
    assert two.path_losses[0] == one.loss  # the first path is the one-path prediction
    assert two.path_losses[1] != one.loss  # the shifted moves take the kernels elsewhere on this network
    mean = torch.tensor(two.path_losses, dtype=torch.float64).mean(0)
    torch.testing.assert_close(torch.tensor(two.loss, dtype=torch.float64), mean, rtol=1e-12, atol=0)
    # T_eps and the level times are the mean curve's, not the first path's
    assert two.eps_times[: len(FAST.eps)] == epsilon_times(mean, FAST.eps, basis="loss")
    assert two.level_times == level_times(mean, FAST.levels)
    drop = {"seconds"}  # timings differ between two runs of the same path
    assert [{k: v for k, v in row.items() if k not in drop} for row in two.kernel_path] == [
        {k: v for k, v in row.items() if k not in drop} for row in one.kernel_path
    ]
    assert two.options.path_samples == 2
    note = next(w for w in two.warnings if "the mean of 2 weight paths" in w)
    assert "first moves at steps 4, 2" in note
    # the file keeps each path's curve
    again = Prediction.from_dict(two.to_dict())
    assert again.path_losses == two.path_losses and again.loss == two.loss


def test_paths_change_nothing_for_a_linear_model(digits16):
    # Theta of a linear model never changes: every path's kernels are Theta_0, the mean is the single path's curve.
    cfg = FinetuneConfig(lr=0.02, steps=24)
    model = load_model("factories:linear16", 5, seed=0)
    lin = linearize(model, digits16, cfg, FAST)
    one = predict_from(lin, cfg, FAST, model=model, data=digits16)
    three = predict_from(lin, cfg, dataclasses.replace(FAST, path_samples=3), model=model, data=digits16)
    assert len(three.path_losses) == 3
    torch.testing.assert_close(torch.tensor(three.loss), torch.tensor(one.loss), rtol=1e-6, atol=1e-9)


def test_paths_change_nothing_when_only_the_head_trains(digits16, tiny):
    # Training the head alone, the network is linear in what it trains (the features stay w0's): Theta never
    # changes along any path, and two paths give the one-path curve.
    cfg = FinetuneConfig(lr=0.05, steps=24)
    lin = linearize(tiny, digits16, cfg, FAST, trainable="head")
    one = predict_from(lin, cfg, FAST, model=tiny, data=digits16)
    two = predict_from(lin, cfg, dataclasses.replace(FAST, path_samples=2), model=tiny, data=digits16)
    assert len(two.path_losses) == 2
    torch.testing.assert_close(torch.tensor(two.path_losses[1]), torch.tensor(one.loss), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(torch.tensor(two.loss), torch.tensor(one.loss), rtol=1e-6, atol=1e-9)


def test_paths_vanish_as_the_learning_rate_goes_to_zero(digits16, tiny):
    # The weights the kernels are taken at differ by O(lr) between the paths, and so do the curves.
    gaps = []
    for lr in (0.02, 0.002):
        cfg = FinetuneConfig(lr=lr, steps=24)
        lin = linearize(tiny, digits16, cfg, FAST)
        two = predict_from(lin, cfg, dataclasses.replace(FAST, path_samples=2), model=tiny, data=digits16)
        a, b = (torch.tensor(c) for c in two.path_losses)
        gaps.append(float((a - b).abs().max() / (a[0] - a[-1])))
    assert gaps[0] > 1e-5
    assert gaps[1] < 0.3 * gaps[0]


def test_one_path_without_kernel_updates_or_a_stride_to_shift(digits16, tiny):
    cfg = FinetuneConfig(lr=0.02, steps=24)
    lin = linearize(tiny, digits16, cfg, FAST)
    for change in ({"kernel_updates": ()}, {"path_stride": None}, {"path_stride": 1}):
        opts = dataclasses.replace(FAST, **change)
        one = predict_from(lin, cfg, opts, model=tiny, data=digits16)
        two = predict_from(lin, cfg, dataclasses.replace(opts, path_samples=2), model=tiny, data=digits16)
        assert two.path_losses == () and two.loss == one.loss and two.options.path_samples == 1


def test_path_samples_flag(tmp_path):
    argv = ["predict", "--model", "tiny-cnn", "--data", "digits", "--classes", "3", "--per-class", "10"]
    argv += ["--no-progress", "--lr", "0.01", "--steps", "10", "--kernel-updates", "4", "--path-stride", "3"]
    args = build_parser().parse_args([*argv, "--path-samples", "2", "--timing-steps", "0", "--out", str(tmp_path)])
    job = PredictJob(job_from_args(args), predict_config_from_args(args))
    assert job.predict.path_samples == 2
    report = run_predict(job)
    p = report.prediction
    assert len(p.path_losses) == 2 and p.options.path_samples == 2
    table = render_predict(report, "table")
    assert "the curves are the mean of 2 paths" in table
    # Each T_eps row gives the paths' own range where they differ: this run's paths, and a second path a step behind
    # the first (which differ somewhere).
    late = dataclasses.replace(p, path_losses=(p.loss, (p.loss[0], *p.loss[:-1])))
    differ = 0
    for pred, rows in ((p, table.splitlines()), (late, [f"{k} {v}" for k, v in eps_rows(late)])):
        per_path = [epsilon_times(c, pred.options.eps, basis="loss") for c in pred.path_losses]
        for i, e in enumerate(pred.options.eps):
            a, b = sorted(times[i].steps for times in per_path)
            row = next(line for line in rows if line.startswith(f"T_eps {e:g} "))
            assert (f"(paths {a}-{b})" in row) == (a != b), row
            differ += a != b
    assert differ > 0
    # The files keep each path beside the mean: the CSV as columns, the plot as thin lines.
    rows = list(csv.DictReader((tmp_path / "prediction.csv").read_text().splitlines()))
    assert [float(r["path_2_loss"]) for r in rows] == list(p.path_losses[1])
    assert [float(r["loss"]) for r in rows] == list(p.loss)
    assert (tmp_path / "prediction.png").stat().st_size > 0
    bad = build_parser().parse_args([*argv, "--path-samples", "0", "--out", str(tmp_path / "bad")])
    with pytest.raises(ConfigError, match="path_samples"):
        predict_config_from_args(bad)
    auto = build_parser().parse_args([*argv, "--path-samples", "auto", "--out", str(tmp_path / "auto")])
    assert predict_config_from_args(auto).path_samples == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--path-samples", "two", "--out", str(tmp_path / "two")])


def test_auto_averages_two_paths_on_full_batch_runs_and_one_elsewhere(digits16, tiny):
    assert resolve_path_samples("auto", 0.0, None) == 2
    assert resolve_path_samples("auto", 0.0, 16) == 2  # plain SGD too, since unseen50
    assert resolve_path_samples("auto", 0.9, 16) == 1 == resolve_path_samples("auto", 0.9, None)
    assert resolve_path_samples(3, 0.9, 16) == 3
    assert PredictConfig().path_samples == "auto"  # the default, since the held-out test of 2026-12-06
    assert path_phases(5, 2) == (2,) and path_phases(1, 2) == () and path_phases(None, 2) == ()
    assert path_phases(6, 3) == (2, 4) and path_phases(2, 4) == (1,)  # fewer distinct phases than samples
    auto = dataclasses.replace(FAST, path_samples="auto")
    gd = FinetuneConfig(lr=0.02, steps=24)
    p = predict_from(linearize(tiny, digits16, gd, FAST), gd, auto, model=tiny, data=digits16)
    assert p.options.path_samples == 2 and len(p.path_losses) == 2
    heavy = FinetuneConfig(lr=0.005, steps=24, batch_size=16, momentum=0.9)
    flow = dataclasses.replace(auto, update_path="flow")
    lin = linearize(tiny, digits16, heavy, FAST)
    p = predict_from(lin, heavy, flow, model=tiny, data=digits16)
    assert p.options.path_samples == 1 and p.path_losses == ()
    # asked for, the flow's moves are shifted too
    two = predict_from(lin, heavy, dataclasses.replace(flow, path_samples=2), model=tiny, data=digits16)
    assert len(two.path_losses) == 2 and two.path_losses[0] == p.loss and two.path_losses[1] != p.loss
