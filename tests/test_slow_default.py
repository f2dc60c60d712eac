"""Slow tier (left out of CI): the README's main job, end to end on the embedded default."""

from __future__ import annotations

import json

import pytest

from trainless.cli import main


@pytest.mark.slow
def test_default_finetune_job(tmp_path, capsys):
    assert main(["finetune", "--out", str(tmp_path), "--format", "json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["status"] == "completed" and summary["steps_run"] == 150 and summary["n"] == 150
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["model"] == "efficientnet-lite0" and run["data"] == "mnist5k" and run["n"] == 150
    loss = run["loss"]
    assert len(loss) == 151 and loss[-1] < loss[0]
    assert (tmp_path / "curves.png").stat().st_size > 0


@pytest.mark.slow
def test_default_predict_job(tmp_path, capsys):
    # The README's quick start: the default prediction, with the real model and data.
    assert main(["predict", "--out", str(tmp_path), "--format", "json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["status"] == "completed" and summary["n"] == 150 and summary["steps"] == 150
    assert summary["kernel"] == "exact" and summary["num_trainable"] > 3_000_000
    assert summary["final_loss"] < summary["initial_loss"] and summary["estimated_run_seconds"] > 0
    pred = json.loads((tmp_path / "prediction.json").read_text())
    assert len(pred["loss"]) == 151 and len(pred["eigenvalues"]) == 750
    assert all(e["steps"] is not None for e in pred["eps_times"])
    # the default follows the kernel along the predicted path (kernel_updates="auto" at T = 150)
    assert pred["options"]["kernel_updates"] == [1, 10, 25, 50, 100] and len(pred["kernel_path"]) == 5
    # and, full batch without momentum, averages two weight paths (path_samples="auto")
    assert pred["options"]["path_samples"] == 2 and len(pred["path_losses"]) == 2
    assert (tmp_path / "prediction.png").stat().st_size > 0
    # the per-sample diagnosis is finite at the default lr, past the squared loss's edge in its top modes (it called
    # every sample unfitted there, 1e213 of the residual left, until it used gradient flow)
    left = pred["spectral"]["sample_left"]
    assert len(left) == 150 and all(0 <= v <= 1 for v in left)
    assert sum(t is not None for t in pred["spectral"]["sample_steps"]) > 0
