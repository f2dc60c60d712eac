"""Would a check after k real steps catch what the trust signal misses? Scored offline from the cached suites.

The trust signal (edge, endpoint) is computed at init and misses three bad cases, all N = 100 runs whose error is
early (eps 40%, before step 10), where no endpoint threshold and no kernel-path reading separates them from good
runs. A check that needs training, but little: run the first k real steps and compare the real loss at step k with
the prediction's, g_k = |L_pred(k) - L_real(k)| / L_real(k). Each cached case holds both curves, so the check is
scored here without running anything, for the prediction ``--kernel-updates auto`` makes (``discrete+updates/auto``:
the updates without momentum, the frozen kernel with it; the expected curve).

The threshold G is set on the CALIBRATION suite by the rule the endpoint ratio R uses (benchmarks/trust_bands.py):
the geometric midpoint between the smallest g_k of a bad case (largest relative T_eps error above 25%) and the
largest g_k of a good case below it; then applied unchanged to the HELD-OUT suites. Printed per k: G, and on each
side the bad cases flagged by the check alone and by the check or the current signal, and the good cases flagged
(false alarms). k = 10 was chosen before scoring (the second kernel update of the auto schedule, where the misses'
error lies); 5 and 20 are printed beside it. Results in benchmarks/results/early_check.json.

    python benchmarks/early_check.py bench/results/paper --held-out bench/results/longer \\
        bench/results/unseen{,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20} \\
        bench/results/unseen{21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49} \\
        bench/results/{practice,plainsgd,mseedge}
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trust_bands import load_cases, midpoint_threshold  # the sibling script (benchmarks/ is on sys.path)

from trainless._io import write_json
from trainless.bench._run import BAD_CASE, UPDATED_AUTO, auto_comparison, trust_table

OUT = Path(__file__).resolve().parent / "results" / "early_check.json"
STEPS = (10, 5, 20)


def case_rows(suite: Path) -> list[dict]:
    """Per case of a suite: its largest relative T_eps error and current flags (auto), and both curves."""
    results = load_cases(suite)
    scored = {row["case_id"]: row for row in trust_table(results, UPDATED_AUTO)["rows"]}
    rows = []
    for r in results:
        comp = auto_comparison(r)
        if comp is None or r["case_id"] not in scored:
            continue
        row = scored[r["case_id"]]
        rows.append(
            {
                "suite": suite.name,
                "case_id": r["case_id"],
                "max_rel_error": row["max_rel_error"],
                "flags": row["flags"],
                "predicted": r["predictions"][comp["engine"]]["loss"],
                "real": r["record"]["loss"],
            }
        )
    return rows


def gap(row: dict, k: int) -> float:
    return abs(row["predicted"][k] - row["real"][k]) / row["real"][k]


def threshold(rows: list[dict], k: int) -> float | None:
    """G by the endpoint ratio's rule (trust_bands.midpoint_threshold), on g_k."""
    bad = [gap(r, k) for r in rows if r["max_rel_error"] > BAD_CASE]
    return midpoint_threshold(bad, [gap(r, k) for r in rows if r["max_rel_error"] <= BAD_CASE])


def score(rows: list[dict], k: int, g: float) -> dict:
    bad = [r for r in rows if r["max_rel_error"] > BAD_CASE]
    good = [r for r in rows if r["max_rel_error"] <= BAD_CASE]
    return {
        "cases": len(rows),
        "bad": len(bad),
        "bad_flagged_by_check": sum(gap(r, k) > g for r in bad),
        "bad_flagged_by_signal": sum(bool(r["flags"]) for r in bad),
        "bad_flagged_by_either": sum(gap(r, k) > g or bool(r["flags"]) for r in bad),
        "good_flagged_by_check": sum(gap(r, k) > g for r in good),
        "good_flagged_by_signal": sum(bool(r["flags"]) for r in good),
        "good_flagged_by_either": sum(gap(r, k) > g or bool(r["flags"]) for r in good),
        "signal_misses": [
            {"suite": r["suite"], "case_id": r["case_id"], "gap": gap(r, k)} for r in bad if not r["flags"]
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calibration", type=Path)
    ap.add_argument("--held-out", nargs="+", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    cal = case_rows(a.calibration)
    held = [row for d in a.held_out for row in case_rows(d)]
    report: dict = {"calibration": a.calibration.name, "held_out": [d.name for d in a.held_out], "by_k": {}}
    for k in STEPS:
        g = threshold(cal, k)
        report["by_k"][str(k)] = entry = {
            "threshold": g,
            "calibration": score(cal, k, g),
            "held_out": score(held, k, g),
        }
        for side in ("calibration", "held_out"):
            s = entry[side]
            print(
                f"k = {k:2d}  G = {g:.3f}  {side:11s} {s['cases']:3d} cases, {s['bad']:2d} bad: flagged by the check "
                f"{s['bad_flagged_by_check']}, by the signal {s['bad_flagged_by_signal']}, by either "
                f"{s['bad_flagged_by_either']}; false alarms: check {s['good_flagged_by_check']}, signal "
                f"{s['good_flagged_by_signal']}, either {s['good_flagged_by_either']} of {s['cases'] - s['bad']}"
            )
        for m in entry["held_out"]["signal_misses"]:
            print(f"         signal miss {m['suite']} {m['case_id'][:8]}: g_{k} = {m['gap']:.3f}")
    write_json(a.out, report)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
