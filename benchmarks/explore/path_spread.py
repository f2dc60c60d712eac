"""Exploration (2026-12-07; nothing adopted): is the spread between a prediction's two weight paths a trust signal?

The default predicts a run without momentum along two weight paths and averages their curves (``path_samples``);
their disagreement is free, and a prediction that moves with a small change of its kernels (D' of a sketch moved two
of unseen64's N = 250 predictions by 18-24 points, ``sketch_dimension.py``) might show it there. Per fresh-head
cross-entropy case of the default's kernel-updates prediction with two paths: the spread (the largest relative T_eps
gap between the two paths' loss curves, each taken as the other's reference) against the case's largest relative
T_eps error (bad above 25%), as the AUC of bad against good, over all cases and over those the trust signal leaves
unflagged (where a new flag would add anything). Nothing is predicted.

    python benchmarks/explore/path_spread.py bench/results/paper bench/results/{longer,unseen} \\
        bench/results/unseen{2..67} bench/results/{practice,plainsgd}
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import auc, eps_errors

from trainless.bench import auto_comparison, scored_eps_errors
from trainless.bench._run import BAD_CASE, _flags, trust_mode
from trainless.predict._config import is_full_batch
from trainless.predict._trust import endpoint_threshold


def spread_auc(rows: list[dict]) -> float:
    """:func:`fidelity_default.auc` of the path spread, bad cases against good ones (nan without both)."""
    return auc([r["spread"] for r in rows if r["err"] > BAD_CASE], [r["spread"] for r in rows if r["err"] <= BAD_CASE])


def main(suites: list[Path]) -> None:
    rows = []
    for suite in suites:
        for path in sorted((suite / "cases").glob("*.json")):
            d = json.loads(path.read_text(encoding="utf-8"))
            c = d["case"]
            if c["loss"] != "ce" or c.get("momentum", 0) or c.get("head_start") != "fresh":
                continue
            comp = auto_comparison(d)
            if comp is None or comp["engine"] != "discrete+updates":
                continue
            pred = d["predictions"][comp["engine"]]
            paths = pred.get("path_losses") or []
            if len(paths) < 2:
                continue
            a, b = np.asarray(paths[0], dtype=float), np.asarray(paths[1], dtype=float)
            gaps = eps_errors(a, b) + eps_errors(b, a)
            full = is_full_batch(c["batch_size"], d["record"]["n"])
            rows.append(
                {
                    "err": max(scored_eps_errors(comp)),
                    "spread": max(gaps) if gaps else 0.0,
                    "flagged": bool(_flags(pred, trust_mode(comp["engine"]), endpoint_threshold("updates"))),
                    "regime": "full-batch GD" if full else "plain SGD",
                    "below": pred["edge_ratio"] is not None and pred["edge_ratio"] <= 1.0,
                }
            )
    groups = {
        "all": rows,
        "full-batch GD": [r for r in rows if r["regime"] == "full-batch GD"],
        "full-batch GD below the edge": [r for r in rows if r["regime"] == "full-batch GD" and r["below"]],
        "plain SGD": [r for r in rows if r["regime"] == "plain SGD"],
    }
    for name, rs in groups.items():
        un = [r for r in rs if not r["flagged"]]
        a_all, a_un = spread_auc(rs), spread_auc(un)
        print(
            f"{name}: {len(rs)} cases, {sum(r['err'] > BAD_CASE for r in rs)} bad, AUC of the spread "
            f"{'-' if math.isnan(a_all) else f'{a_all:.2f}'}; unflagged {len(un)}, "
            f"{sum(r['err'] > BAD_CASE for r in un)} bad, "
            f"AUC {'-' if math.isnan(a_un) else f'{a_un:.2f}'}"
        )


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
