"""Calibrate the trust signal on one benchmark suite, check it on another, and package its error bands.

The ``endpoint`` flag fires when the real network at the predicted final weights has more than R times the
predicted final loss. R is calibrated per mode (``frozen`` kernel, kernel ``updates``) on the CALIBRATION
suite's cases by a rule fixed before it is applied: among the cases whose largest relative T_eps error
exceeds 25% (bad) and that the stability-edge flag does not already catch, take the smallest endpoint ratio
r_bad; R is the geometric midpoint between r_bad and the largest ratio of a good case below it (the widest
margin that still flags every such bad case). The same R is then applied, unchanged, to the VALIDATION
suite (cases not used to choose R), and both suites' hit rates, false alarms and bands are reported. The
calibration suite's bands, R, its runs' lengths T (a prediction of another T says so: the endpoint ratio
depends on T) and the validation figures go to src/trainless/predict/trust_bands.json, which every prediction
reads; the full tables to benchmarks/results/trust_calibration.json.

Each mode's bands also carry which way its predictions miss, per regime (``trust_regime``: GD, SGD, SGD with
momentum, and the loss): of the calibration suite's (case, eps) pairs whose predicted and real T_eps differ, how
many the prediction reaches first (``direction``); a prediction quotes it. ``--direction-validation`` names more
suites (written before they ran) whose pooled counts go beside it (``validation_direction``), to show it holds, and
whose pooled error bands under the same R (``validation_band``: all of them and per regime) a prediction quotes
beside the calibration suite's. ``--closed-loop FILE ...`` packages the closed loop's bands, one file per regime
(written by ``benchmarks/closed_loop_held_out.py --bands-out``), as ``closed_loop`` keyed by regime, which a
closed-loop prediction of that regime quotes instead (a file written with ``--frozen``, the kernel frozen at w_k, as
``closed_loop_frozen``, which a closed-loop prediction asked to keep its kernel frozen quotes).

Over every suite given, each case once, the real runs past their stability edge at w0 are counted per regime and bin
of lr over the edge by what they did (converged, stalled, diverged: ``edge_outcomes``), which the edge warning of a
prediction past its edge quotes.

    python benchmarks/trust_bands.py bench/results/paper bench/results/unseen \
        --direction-validation bench/results/longer bench/results/unseen bench/results/unseen{2..56} \
        bench/results/{practice,plainsgd,mseedge} \
        --closed-loop benchmarks/results/closed_loop_bands_{momentum,sgd,gd,gd_frozen,sgd_frozen}.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from trainless._io import write_json
from trainless.bench._loss_band import loss_band_table, steps_band_table
from trainless.bench._run import BAD_CASE, UPDATED, direction_table, edge_outcome_table, result_regime, trust_table
from trainless.predict._trust import BANDS_FILE, EDGE_BINS, EDGE_OUTCOMES

RESULTS = Path(__file__).resolve().parent / "results" / "trust_calibration.json"
MODES = {"frozen": None, "updates": UPDATED}


def load_cases(suite_dir: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((suite_dir / "cases").glob("*.json"))]


def midpoint_threshold(bad: list[float], good: list[float]) -> float | None:
    """The rule of the module docstring on any signal that grows with the error: the geometric midpoint between the
    smallest value of a bad case and the largest value of a good case below it (just under the smallest bad value
    when no good value lies below); None without bad cases."""
    if not bad:
        return None
    v_bad = min(bad)
    below = [v for v in good if v < v_bad]
    return math.sqrt(max(below) * v_bad) if below else v_bad * (1 - 1e-9)


def calibrate(table: dict) -> float | None:
    """R from a table computed with no endpoint flag (threshold inf): the rule of the module docstring."""
    rows = [r for r in table["rows"] if r["endpoint_ratio"] is not None]
    bad = [r["endpoint_ratio"] for r in rows if r["max_rel_error"] > BAD_CASE and "edge" not in r["flags"]]
    return midpoint_threshold(bad, [r["endpoint_ratio"] for r in rows if r["max_rel_error"] <= BAD_CASE])


def brief_band(band: dict) -> str:
    p95 = "-" if band["p95"] is None else f"{band['p95']:.0%}"
    median = "-" if band["median"] is None else f"{band['median']:.0%}"
    return f"p95 {p95} median {median} ({band['cases']} cases)"


def brief(t: dict) -> dict:
    return {
        k: t[k] for k in ("cases", "bad_cases", "flagged", "hit_rate", "false_alarms", "band_unflagged", "band_flagged")
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calibration", type=Path, help="a `trainless bench` output directory (with cases/)")
    ap.add_argument("validation", type=Path, help="another suite's output directory, not used to choose R")
    ap.add_argument("--out", default=str(BANDS_FILE), help=f"where to write the bands (default {BANDS_FILE})")
    ap.add_argument(
        "--direction-validation", nargs="*", type=Path, default=[], help="suites pooled to check the direction figures"
    )
    ap.add_argument(
        "--closed-loop",
        type=Path,
        nargs="*",
        default=[],
        help="the closed loop's bands, one file per regime (benchmarks/closed_loop_held_out.py --bands-out), "
        "packaged as closed_loop keyed by regime (those written with --frozen as closed_loop_frozen)",
    )
    a = ap.parse_args()
    # each suite read once (a suite may be named twice: the validation suite among the pooled ones)
    loaded = {d.resolve(): load_cases(d) for d in (a.calibration, a.validation, *a.direction_validation)}
    cal, val = loaded[a.calibration.resolve()], loaded[a.validation.resolve()]
    pooled = [r for d in a.direction_validation for r in loaded[d.resolve()]]
    bands: dict = {
        "suite": a.calibration.name,
        "validation_suite": a.validation.name,
        "bad_case_threshold": BAD_CASE,
        # the run lengths R was measured at: a prediction of another T is told (the ratio depends on T)
        "steps": sorted({int(c["record"]["config"]["steps"]) for c in cal}),
        # the networks every band below was measured on: a prediction for another network is told
        "models": sorted({str(c["case"]["model"]) for d in (cal, val, pooled) for c in d}),
    }
    report: dict = {}
    thresholds: dict[str, float] = {}
    for mode, engine in MODES.items():
        ratio = calibrate(trust_table(cal, engine, threshold=math.inf))
        if ratio is None:
            continue
        thresholds[mode] = ratio
        t_cal, t_val = trust_table(cal, engine, threshold=ratio), trust_table(val, engine, threshold=ratio)
        t_old = {
            name: trust_table(c, engine, threshold=None) for name, c in (("calibration", cal), ("validation", val))
        }
        bands[mode] = {
            "endpoint_ratio": ratio,
            "flagged": t_cal["band_flagged"],
            "unflagged": t_cal["band_unflagged"],
            "hit_rate": t_cal["hit_rate"],
            "bad_cases": t_cal["bad_cases"],
            "false_alarms": t_cal["false_alarms"],
            "validation": brief(t_val),
            "direction": direction_table(cal, engine or "discrete"),
        }
        if pooled:
            suites = [d.name for d in a.direction_validation]
            bands[mode]["validation_direction"] = {"suites": suites, **direction_table(pooled, engine or "discrete")}
            # The same R on the suites written before they ran: the band a user's case is likelier to meet than the
            # calibration suite's (which R was chosen on), quoted beside it; per regime too, since under momentum
            # the updates' errors are several times plain GD's.
            by_regime: dict[str, list[dict]] = {}
            for r in pooled:
                by_regime.setdefault(result_regime(r), []).append(r)
            held = {"suites": suites}
            for name, results in (("all", pooled), *sorted(by_regime.items())):
                t = trust_table(results, engine, threshold=ratio)
                held[name] = {"flagged": t["band_flagged"], "unflagged": t["band_unflagged"]}
                print(
                    f"{mode:8s} held-out band {name:16s} flagged {brief_band(t['band_flagged'])}, "
                    f"unflagged {brief_band(t['band_unflagged'])}"
                )
            bands[mode]["validation_band"] = held
        for regime, row in sorted(bands[mode]["direction"].items()):
            check = bands[mode].get("validation_direction", {}).get(regime)
            other = f", validation {check['early']} of {check['pairs']}" if check else ""
            print(f"{mode:8s} direction {regime:18s} early {row['early']} of {row['pairs']}{other}")
        report[mode] = {
            "endpoint_ratio": ratio,
            "calibration": t_cal,
            "validation": t_val,
            "output_gap_rule": {k: brief(v) for k, v in t_old.items()},
        }
        for name, t in (
            ("calibration", t_cal),
            ("validation", t_val),
            *(("gap rule " + k, v) for k, v in t_old.items()),
        ):
            print(
                f"{mode:8s} {name:22s} R = {ratio:.3g}: {t['cases']} cases, {t['bad_cases']} bad, "
                f"flagged {t['flagged']}, hit rate {t['hit_rate']}, false alarms {t['false_alarms']}, "
                f"unflagged band {t['band_unflagged']}"
            )
    # What the real runs past their stability edge did, over every suite given (each case once): the counts the
    # edge warning quotes for a prediction's lr over its edge (trust_regime, EDGE_BINS).
    outcomes = edge_outcome_table([r for results in loaded.values() for r in results])
    bands["edge_outcomes"] = {
        "suites": sorted(d.name for d in loaded),
        "bins": list(EDGE_BINS),
        "outcomes": list(EDGE_OUTCOMES),
        "runs": outcomes,
    }
    for regime, rows in sorted(outcomes.items()):
        print(
            f"edge outcomes {regime:16s} "
            + "; ".join(
                f"bin {EDGE_BINS[i]:g}+: " + ", ".join(f"{row[o]} {o}" for o in EDGE_OUTCOMES)
                for i, row in enumerate(rows)
            )
        )
    # Where the real loss lay around the predictions, per trust cell, over every suite given (each case once), with
    # each suite checked against the band of the others: the loss band a prediction shows (predict.loss_band).
    bands["loss_band"] = loss_band_table({d.name: cases for d, cases in loaded.items()}, thresholds)
    for mode, regimes in sorted(bands["loss_band"]["cells"].items()):
        for regime, cells in sorted(regimes.items()):
            for key, cell in sorted(cells.items()):
                held = cell["held_out_coverage"]
                at_t = cell["held_out_coverage_at_T"]
                print(
                    f"loss band {mode:8s} {regime:16s} {key:9s} {cell['cases']:4d} runs, real / predicted at T "
                    f"{math.exp(cell['low'][-1]) if cell['low'][-1] is not None else 0:.3g}-"
                    f"{math.exp(cell['high'][-1]) if cell['high'][-1] is not None else math.inf:.3g}; "
                    f"held out suite by suite: " + ("-" if held is None else f"{held:.0%} inside (at T {at_t:.0%})")
                )
    # The same for the steps to the loss levels and the eps levels: the steps band a prediction shows
    # (predict.steps_band).
    bands["steps_band"] = steps_band_table({d.name: cases for d, cases in loaded.items()}, thresholds)
    for mode, regimes in sorted(bands["steps_band"]["cells"].items()):
        for regime, cells in sorted(regimes.items()):
            for key, cell in sorted(cells.items()):
                held = cell["held_out_coverage"]
                spans = ", ".join(
                    f"{t} {math.exp(b['low']):.2f}-{math.inf if b['high'] is None else math.exp(b['high']):.2f}x"
                    for t, b in cell["targets"].items()
                )
                print(
                    f"steps band {mode:8s} {regime:16s} {key:9s} {cell['cases']:4d} runs, real / predicted steps "
                    f"{spans}; held out suite by suite: " + ("-" if held is None else f"{held:.0%} inside")
                )
    if a.closed_loop:
        entries = [json.loads(f.read_text(encoding="utf-8")) for f in a.closed_loop]
        # the closed loop with the kernel frozen at w_k (closed_loop_held_out.py --frozen) is packaged apart
        keys = [
            ("closed_loop_frozen" if e.get("kernel_updates") == "none" else "closed_loop", e["regime"]) for e in entries
        ]
        if len(set(keys)) != len(keys):
            ap.error(f"--closed-loop: one file per regime and mode, got {keys}")
        for (key, regime), e in zip(keys, entries, strict=True):
            bands.setdefault(key, {})[regime] = e
    write_json(Path(a.out), bands)
    write_json(RESULTS, report)
    print(f"wrote {a.out} and {RESULTS}")


if __name__ == "__main__":
    main()
