"""CLI: parse, run, check fields; bad input exits 2 with a message naming the value."""

from __future__ import annotations

import json
import os

import pytest

from trainless.cli import build_parser, main
from trainless.cli._finetune import job_from_args, render_finetune, run_finetune

TINY = ["--model", "tiny-cnn", "--data", "digits", "--classes", "3", "--per-class", "10", "--no-progress"]


def test_parse_run_and_fields(tmp_path):
    args = build_parser().parse_args(
        [
            "finetune",
            *TINY,
            "--lr",
            "0.1",
            "--steps",
            "6",
            "--batch-size",
            "8",
            "--momentum",
            "0.9",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    job = job_from_args(args)
    assert job.finetune.batch_size == 8 and job.finetune.momentum == 0.9 and job.resolution is None
    report = run_finetune(job)
    assert report.resolution == 16
    assert report.record.n == 30 and report.record.steps_run == 6
    assert sorted(os.listdir(tmp_path / "run")) == ["curves.csv", "curves.png", "run.json"]
    with open(tmp_path / "run" / "curves.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    table = render_finetune(report, "table")
    assert "status" in table and "completed" in table
    summary = json.loads(render_finetune(report, "json"))["summary"]
    assert summary["steps_run"] == 6 and summary["final_loss"] == report.record.final_loss


def test_main_json_output(tmp_path, capsys):
    assert main(["finetune", *TINY, "--steps", "3", "--out", str(tmp_path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["status"] == "completed"
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["config"]["steps"] == 3 and len(saved["loss"]) == 4


@pytest.mark.parametrize("command", ["models", "datasets"])
def test_listings(command, capsys):
    assert main([command, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [x["name"] for x in out[command]]
    models = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "tiny-cnn"]
    assert names == (models if command == "models" else ["mnist5k", "digits", "photos"])
    assert main([command]) == 0
    assert names[0] in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "resnet-9000"], "unknown model 'resnet-9000'"),
        (["--data", "cifar10"], "unknown dataset 'cifar10'"),
        (["--model", "nope_xyz:f"], "module 'nope_xyz' does not import"),
        (["--model", "factories:not_a_module"], "must return a torch.nn.Module, got str"),
        (["--classes", "11"], "classes=11 but digits has only 10 classes"),
        (["--per-class", "400"], "per_class=400 but class"),
        (["--lr", "0"], "FinetuneConfig.lr must be a number in (0, inf), got 0.0"),
        (["--lr", "-1"], "got -1.0"),
        (["--momentum", "1"], "FinetuneConfig.momentum must be a number in [0, 1), got 1.0"),
        (["--weight-decay", "-0.1"], "FinetuneConfig.weight_decay must be a number in [0, inf), got -0.1"),
        (["--batch-size", "0"], "FinetuneConfig.batch_size must be an integer in [1, inf) or None, got 0"),
        (["--batch-size", "31"], "batch_size must be in [1, 30] (the number of training samples), got 31"),
        (["--steps", "0"], "FinetuneConfig.steps must be an integer in [1, inf), got 0"),
        (["--data", "factories:blobs_with_nan", "--model", "factories:mlp"], "contains NaN or inf"),
        (["--model", "factories:frozen_mlp", "--data", "factories:blobs"], "has no trainable parameters"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(extra, message, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["finetune", *TINY, *extra, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert not out.exists() or os.listdir(out) == []


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["finetune", *TINY, "--out", str(blocker / "sub")]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_interrupted_write_leaves_nothing(tmp_path):
    from trainless._io import write_with

    def fail(tmp):
        tmp.write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(tmp_path / "run.json", fail)
    assert os.listdir(tmp_path) == []


def test_write_csv_header_from_the_first_row_or_given(tmp_path):
    from trainless._io import write_csv

    rows = [{"a": 1, "b": 0.5}, {"a": 2, "b": None}]
    text = write_csv(tmp_path / "x.csv", rows)
    assert text == "a,b\n1,0.5\n2,\n" and (tmp_path / "x.csv").read_text() == text
    assert write_csv(tmp_path / "y.csv", rows, ["b", "a"]) == "b,a\n0.5,1\n,2\n"
    assert sorted(os.listdir(tmp_path)) == ["x.csv", "y.csv"]


def test_module_entry_point():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "trainless", "models"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "efficientnet-lite0" in proc.stdout


def test_one_seed_sets_the_head_init_and_the_batch_order():
    import torch

    from trainless import load_model
    from trainless.cli._finetune import load_problem

    job = job_from_args(build_parser().parse_args(["finetune", *TINY, "--seed", "7", "--batch-size", "4"]))
    assert job.finetune.seed == 7 and not hasattr(job, "seed")
    model, data, config, _, _ = load_problem(job)
    same = load_model("tiny-cnn", data.num_classes, seed=7)
    other = load_model("tiny-cnn", data.num_classes, seed=8)
    head = dict(model.module.named_parameters())
    assert all(torch.equal(p, head[k]) for k, p in same.module.named_parameters())
    assert not all(torch.equal(p, head[k]) for k, p in other.module.named_parameters())
    assert config.seed == 7
