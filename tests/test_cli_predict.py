"""`trainless predict` and `trainless validate`: parse, run, check fields; bad input exits 2."""

from __future__ import annotations

import json
import os

import pytest

from trainless.bench._compare import band_coverage
from trainless.cli import build_parser, main
from trainless.cli._finetune import job_from_args
from trainless.cli._predict import (
    PredictJob,
    predict_config_from_args,
    predict_job_from_args,
    render_predict,
    run_predict,
)
from trainless.cli._validate import ValidateJob, render_validate, run_validate
from trainless.errors import ConfigError

TINY = ["--model", "tiny-cnn", "--data", "digits", "--classes", "3", "--per-class", "10", "--no-progress"]


def test_predict_parse_run_fields(tmp_path):
    optimizer = ["--lr", "0.05", "--steps", "12", "--batch-size", "8", "--momentum", "0.9"]
    options = ["--kernel", "countsketch", "--kernel-dim", "512", "--eps", "0.1", "0.3", "--batch-orders", "3"]
    args = build_parser().parse_args(
        ["predict", *TINY, *optimizer, *options, "--timing-steps", "1", "--out", str(tmp_path / "p")]
    )
    job = PredictJob(job_from_args(args), predict_config_from_args(args))
    assert job.predict.kernel.method == "countsketch" and job.predict.kernel.dim == 512
    assert job.predict.eps == (0.1, 0.3) and job.problem.finetune.momentum == 0.9
    report = run_predict(job)
    p = report.prediction
    assert p.steps == 12 and p.n == 30 and p.kernel["method"] == "countsketch" and p.kernel["dim"] == 512
    assert len(p.eps_times) == 4 and p.config.batch_size == 8 and p.options.batch_orders == 3
    assert sorted(os.listdir(tmp_path / "p")) == ["prediction.csv", "prediction.json", "prediction.png", "spectral.png"]
    with open(tmp_path / "p" / "prediction.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    table = render_predict(report, "table")
    from trainless.report._plots import prediction_label

    # momentum, 30 at batch 8 (a last batch of 6, not short), far below FLOW_EDGE_RATIO: "auto" keeps its
    # kernel updates along the flow (GD's schedule at T = 12)
    assert prediction_label(p) == "predicted (discrete, countsketch kernel, updated at 1, 2, 4, 8)"
    # the classes are named by the dataset's labels (the digits drawn), as finetune and validate name them
    assert report.class_labels == (5, 6, 9) and "digits, classes [5, 6, 9], N=30" in table
    assert json.loads(render_predict(report, "json"))["class_labels"] == [5, 6, 9]
    assert "T_eps 0.1" in table and "est. real run" in table and "prediction cost" in table and "per sample" in table
    d = p.spectral
    assert len(d["sample_steps"]) == 30 and len(d["pca"]) == 30 and len(d["share"]) == 90
    assert d["share"][-1] == pytest.approx(1.0) and 1 <= d["modes_for_share"]["0.5"] <= d["modes_for_share"]["0.9"]
    summary = json.loads(render_predict(report, "json"))["summary"]
    assert summary["final_loss"] == p.loss[-1] and summary["steps"] == 12
    assert summary["estimated_run_seconds"] == pytest.approx(12 * p.step_seconds)


def test_predict_with_kernel_updates_reports_the_kernel_path_and_the_endpoint(tmp_path):
    argv = ["predict", *TINY, "--lr", "0.05", "--steps", "30"]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path)])  # "auto" is the default
    job = PredictJob(job_from_args(args), predict_config_from_args(args))
    assert job.predict.kernel_updates == "auto"
    assert predict_config_from_args(build_parser().parse_args([*argv, "--kernel-updates", "auto"])) == job.predict
    assert predict_config_from_args(build_parser().parse_args([*argv, "--kernel-updates", "none"])).kernel_updates == ()
    report = run_predict(job)
    p = report.prediction
    assert [row["step"] for row in p.kernel_path] == [1, 2, 5, 10, 20]
    assert p.endpoint is not None and p.endpoint["units"] > 0
    from trainless.report._plots import prediction_label

    assert prediction_label(p) == "predicted (discrete, exact kernel, updated at 1, 2, 5, 10, 20)"  # the plots' legend
    table = render_predict(report, "table")
    assert "endpoint check" in table and "kernel updates" in table and "stability" in table
    # the benchmark's steps band beside the predicted steps, and what it rests on
    band = next(b for b in p.steps_band if b.target == "eps" and b.value == 0.1)
    assert f"loss {band.predicted} (real {band.low}-{band.high})" in table
    assert "the real steps beside T_eps and the loss levels: each band held 90% of the" in table
    # the share of zero head inputs at init, which the auto choices read (tiny CNN: well below the 90% gate)
    assert f"{p.inactive_share:.0%} of the penultimate features are exactly zero" in table
    assert "far from the linearization" not in table and render_predict(report, "json").count("inactive_share") == 1
    saved = json.loads((tmp_path / "prediction.json").read_text())  # the steps "auto" resolved to, T = 30
    assert saved["kernel_path"][0]["step"] == 1 and saved["options"]["kernel_updates"] == [1, 2, 5, 10, 20]


def test_predict_momentum_buffer_flag_carries_the_buffer_exactly(tmp_path):
    argv = ["predict", *TINY, "--lr", "0.005", "--momentum", "0.9", "--steps", "8", "--kernel-updates", "3", "6"]
    args = build_parser().parse_args([*argv, "--momentum-buffer", "exact", "--out", str(tmp_path)])
    job = PredictJob(job_from_args(args), predict_config_from_args(args))
    assert job.predict.momentum_buffer == "exact"
    p = run_predict(job).prediction
    assert [row["step"] for row in p.kernel_path] == [3, 6] and all(row["carry_seconds"] > 0 for row in p.kernel_path)
    # steps given by hand are honoured under momentum, with a warning that the benchmark found them worse there
    assert any("kernel updates with momentum 0.9" in w for w in p.warnings)
    default = build_parser().parse_args([*argv, "--out", str(tmp_path / "kept")])
    assert predict_config_from_args(default).momentum_buffer == "kept"
    assert predict_config_from_args(default).path_stride == "auto"
    assert predict_config_from_args(default).update_shape == "full"
    assert predict_config_from_args(default).update_path == "auto"
    flow = build_parser().parse_args([*argv, "--update-path", "flow", "--out", str(tmp_path / "flow")])
    assert predict_config_from_args(flow).update_path == "flow"
    auto_path = build_parser().parse_args([*argv, "--update-path", "auto", "--out", str(tmp_path / "auto_path")])
    assert predict_config_from_args(auto_path) == predict_config_from_args(default)
    assert predict_config_from_args(default).above_edge == "edge"
    assert predict_config_from_args(default).edge_cap == "auto"
    assert predict_config_from_args(default).refine_updates == "auto"
    for word, value in (("on", True), ("off", False)):
        refine = build_parser().parse_args([*argv, "--refine-updates", word, "--out", str(tmp_path / word)])
        assert predict_config_from_args(refine).refine_updates is value
    off = build_parser().parse_args([*argv, "--edge-cap", "off", "--out", str(tmp_path / "off")])
    assert predict_config_from_args(off).edge_cap is False
    scale = build_parser().parse_args([*argv, "--edge-cap", "scale", "--out", str(tmp_path / "scale")])
    assert predict_config_from_args(scale).edge_cap is True
    assert predict_config_from_args(scale).edge_cap_shape == "scale"
    clip = build_parser().parse_args([*argv, "--edge-cap", "clip", "--out", str(tmp_path / "clip")])
    assert predict_config_from_args(clip).edge_cap and predict_config_from_args(clip).edge_cap_shape == "clip"
    as_is = build_parser().parse_args([*argv, "--above-edge", "diverge", "--out", str(tmp_path / "as_is")])
    assert predict_config_from_args(as_is).above_edge == "diverge"
    # "auto" makes no kernel updates with momentum on full batch (never measured there: the frozen kernel) ...
    auto = build_parser().parse_args([*argv[:-3], "--out", str(tmp_path / "auto")])
    p_auto = run_predict(PredictJob(job_from_args(auto), predict_config_from_args(auto))).prediction
    assert p_auto.options.kernel_updates == () and p_auto.kernel_path == ()
    assert any("momentum 0.9 with the frozen kernel" in w for w in p_auto.warnings)
    # ... unless the flow path is asked for: then GD's schedule along it
    flow_auto = build_parser().parse_args([*argv[:-3], "--update-path", "flow", "--out", str(tmp_path / "fa")])
    p_flow = run_predict(PredictJob(job_from_args(flow_auto), predict_config_from_args(flow_auto))).prediction
    assert p_flow.options.kernel_updates == (1, 3, 5) and p_flow.options.update_path == "flow"
    assert [row["step"] for row in p_flow.kernel_path] == [1, 3, 5]


def test_predict_path_stride_flag(tmp_path, capsys):
    argv = ["predict", *TINY, "--lr", "0.005", "--steps", "8", "--kernel-updates", "4", "--path-stride", "2"]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path)])
    job = PredictJob(job_from_args(args), predict_config_from_args(args))
    assert job.predict.path_stride == 2
    report = run_predict(job)
    p = report.prediction
    assert [row["step"] for row in p.kernel_path] == [4] and p.options.path_stride == 2
    assert "weights also moved every 2 steps" in render_predict(report, "table")
    bad = build_parser().parse_args([*argv[:-1], "0", "--out", str(tmp_path / "bad")])
    with pytest.raises(ConfigError, match="path_stride"):
        predict_config_from_args(bad)
    off = build_parser().parse_args([*argv[:-1], "none", "--out", str(tmp_path / "off")])
    assert predict_config_from_args(off).path_stride is None
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv[:-1], "fast", "--out", str(tmp_path / "fast")])
    assert "'auto' or 'none', got 'fast'" in capsys.readouterr().err


def test_validate_runs_both_and_compares(tmp_path, capsys):
    out = tmp_path / "v"
    code = main(["validate", *TINY, "--lr", "0.05", "--steps", "10", "--timing-steps", "1", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "T_eps 0.1 (loss)" in text and "cost" in text
    names = sorted(os.listdir(out))
    assert names == sorted(
        ["prediction.csv", "prediction.json", "run.json", "curves.csv", "validation.json", "validation.png"]
    )
    v = json.loads((out / "validation.json").read_text())
    run = json.loads((out / "run.json").read_text())
    pred = json.loads((out / "prediction.json").read_text())
    assert v["final_loss_real"] == run["loss"][-1] and v["final_loss_predicted"] == pytest.approx(pred["loss"][-1])
    assert pred["loss"][0] == pytest.approx(run["loss"][0], rel=1e-5)  # same head init, same f0
    assert v["cost_ratio"] > 0 and len(v["eps"]) == 10
    # the prediction's benchmark loss band, and how much of this real run it held
    assert (
        len(pred["real_loss_low"]) == len(pred["loss"]) and "the real loss inside the benchmark's loss band at" in text
    )
    # and its steps band, and which of its targets this real run's steps fell in
    assert pred["steps_band"] and "the real steps inside the benchmark's steps band at" in text


def test_validate_with_held_out_data_compares_the_test_curves(tmp_path, capsys):
    out = tmp_path / "v"
    argv = ["validate", *TINY, "--lr", "0.05", "--steps", "8", "--timing-steps", "0", "--test-data", "5"]
    assert main([*argv, "--diagnose", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "final test loss" in text and "on 15 held-out samples" in text and "kernel drift" in text
    lin = json.loads((out / "linearity.json").read_text())
    assert lin["steps"] == [0, 4, 8] and lin["kernel_drift"][0] == 0 and lin["kernel_drift"][-1] > 0
    v = json.loads((out / "validation.json").read_text())
    run = json.loads((out / "run.json").read_text())
    pred = json.loads((out / "prediction.json").read_text())
    assert run["test_n"] == pred["test_n"] == 15 and len(run["test_loss"]) == len(pred["test_loss"]) == 9
    assert pred["test_loss"][0] == pytest.approx(run["test_loss"][0], rel=1e-5)  # the same f0 on the test set
    assert v["test"]["final_loss_real"] == run["test_loss"][-1]
    assert "test_loss" in (out / "curves.csv").read_text().splitlines()[0]


def test_validate_json_fields(tmp_path):
    args = build_parser().parse_args(["validate", *TINY, "--steps", "5", "--timing-steps", "0", "--out", str(tmp_path)])
    report = run_validate(ValidateJob(job_from_args(args), predict_config_from_args(args), 3))
    d = json.loads(render_validate(report, "json"))
    coverage = band_coverage(report.prediction.real_loss_low, report.prediction.real_loss_high, report.record.loss)
    assert d["loss_band_coverage"] == coverage and coverage is not None
    # each steps band against the real run's steps to its target, as the comparison counts them
    real = {("level", lv["level"]): lv["real"] for lv in d["comparison"]["levels"]}
    real |= {("eps", e["eps"]): e["real"] for e in d["comparison"]["eps"] if e["basis"] == "loss"}
    checks = d["comparison"]["steps_band"]
    assert len(checks) == len(report.prediction.steps_band) > 0
    for c in checks:
        steps = real[(c["target"], c["value"])]
        assert c["real"] == steps
        # a high side of None is unbounded: it holds a run that never got there
        within = steps is not None and c["low"] <= steps and (c["high"] is None or steps <= c["high"])
        assert c["inside"] == (within or (steps is None and c["high"] is None))
    assert d["steps_band_coverage"] == pytest.approx(sum(c["inside"] for c in checks) / len(checks))
    assert d["comparison"]["smooth_window"] == 3 and d["prediction"]["estimated_run_seconds"] is None
    assert report.comparison.steps == tuple(range(6))
    assert d["comparison"]["band_coverage"] is None  # full batch: one predicted curve, no band
    # Minibatch SGD: the band over batch orders, and how much of the real run it holds, in the table too.
    argv = ["validate", *TINY, "--steps", "6", "--batch-size", "5", "--timing-steps", "0", "--batch-orders", "4"]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "sgd")])
    report = run_validate(ValidateJob(job_from_args(args), predict_config_from_args(args), 1))
    coverage = report.comparison.band_coverage
    assert coverage is not None and 0.0 <= coverage <= 1.0
    assert f"inside the predicted 5-95% band at {coverage:.0%} of the steps" in render_validate(report, "table")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--eps", "1.5"], "eps must be in (0, 1)"),
        (["--steps", "0"], "FinetuneConfig.steps must be an integer in [1, inf), got 0"),
        (["--engine", "closed-form"], "engine 'closed-form' does not support loss 'ce'; use 'discrete'"),
        (["--optimizer", "adamw"], "optimizer 'adamw' has no function-space dynamics"),
        (["--kernel-memory", "0.01"], "max_memory_mib=0.01"),
        (["--batch-orders", "0"], "PredictConfig.batch_orders"),
        (["--kernel-updates", "two"], "--kernel-updates takes integer steps, 'auto' or 'none', got 'two'"),
        (["--kernel-updates", "2", "1"], "PredictConfig.kernel_updates must be increasing"),
        (["--kernel-updates", "2", "--engine", "ode"], "kernel_updates needs engine 'discrete'"),
        (["--test-data", "0"], "FinetuneJob.test_data must be a number of test images per class"),
        (["--test-data", "5", "--engine", "sde"], "test data needs the 'discrete' or 'closed-form' engine"),
        (["--test-data", "1000"], "test per_class=1000 but class"),
        (["--observe", "3"], "PredictJob.observe must be below the run's steps = 3"),
        (["--observe", "0"], "PredictJob.observe must be an integer in [1, inf) or None, got 0"),
        (["--observe", "1", "--test-data", "5"], "--observe is not supported with --extrapolate-to or --test-data"),
        (["--observe", "1", "--momentum", "0.9", "--engine", "sde"], "closed-loop prediction under momentum needs"),
    ],
)
def test_bad_input_exits_2_with_the_reason(tmp_path, capsys, argv, fragment):
    assert main(["predict", *TINY, "--steps", "3", "--out", str(tmp_path / "x"), *argv]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "x" / "prediction.json").exists()


def test_predict_observe_parse_run_fields(tmp_path):
    optimizer = ["--lr", "0.05", "--steps", "12", "--batch-size", "8", "--momentum", "0.9", "--timing-steps", "0"]
    args = build_parser().parse_args(["predict", *TINY, *optimizer, "--observe", "4", "--out", str(tmp_path)])
    job = predict_job_from_args(args)
    assert job.observe == 4
    report = run_predict(job)
    p = report.prediction
    real = json.loads((tmp_path / "observed" / "run.json").read_text())
    assert p.observed_steps == 4 and real["loss"][:4] == list(p.loss[:4]) and len(p.loss) == 13
    assert sorted(os.listdir(tmp_path)) == [
        "observed",
        "prediction.csv",
        "prediction.json",
        "prediction.png",
        "spectral.png",
    ]
    table = render_predict(report, "table")
    assert "steps 0-4 are the real run's (closed loop)" in table and "not tracked from w_4 on (closed loop)" in table
    assert json.loads(render_predict(report, "json"))["job"]["observe"] == 4


def test_validate_observe_compares_the_closed_loop_with_the_whole_run(tmp_path):
    optimizer = ["--lr", "0.05", "--steps", "12", "--batch-size", "8", "--momentum", "0.9", "--timing-steps", "0"]
    args = build_parser().parse_args(["validate", *TINY, *optimizer, "--observe", "5", "--out", str(tmp_path)])
    assert args.observe == 5
    report = run_validate(ValidateJob(job_from_args(args), predict_config_from_args(args), observe=args.observe))
    p, r = report.prediction, report.record
    # The real run starts again from the weights the closed loop found: its first steps are the observed ones.
    assert p.observed_steps == 5 and r.steps_run == 12 and list(p.loss[:5]) == list(r.loss[:5])
    assert report.comparison.final_loss_real == r.loss[-1]
    assert json.loads(render_validate(report, "json"))["job"]["observe"] == 5
    assert "closed loop: steps 0-5 are real" in render_validate(report, "table")
    with pytest.raises(ConfigError, match="ValidateJob.observe must be below the run's steps = 12"):
        ValidateJob(job_from_args(args), predict_config_from_args(args), observe=12)


def test_predict_extrapolate_to_parse_run_fields(tmp_path):
    optimizer = ["--lr", "0.05", "--steps", "15", "--loss", "mse", "--timing-steps", "0"]
    extra = ["--extrapolate-to", "90", "--extrapolate-alpha", "0.1", "--out", str(tmp_path)]
    args = build_parser().parse_args(["predict", *TINY, *optimizer, *extra])
    job = predict_job_from_args(args)
    assert (job.extrapolate_to, job.extrapolate_alpha, job.extrapolate_k0) == (90, 0.1, None)
    report = run_predict(job)
    e = report.extrapolation
    assert (e.n0, e.n, e.spectral.alpha, e.spectral.k0) == (30, 90, 0.1, 9)
    assert report.prediction.n == 30 and len(e.loss_curve) == 16
    assert {"extrapolation.json", "extrapolation.png", "spectral.png"} <= set(os.listdir(tmp_path))
    with open(tmp_path / "extrapolation.json") as fh:
        saved = json.load(fh)
    assert saved["n"] == 90 and len(saved["spectral"]["eigenvalues"]) == 270
    table = render_predict(report, "table")
    assert "extrapolated to" in table and "N = 90 from N0 = 30" in table and "est. real run on N" in table
    summary = json.loads(render_predict(report, "json"))["extrapolation"]
    assert summary["final_loss"] == e.loss_curve[-1] and summary["exponent"] == pytest.approx(e.spectral.exponent)


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--extrapolate-to", "91"], "multiple of classes = 3"),
        (["--extrapolate-to", "15"], "below the subset's N0 = 30"),
        (["--extrapolate-to", "90", "--test-data", "5"], "not supported with --extrapolate-to"),
        (["--extrapolate-to", "90", "--extrapolate-alpha", "-1"], "extrapolate_alpha"),
    ],
)
def test_predict_extrapolate_bad_input_exits_2(tmp_path, capsys, flags, message):
    code = main(["predict", *TINY, "--steps", "3", *flags, "--out", str(tmp_path / "x")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_predict_mse_past_the_edge_says_it_is_predicted_at_the_edge(tmp_path):
    base = ["predict", *TINY, "--loss", "mse", "--steps", "20", "--timing-steps", "0", "--no-endpoint-check"]
    probe = run_predict(predict_job_from_args(build_parser().parse_args([*base, "--out", str(tmp_path / "a")])))
    lr = 3 * 2 / probe.prediction.sharpness
    args = build_parser().parse_args([*base, "--lr", repr(lr), "--out", str(tmp_path / "b")])
    report = run_predict(predict_job_from_args(args))
    assert report.prediction.edge_scale == pytest.approx(1 / 3)
    assert "predicted at the edge: lrs x 0.333" in render_predict(report, "table")
    assert json.loads(render_predict(report, "json"))["summary"]["edge_scale"] == pytest.approx(1 / 3)
    as_is = build_parser().parse_args(
        [*base, "--lr", repr(lr), "--above-edge", "diverge", "--out", str(tmp_path / "c")]
    )
    assert run_predict(predict_job_from_args(as_is)).prediction.edge_scale == 1.0
