"""How well each signal a prediction carries separates the bad full-batch GD runs from the good ones (nothing is run).

Over the fresh-head cross-entropy GD cases of the suites given (the default's prediction, the bench's
``auto_comparison``; bad: largest relative T_eps error above 25%), the area under the ROC curve of each signal (the
share of (bad, good) pairs it orders the right way, ties half): the largest edge ratio along the path and the endpoint
ratio (the two the trust signal flags on), the endpoint's output gap, the kernel's largest trace growth, the largest
weight distance over ||w0||, the largest ratio of the real to the linearized loss along the path, and N, lr, T and the
resolution. 0.5 is chance. Why the trust signal flags 15 of the 21 bad GD runs with 53 false alarms (2026-12-05).

    python benchmarks/explore/gd_trust.py bench/results/{longer,unseen,...,unseen47,practice,plainsgd,mseedge}
"""

import json
import sys
from pathlib import Path

from trainless.bench._run import BAD_CASE, UPDATED_AUTO, auto_comparison, result_regime, trust_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import auc


def main() -> None:
    rows = []
    for suite in map(Path, sys.argv[1:]):
        results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((suite / "cases").glob("*.json"))]
        by_id = {r["case_id"]: r for r in results}
        for row in trust_table(results, UPDATED_AUTO)["rows"]:
            r = by_id[row["case_id"]]
            if result_regime(r) != "gd-ce" or r["case"].get("head_start", "fresh") != "fresh":
                continue
            pred = r["predictions"][auto_comparison(r)["engine"]]
            path = pred.get("kernel_path") or []
            distance = max((k["weight_distance"] for k in path), default=0.0) / pred["w0_norm"]
            real_over_linear = max(
                ((k.get("path_loss_real") or 0.0) / (k.get("path_loss_linear") or 1.0) for k in path), default=0.0
            )
            rows.append(
                {
                    "bad": row["max_rel_error"] > BAD_CASE,
                    "edge ratio": row["edge_ratio"] or 0.0,
                    "endpoint ratio": row["endpoint_ratio"] or 0.0,
                    "endpoint output gap": (pred.get("endpoint") or {}).get("output_gap") or 0.0,
                    "trace growth": max((k["trace_ratio"] for k in path), default=1.0),
                    "weight distance / ||w0||": distance,
                    "path loss real / linear": real_over_linear,
                    "N": r["n"],
                    "lr": r["lr"],
                    "T": r["case"]["steps"],
                    "resolution": r["resolution"],
                }
            )
    bad = [r for r in rows if r["bad"]]
    good = [r for r in rows if not r["bad"]]
    print(f"{len(rows)} fresh-head cross-entropy GD cases, {len(bad)} bad (largest error above {BAD_CASE:.0%})")
    for key in rows[0]:
        if key != "bad":
            print(f"  {key:26s} AUC {auc([r[key] for r in bad], [r[key] for r in good]):.2f}")


if __name__ == "__main__":
    main()
