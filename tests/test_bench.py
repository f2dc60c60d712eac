"""Benchmark suites: parsing, a real (quick) suite run end to end, caching, the extrapolation baseline."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from trainless.bench import (
    UPDATED,
    Case,
    extrapolate,
    load_suite,
    parse_suite,
    run_case,
    run_suite,
    steps_to_match,
)
from trainless.cli import main
from trainless.cli._bench import BenchJob
from trainless.errors import ConfigError, TrainlessError
from trainless.finetune import RunRecord
from trainless.predict import FLOW_EDGE_RATIO, endpoint_threshold

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "bench" / "suites" / "quick.toml"


def test_grid_blocks_expand_as_products_over_defaults():
    doc = {
        "defaults": {"model": "tiny-cnn", "data": "digits", "steps": 5, "engines": ["discrete", "ode"]},
        "grid": [{"lr": [0.1, 0.2], "data_seed": [0, 1, 2], "tag": "a"}, {"batch_size": [4], "lr": 0.1}],
        "case": [{"lr": 0.1}, {"lr": 0.1}],  # a duplicate is kept once
    }
    suite = parse_suite(doc, "t")
    assert len(suite.cases) == 6 + 1 + 1
    assert {c.engines for c in suite.cases} == {("discrete", "ode")}
    assert {c.lr for c in suite.cases if c.tag == "a"} == {0.1, 0.2}
    assert len({c.case_id for c in suite.cases}) == 8


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"case": [{"lr": 0.1, "learning_rate": 1}]}, "unknown case field(s) ['learning_rate']"),
        ({"case": [{"lr": 0.1, "lr_edge": 0.5}]}, "give exactly one of lr and lr_edge"),
        ({"case": [{"lr": -1.0}]}, "Case.lr must be a number in (0, inf) or None, got -1.0"),
        ({"case": [{"engines": ["euler"]}]}, "Case.engines"),
        ({"grid": []}, "has no cases"),
        ({"cases": []}, "unknown section(s) ['cases']"),
    ],
)
def test_bad_suites_are_rejected_with_the_reason(doc, fragment):
    with pytest.raises((TrainlessError, ConfigError)) as info:
        parse_suite(doc, "bad")
    assert fragment in str(info.value)


def test_suite_files_load_and_bad_files_are_named(tmp_path):
    assert len(load_suite(QUICK).cases) == 7
    assert len(load_suite(ROOT / "bench" / "suites" / "paper.toml").cases) == 31
    with pytest.raises(TrainlessError, match="does not exist"):
        load_suite(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[defaults\n")
    with pytest.raises(TrainlessError, match="not valid TOML"):
        load_suite(tmp_path / "bad.toml")


def test_drop_last_reaches_the_real_run_and_leaves_cached_ids_alone():
    # Results cached before the field existed keep their ids (their case dicts lack it).
    cached = sorted((ROOT / "bench" / "results" / "unseen59" / "cases").glob("*.json"))
    assert cached
    for path in cached:
        r = json.loads(path.read_text())
        assert Case.from_dict(r["case"]).case_id == r["case_id"] == path.stem
    base = {"model": "tiny-cnn", "data": "digits", "classes": 3, "per_class": 5, "steps": 6, "batch_size": 4}
    kept, dropped = (Case.from_dict({**base, "drop_last": d}) for d in (False, True))
    assert kept.case_id != dropped.case_id and kept.run_key != dropped.run_key
    assert Case.from_dict(base).case_id == kept.case_id
    with pytest.raises(ConfigError, match="Case.drop_last"):
        Case.from_dict({**base, "drop_last": "yes"})
    r = run_case(dropped)
    assert RunRecord.from_dict(r["record"]).config.drop_last is True
    assert all(pred["config"]["drop_last"] is True for pred in r["predictions"].values())  # predicted alike
    assert {len(b) for b in r["record"]["batches"]} == {4}  # 15 samples: the short batch of 3 never drawn
    assert Case.from_dict(r["case"]).case_id == dropped.case_id


@pytest.mark.parametrize("path", sorted((ROOT / "bench" / "suites").glob("*.toml")), ids=lambda p: p.stem)
def test_every_committed_suite_loads(path):
    suite = load_suite(path)
    assert suite.name == path.stem and suite.cases
    assert len({case.case_id for case in suite.cases}) == len(suite.cases)  # no case twice


def test_quick_suite_runs_end_to_end_and_resumes(tmp_path, capsys):
    out = tmp_path / "quick"
    assert main(["bench", str(QUICK), "--out", str(out), "--format", "json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    for key in (
        "cases",
        "gd_rel_error_median",
        "gd_rel_error_p95",
        "sgd_rel_error_median",
        "sgd_rel_error_p95",
        "cost_ratio_gd_median",
        "cost_ratio_sgd_median",
        "abs_steps_rel_error_median",
        "final_loss_rel_error_median",
        "sgd_band_coverage_median",
        "loss_band_coverage_median",
        "steps_band_inside",
    ):
        assert key in summary, key
    assert summary["cases"] == summary["cases_compared"] == 7
    assert json.loads((out / "summary.json").read_text()) == summary
    rows = list(csv.DictReader((out / "results.csv").open()))
    cases = sorted((out / "cases").glob("*.json"))
    assert len(cases) == 7
    expected = 0
    for path in cases:
        r = json.loads(path.read_text())
        expected += len(r["comparisons"]) * 2 * len(r["case"]["eps"])
        assert r["predictions"].keys() == set(r["case"]["engines"])
        assert r["record"]["loss"][0] == pytest.approx(r["predictions"][r["case"]["engines"][0]]["loss"][0], rel=1e-5)
    assert len(rows) == expected
    # The SGD band's coverage of the real run: on the expected curve of minibatch cases only, and the same when
    # computed afresh from a cached result that predates the field.
    from trainless.bench._run import with_band_coverage

    for r in map(json.loads, (p.read_text() for p in cases)):
        for comp in r["comparisons"]:
            # A band exists where the prediction spreads over batch orders or noise paths: not the ODE's one curve.
            spread = comp["engine"].split("@")[0] in ("discrete", "discrete+updates", "sde")
            minibatch = r["case"]["batch_size"] > 0 and comp["curve"] == "expected" and spread
            cov = comp["band_coverage"]
            assert (cov is not None and 0.0 <= cov <= 1.0) if minibatch else cov is None, (comp["engine"], cov)
        bare = [{k: v for k, v in c.items() if k != "band_coverage"} for c in r["comparisons"]]
        stripped = {**r, "comparisons": bare}
        assert with_band_coverage(stripped)["comparisons"] == r["comparisons"]
    assert summary["sgd_band_cases"] > 0
    # The benchmark's own steps band against each real run's steps, as the comparison counts them.
    from trainless.bench._compare import steps_band_hit

    checked = 0
    for r in map(json.loads, (p.read_text() for p in cases)):
        for comp in r["comparisons"]:
            real = {("level", lv["level"]): lv["real"] for lv in comp["levels"]}
            real |= {("eps", e["eps"]): e["real"] for e in comp["eps"] if e["basis"] == "loss"}
            for b in comp["steps_band"]:
                assert b["real"] == real[(b["target"], b["value"])]
                assert b["inside"] == steps_band_hit(b["low"], b["high"], b["real"])
                checked += 1
            assert comp["steps_band"] == [] or comp["curve"] == "expected"
    with_bands = {mode: f for mode, f in summary["modes"].items() if f["steps_band_pairs"]}
    assert checked == sum(f["steps_band_pairs"] for f in with_bands.values()) > 0
    assert all(0.0 <= f["steps_band_inside"] <= 1.0 for f in with_bands.values())
    assert {r["engine"] for r in rows} >= {"discrete", "ode", "sde", "discrete-paired", "closed-form"}
    edge = next(r for r in map(json.loads, (p.read_text() for p in cases)) if r["case"]["tag"] == "mse-edge")
    assert edge["lr"] == pytest.approx(0.3 * edge["edge_lr"])
    assert edge["edge_lr"] == pytest.approx(2 * edge["n"] / edge["lambda_max"])
    for name in ("report.md", "scatter.png", "cost_ratio.png", "error_vs.png", "overlays.png"):
        assert (out / name).stat().st_size > 0, name
    assert f"updates: its loss above {endpoint_threshold('updates'):.3g}x" in (out / "report.md").read_text()
    stamps = {p.name: p.stat().st_mtime_ns for p in cases}
    assert main(["bench", str(QUICK), "--out", str(out), "--no-progress"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in sorted((out / "cases").glob("*.json"))} == stamps  # cached
    table = capsys.readouterr().out
    assert all(f"bands ({mode})" in table for mode in with_bands) and "the real steps inside its steps band at" in table

    # A partial report of what is cached runs nothing.
    partial = tmp_path / "partial"
    (partial / "cases").mkdir(parents=True)
    first = sorted(cases)[0]
    (partial / "cases" / first.name).write_text(first.read_text())
    assert main(["bench", str(QUICK), "--out", str(partial), "--cached-only", "--format", "json", "--no-progress"]) == 0
    part = json.loads(capsys.readouterr().out)["summary"]
    assert part["cases"] == 1 and part["suite_cases"] == 7 and len(list((partial / "cases").iterdir())) == 1
    # The suite with kernel updates and the kernel ablation, re-predicted: new case ids, the real runs
    # reused, not run again.
    updated = tmp_path / "quick_updates.toml"
    extra = 'batch_orders = 4\nkernel_updates = [5, 10]\nkernels = ["exact", "pseudo"]'
    updated.write_text(QUICK.read_text().replace("batch_orders = 4", extra))

    def run_of(r):
        run = {k: v for k, v in r["case"].items() if k not in ("kernel_updates", "kernels")}
        return json.dumps(run, sort_keys=True)

    records = {run_of(r): r["record"] for r in map(json.loads, (p.read_text() for p in cases))}
    assert main(["bench", str(updated), "--out", str(out), "--repredict", "--format", "json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    for mode in ("discrete+updates", "discrete@exact", "discrete@pseudo"):
        assert summary["modes"][mode]["cases"] == 7, mode
    new = [p for p in (out / "cases").glob("*.json") if p.name not in stamps]
    assert len(new) == 7
    for r in map(json.loads, (p.read_text() for p in new)):
        assert r["record"] == records[run_of(r)]  # reused: the same timings
        upd = r["predictions"]["discrete+updates"]
        assert [row["step"] for row in upd["kernel_path"]] == [5, 10]
        assert upd["endpoint"] is not None and upd["loss"][:6] == r["predictions"]["discrete"]["loss"][:6]
        # The ablation's exact kernel is the default prediction again; the pseudo-NTK is another kernel.
        default, pseudo = r["predictions"]["discrete"], r["predictions"]["discrete@pseudo"]
        assert r["predictions"]["discrete@exact"]["loss"] == pytest.approx(default["loss"], rel=1e-9)
        assert pseudo["options"]["kernel"]["method"] == "pseudo"
        assert pseudo["loss"][0] == pytest.approx(default["loss"][0], rel=1e-9)
        assert pseudo["loss"][-1] != pytest.approx(default["loss"][-1], rel=1e-3)
    # Only the updated predictions made again: the others, their comparisons' order and the baseline kept.
    before = {p.name: json.loads(p.read_text()) for p in new}
    argv = ["bench", str(updated), "--out", str(out), "--repredict", "--only", UPDATED, "--no-progress"]
    assert main(argv) == 0
    for name, old in before.items():
        r = json.loads((out / "cases" / name).read_text())
        assert [c["engine"] for c in r["comparisons"]] == [c["engine"] for c in old["comparisons"]]
        assert r["baseline"] == old["baseline"] and r["record"] == old["record"]
        for key, pred in r["predictions"].items():
            assert (pred == old["predictions"][key]) == (key != UPDATED), key  # remade: a new timing
        assert r["predictions"][UPDATED]["loss"] == pytest.approx(old["predictions"][UPDATED]["loss"], rel=1e-9)
    # A key no case has: nothing made again, no cached file rewritten.
    stamps = {p.name: p.stat().st_mtime_ns for p in new}
    assert (
        main(["bench", str(updated), "--out", str(out), "--repredict", "--only", "discrete@none", "--no-progress"]) == 0
    )
    assert {p.name: p.stat().st_mtime_ns for p in new} == stamps
    with pytest.raises(ConfigError, match="needs repredict"):
        BenchJob(suite=str(updated), only=(UPDATED,))
    # One case chosen by its id's prefix: only its file is rewritten; a prefix naming no case is refused first.
    first = sorted(new)[0]
    argv = ["bench", str(updated), "--out", str(out), "--repredict", "--only", UPDATED, "--no-progress"]
    assert main([*argv, "--cases", first.stem[:6]]) == 0
    assert {p.name for p in new if p.stat().st_mtime_ns != stamps[p.name]} == {first.name}
    stamps = {p.name: p.stat().st_mtime_ns for p in new}
    with pytest.raises(TrainlessError, match=r"cases \['000000000000'\] name no case of suite"):
        run_suite(load_suite(updated), out, repredict=True, cases=("000000000000",))
    with pytest.raises(ConfigError, match="a case-id prefix"):
        BenchJob(suite=str(updated), cases=("case-1",))
    # New kernel-update steps with only the updates made again: new case ids, the earlier versions' other
    # predictions, comparisons and baseline carried over, the earlier files left in place.
    moved = tmp_path / "quick_moved.toml"
    moved.write_text(updated.read_text().replace("kernel_updates = [5, 10]", "kernel_updates = [1, 5, 10]"))
    argv = ["bench", str(moved), "--out", str(out), "--repredict", "--only", UPDATED, "--no-progress"]
    had = {p.name for p in (out / "cases").glob("*.json")}
    assert main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in new} == stamps
    renamed = [p for p in (out / "cases").glob("*.json") if p.name not in had]
    assert len(renamed) == 7
    old_by_run = {run_of(json.loads(p.read_text())): json.loads(p.read_text()) for p in new}
    for r in map(json.loads, (p.read_text() for p in renamed)):
        old = old_by_run[run_of(r)]
        assert r["case"]["kernel_updates"] == [1, 5, 10] and r["case_id"] == Case.from_dict(r["case"]).case_id
        assert [row["step"] for row in r["predictions"][UPDATED]["kernel_path"]] == [1, 5, 10]
        assert r["predictions"][UPDATED]["loss"] != old["predictions"][UPDATED]["loss"]
        assert r["record"] == old["record"] and r["baseline"] == old["baseline"]
        for key in ("discrete", "discrete@exact", "discrete@pseudo"):
            assert r["predictions"][key] == old["predictions"][key], key
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["engine"] for r in rows} >= {"discrete", "discrete+updates", "discrete@pseudo"}
    assert all(r["edge_ratio"] and r["output_gap"] for r in rows)
    # One prediction of a cached case made again alone (benchmarks that re-score one mode use this).
    r = json.loads(new[0].read_text())
    cached = RunRecord.from_dict(r["record"])
    again = run_case(
        Case.from_dict(r["case"]), record=cached, only=frozenset({UPDATED}), overrides={"endpoint_warning": 0.9}
    )
    assert again["predictions"].keys() == {UPDATED} and [c["engine"] for c in again["comparisons"]] == [UPDATED]
    assert again["predictions"][UPDATED]["options"]["endpoint_warning"] == 0.9
    assert again["predictions"][UPDATED]["loss"] == pytest.approx(r["predictions"][UPDATED]["loss"], rel=1e-9)
    assert again["record"] == r["record"]


def test_extrapolation_recovers_its_own_forms():
    t = np.arange(151.0)
    exp_curve = 0.2 + 1.5 * np.exp(-0.03 * t)
    fit = extrapolate(exp_curve[:30], 150)
    assert fit is not None and np.max(np.abs(fit - exp_curve)) < 1e-4
    power_curve = 0.1 + 2.0 * (t + 1.0) ** -0.7
    fit = extrapolate(power_curve[:30], 150)
    assert fit is not None and np.max(np.abs(fit - power_curve)) < 1e-3
    k, errors = steps_to_match(exp_curve, [0.01, 0.1, 0.4], 0.0)
    assert k is not None and k <= 10 and errors[k] == 0.0
    # A curve whose late phase is not in its first steps is not matched early.
    kink = np.where(t < 50, 2.0 - 0.01 * t, 1.5 - 1.4 * (1 - np.exp(-0.05 * (t - 50))))
    k2, _ = steps_to_match(kink, [0.01, 0.1], 0.02)
    assert k2 is None or k2 > 50
    assert extrapolate([1.0, math.nan, 0.5, 0.4], 10) is None


def test_merge_predictions_replaces_only_the_keys_made_again():
    from trainless.bench._run import merge_predictions

    def comp(engine, tag):
        return {"engine": engine, "tag": tag}

    cached = {
        "case_id": "c",
        "predictions": {"discrete": "old-d", UPDATED: "old-u", "ode": "old-o"},
        "comparisons": [
            comp("discrete", "old"),
            comp("discrete-paired", "old"),
            comp(UPDATED, "old"),
            comp("ode", "old"),
        ],
        "baseline": {"steps_to_match": 3},
    }
    fresh = {
        "predictions": {UPDATED: "new-u"},
        "comparisons": [comp(UPDATED, "new")],
        "baseline": {"steps_to_match": 9},
    }
    merged = merge_predictions(cached, fresh, {UPDATED})
    assert merged["predictions"] == {"discrete": "old-d", UPDATED: "new-u", "ode": "old-o"}
    assert [(c["engine"], c["tag"]) for c in merged["comparisons"]] == [
        ("discrete", "old"),
        ("discrete-paired", "old"),
        (UPDATED, "new"),
        ("ode", "old"),
    ]
    assert merged["baseline"] == {"steps_to_match": 3}  # the default engine was not made again
    # The default engine made again: its paired comparison and the baseline follow it.
    fresh = {
        "predictions": {"discrete": "new-d"},
        "comparisons": [comp("discrete", "new"), comp("discrete-paired", "new")],
        "baseline": {"steps_to_match": 9},
    }
    merged = merge_predictions(cached, fresh, {"discrete"})
    assert [c["tag"] for c in merged["comparisons"]] == ["new", "new", "old", "old"]
    assert merged["baseline"] == {"steps_to_match": 9} and cached["baseline"] == {"steps_to_match": 3}


def test_a_prediction_that_never_reaches_eps_is_scored_not_dropped():
    from trainless.bench import MISSED_EPS_ERROR, scored_eps_errors
    from trainless.bench._run import _figures
    from trainless.report._bench import regime_table

    def row(basis, predicted, real, rel):
        return {"eps": 0.1, "basis": basis, "predicted": predicted, "real": real, "relative_error": rel}

    diverged = {
        "engine": "discrete",
        "eps": [
            row("loss", 11, 10, 0.1),
            row("loss", None, 20, None),  # the real run gets there, the prediction never does
            row("loss", 7, None, None),  # the real run never gets there: nothing to score
            row("loss", None, None, None),
            row("loss", None, 0, None),  # T_real = 0: no relative error exists
            row("error", None, 30, None),
        ],
        "levels": [],
        "cost_ratio": 2.0,
        "final_loss_relative_error": 0.5,
    }
    assert scored_eps_errors(diverged) == [0.1, MISSED_EPS_ERROR]
    assert scored_eps_errors(diverged, "error") == [MISSED_EPS_ERROR]
    figures = _figures([("gd", diverged)])
    assert figures["gd_rel_error_p95"] == pytest.approx(0.1 + 0.95 * (MISSED_EPS_ERROR - 0.1))
    assert figures["gd_error_basis_rel_error_median"] == MISSED_EPS_ERROR
    table = regime_table([{"case": {"tag": "gd-mse"}, "comparisons": [diverged]}])
    assert "| gd-mse | discrete | 1 | 55% | 96% | 50% |" in table


def test_the_auto_mode_scores_updates_without_momentum_and_under_it_the_guarded_flow():
    from trainless.bench import UPDATED, UPDATED_AUTO, auto_comparison, summarize
    from trainless.predict import PredictConfig, resolve_path_samples

    def comp(engine, rel, curve="expected"):
        row = {"eps": 0.1, "basis": "loss", "predicted": 10, "real": 10, "relative_error": rel}
        return {
            "engine": engine,
            "curve": curve,
            "eps": [row],
            "levels": [],
            "cost_ratio": 2.0,
            "final_loss_relative_error": rel,
            "band_coverage": None,
        }

    def result(case_id, momentum, errors, path="own", steps=150):
        engines = ("discrete", "discrete-paired", UPDATED)
        pred = {"options": {"endpoint_warning": 0.5}, "edge_ratio": 0.1, "kernel_path": [], "endpoint": None}
        updated = {**pred, "options": {**pred["options"], "update_path": path}}
        return {
            "case_id": case_id,
            "n": 50,
            "case": {"tag": "t", "steps": steps, "batch_size": 8, "momentum": momentum, "loss": "ce"},
            "predictions": {"discrete": pred, "discrete-paired": pred, UPDATED: updated},
            "comparisons": [
                comp(e, x, "paired" if e.endswith("paired") else "expected")
                for e, x in zip(engines, errors, strict=True)
            ],
            "baseline": {"steps_to_match": None},
        }

    plain, heavy = result("a", 0.0, (0.4, 0.5, 0.1)), result("b", 0.9, (0.2, 0.3, 0.9), path="flow")
    assert auto_comparison(plain)["engine"] == UPDATED and auto_comparison(heavy)["engine"] == "discrete"
    # under momentum without a short last batch (50 at batch 10) the flow's prediction where its largest edge ratio
    # (w0 or the path) is at most FLOW_EDGE_RATIO; 50 at batch 8 ends each epoch in a batch of 2: the frozen kernel
    even = {**heavy, "case": {**heavy["case"], "batch_size": 10}}
    assert auto_comparison(even)["engine"] == UPDATED
    assert auto_comparison({**even, "case": {**even["case"], "drop_last": False}})["engine"] == UPDATED
    dropped = {**heavy, "case": {**heavy["case"], "drop_last": True}}
    assert auto_comparison(dropped)["engine"] == UPDATED
    # a kernel the flow grew past the line
    grown = {**even["predictions"][UPDATED], "kernel_path": [{"step": 1, "edge_ratio": FLOW_EDGE_RATIO + 0.1}]}
    assert auto_comparison({**even, "predictions": {**even["predictions"], UPDATED: grown}})["engine"] == "discrete"
    mse = {**even, "case": {**even["case"], "loss": "mse"}}  # never measured with momentum: the frozen kernel
    assert auto_comparison(mse)["engine"] == "discrete"
    # under momentum with 90% of the penultimate features zero at init (recorded by the prediction) auto updates
    for share, engine in ((0.95, UPDATED), (0.5, "discrete")):
        recorded = {**heavy["predictions"], UPDATED: {**heavy["predictions"][UPDATED], "inactive_share": share}}
        assert auto_comparison({**heavy, "predictions": recorded})["engine"] == engine
    assert auto_comparison({**plain, "comparisons": plain["comparisons"][:2]}) is None  # no updates made
    # the auto schedule makes none on a one-step run: the frozen prediction is what the user gets
    assert auto_comparison(result("c", 0.0, (0.4, 0.5, 0.1), steps=1))["engine"] == "discrete"
    # an updated prediction cached along another path than the default takes is stale
    with pytest.raises(TrainlessError, match="case d: .* taken along the 'flow' path, the default now takes 'own'"):
        auto_comparison(result("d", 0.0, (0.2, 0.3, 0.9), path="flow"))
    # full batch at 85-90% zero the default halves the schedule: a prediction made on the case's own is stale
    gd = result("e", 0.0, (0.4, 0.5, 0.1))
    gd["case"] = {**gd["case"], "batch_size": 0, "kernel_updates": [1, 10, 25, 50, 100]}
    for steps, fine in (((1, 10, 25, 50, 100), False), ((1, 6, 10, 18, 25, 38, 50, 75, 100, 125), True)):
        made = gd["predictions"][UPDATED]
        made = {**made, "inactive_share": 0.87, "options": {**made["options"], "kernel_updates": list(steps)}}
        case = {**gd, "predictions": {**gd["predictions"], UPDATED: made}}
        if fine:
            assert auto_comparison(case)["engine"] == UPDATED
        else:
            with pytest.raises(TrainlessError, match="case e: .* halves the schedule there .* make it again"):
                auto_comparison(case)
    # a prediction averaged over another number of weight paths than the default's is stale (one path where none moved)
    want = resolve_path_samples(PredictConfig().path_samples, 0.0, 8)
    for stride, samples, fine in ((5, want, True), (5, want + 1, False), (None, 1, True), (None, want + 1, False)):
        made = plain["predictions"][UPDATED]
        made = {**made, "options": {**made["options"], "path_stride": stride, "path_samples": samples}}
        case = {**plain, "predictions": {**plain["predictions"], UPDATED: made}}
        if fine:
            assert auto_comparison(case)["engine"] == UPDATED
        else:
            with pytest.raises(TrainlessError, match=f"case a: .* averaged {samples} weight paths, the default"):
                auto_comparison(case)
    s = summarize([plain, heavy])
    assert s["modes"][UPDATED_AUTO]["cases"] == 2
    assert s["modes"][UPDATED_AUTO]["sgd_rel_error_median"] == pytest.approx(0.15)  # 0.1 and 0.2
    assert s["modes"][UPDATED]["sgd_rel_error_median"] == pytest.approx(0.5)  # 0.1 and 0.9
    rows = {row["case_id"]: row["max_rel_error"] for row in s["trust_updates_auto"]["rows"]}
    assert rows == {"a": 0.1, "b": 0.2}


def test_band_coverage_counts_the_steps_inside_the_band_after_the_start():
    from trainless.bench._compare import band_coverage

    low, high = [1.0, 0.5, 0.5, 0.5, 0.5], [1.0, 0.7, 0.7, 0.7, 0.7]
    # inside at steps 1 and 4 (the edge counts), above at 2, below at 3; step 0 is not counted
    assert band_coverage(low, high, [9.0, 0.6, 0.8, 0.4, 0.7]) == 0.5
    assert band_coverage(low, low, [1.0, 0.5, 0.5, 0.5, 0.5]) is None  # one curve (full batch): no band
    with pytest.raises(TrainlessError, match="one length, got 5, 5, 4"):
        band_coverage(low, high, [1.0, 0.6, 0.6, 0.6])


def test_steps_band_hit_holds_the_real_steps_and_never_only_when_unbounded():
    from trainless.bench._compare import steps_band_hit

    assert steps_band_hit(5, 9, 5) and steps_band_hit(5, 9, 9) and not steps_band_hit(5, 9, 10)
    assert not steps_band_hit(5, 9, 4) and steps_band_hit(5, None, 400)
    # a real run that never got there: outside a finite band, inside an unbounded one
    assert not steps_band_hit(5, 9, None) and steps_band_hit(5, None, None)


def test_an_lr_edge_case_recognizes_its_cached_run_across_float32_noise_in_lambda_max():
    import dataclasses

    from trainless.bench._run import EDGE_LR_RTOL

    case = next(c for c in load_suite(QUICK).cases if c.lr_edge is not None)
    case = dataclasses.replace(case, engines=("discrete",), batch_orders=1)
    first = run_case(case)
    record = RunRecord.from_dict(first["record"])
    # lambda_max of a kernel computed again may move in its last float32 bits: that lr is still the cached run's
    nudged = dataclasses.replace(record, config=dataclasses.replace(record.config, lr=record.config.lr * (1 + 3e-8)))
    again = run_case(case, record=nudged)
    assert again["predictions"]["discrete"]["config"]["lr"] == nudged.config.lr  # predicted at the run's own lr
    assert again["record"]["loss"] == first["record"]["loss"]
    # a run at another lr is not
    other = dataclasses.replace(record, config=dataclasses.replace(record.config, lr=record.config.lr * (1 + 1e-3)))
    assert 1e-3 > EDGE_LR_RTOL
    with pytest.raises(TrainlessError, match="is not the case's"):
        run_case(case, record=other)


def test_update_kernel_makes_the_updates_alone_and_leaves_cached_ids_alone():
    base = {"model": "tiny-cnn", "data": "digits", "classes": 3, "per_class": 4, "steps": 6, "kernel_updates": [2, 4]}
    exact, sketched = (Case.from_dict({**base, "update_kernel": m}) for m in ("", "countsketch"))
    assert Case.from_dict(base).case_id == exact.case_id  # unset: the id of a case cached before the field
    assert sketched.case_id != exact.case_id and sketched.run_key == exact.run_key  # same real run
    with pytest.raises(ConfigError, match="Case.update_kernel"):
        Case.from_dict({**base, "update_kernel": "fast"})
    with pytest.raises(ConfigError, match="give kernel_updates too"):
        Case.from_dict({**base, "kernel_updates": [], "update_kernel": "countsketch"})
    with pytest.raises(ConfigError, match="Case.update_kernel must be pseudo exactly when kernel is"):
        Case.from_dict({**base, "update_kernel": "pseudo"})
    r = run_case(sketched)
    assert r["predictions"][UPDATED]["options"]["update_kernel"]["method"] == "countsketch"
    assert r["predictions"]["discrete"]["options"]["update_kernel"] is None  # the frozen prediction: untouched
    assert r["predictions"]["discrete"]["kernel"]["method"] == "exact"
    assert r["predictions"]["discrete"]["kernel"]["column_groups"] >= 1
