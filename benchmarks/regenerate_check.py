"""Does `trainless bench bench/suites/paper.toml` regenerate the committed results within noise?

Runs some of the suite's cases again from scratch (real fine-tuning and predictions, nothing cached) and
compares them with the committed case files under bench/results/paper/cases: the real loss curve, the
predicted loss curve of every engine, the relative T_eps errors and the timings. Curves are deterministic
on one machine (same seeds, same threads); timings are not.

    python benchmarks/regenerate_check.py --cases 0 6 12     # -> benchmarks/results/regenerate_check.csv
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from trainless._io import write_csv
from trainless.bench import load_suite, run_case

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", type=Path, default=ROOT / "bench" / "suites" / "paper.toml")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "paper" / "cases")
    ap.add_argument("--cases", type=int, nargs="+", default=[0, 6, 12], help="indices into the suite's cases")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "regenerate_check.csv")
    a = ap.parse_args()
    suite = load_suite(a.suite)
    rows = []
    for i in a.cases:
        case = suite.cases[i]
        committed = json.loads((a.results / f"{case.case_id}.json").read_text())
        t0 = time.perf_counter()
        fresh = run_case(case)
        seconds = time.perf_counter() - t0
        real_old, real_new = np.array(committed["record"]["loss"]), np.array(fresh["record"]["loss"])
        old_cmp = {c["engine"]: c for c in committed["comparisons"]}
        for comp in fresh["comparisons"]:
            engine = comp["engine"]
            if engine not in old_cmp:
                continue
            pred_key = engine.removesuffix("-paired")
            p_old = np.array(committed["predictions"][pred_key]["loss"])
            p_new = np.array(fresh["predictions"][pred_key]["loss"])
            rel_old = [e["relative_error"] for e in old_cmp[engine]["eps"] if e["basis"] == "loss"]
            rel_new = [e["relative_error"] for e in comp["eps"] if e["basis"] == "loss"]
            diffs = [abs(x - y) for x, y in zip(rel_old, rel_new, strict=True) if x is not None and y is not None]
            rows.append(
                {
                    "case": i,
                    "case_id": case.case_id,
                    "tag": case.tag,
                    "engine": engine,
                    "real_loss_max_rel_diff": float(np.max(np.abs(real_new - real_old) / np.abs(real_old))),
                    "pred_loss_max_rel_diff": float(np.max(np.abs(p_new - p_old) / np.abs(p_old))),
                    "rel_eps_error_max_abs_diff": max(diffs) if diffs else None,
                    "cost_ratio_committed": old_cmp[engine]["cost_ratio"],
                    "cost_ratio_fresh": comp["cost_ratio"],
                    "seconds": seconds,
                }
            )
            r = rows[-1]
            print(
                f"case {i:2d} {case.tag:10s} {engine:18s} real loss max rel diff {r['real_loss_max_rel_diff']:.2e}, "
                f"predicted {r['pred_loss_max_rel_diff']:.2e}, T_eps rel error diff {r['rel_eps_error_max_abs_diff']}, "
                f"cost ratio {r['cost_ratio_committed']:.1f}x -> {r['cost_ratio_fresh']:.1f}x"
            )
    write_csv(a.out, rows)


if __name__ == "__main__":
    main()
