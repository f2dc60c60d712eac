"""Flow against frozen under momentum, per cached case: unseen41's question (2), the band below the then 90% gate, and
unseen42's question (1), the 85% gate it led to held out.

Reads cached bench cases (no run): for every momentum case whose ``discrete+updates`` prediction took the kernel
updates along the gradient flow, its largest relative T_eps error on the loss against the frozen kernel's
(``discrete``, what ``kernel_updates="auto"`` gives under momentum below the gate, ``FLOW_INACTIVE_SHARE``, of zero
penultimate features at init), with the share each prediction recorded. The test fixed in bench/suites/unseen41.toml
and unseen42.toml before they ran: the flow better on more cases than it is worse (a tie within 1 point) and its
pooled p95 (over the cases' (eps, loss) errors) not higher. Logs in benchmarks/results/explore/:

    python benchmarks/explore/flow_band.py bench/results/unseen41/cases/*.json  # log flow_band.txt
    python benchmarks/explore/flow_band.py bench/results/unseen42/cases/*.json  # log flow_band_unseen42.txt
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, expected

from trainless.bench import UPDATED

TIE = 0.01


def main() -> None:
    counts = [0, 0, 0]  # flow better, worse, tie
    pooled: dict[str, list[float]] = {"frozen": [], "flow": []}
    for path in map(Path, sys.argv[1:]):
        d = json.loads(path.read_text(encoding="utf-8"))
        case = d["case"]
        pred = d["predictions"].get(UPDATED)
        if not case.get("momentum") or pred is None or pred["options"].get("update_path") != "flow":
            continue
        comps = {"frozen": expected(d, "discrete"), "flow": expected(d, UPDATED)}
        scores = {k: comparison_scores(c) for k, c in comps.items()}
        for k, c in comps.items():
            pooled[k] += [r["relative_error"] for r in c["eps"] if r["basis"] == "loss"]
        diff = scores["flow"]["eps_max"] - scores["frozen"]["eps_max"]
        counts[0 if diff < -TIE else (1 if diff > TIE else 2)] += 1
        share = pred.get("inactive_share")
        print(
            f"{path.parent.parent.name:9s} {path.stem[:8]} {case['model'][-5:]} {case['data']:7s} {d['resolution']}px "
            f"zero {'n/a' if share is None else f'{share:.1%}'} N={d['n']} B={case['batch_size']} lr={d['lr']:.0e} "
            f"edge {pred['edge_ratio']:.2f} | largest frozen {scores['frozen']['eps_max']:.0%} flow "
            f"{scores['flow']['eps_max']:.0%}, levels {scores['frozen']['levels_median']:.0%} / "
            f"{scores['flow']['levels_median']:.0%}, loss at T {scores['frozen']['final_loss_error']:.0%} / "
            f"{scores['flow']['final_loss_error']:.0%}"
        )
    if not sum(counts):
        print("no momentum case with updates along the flow")
        return
    better, worse, tie = counts
    fz, fl = pooled["frozen"], pooled["flow"]
    print(
        f"flow against frozen: better on {better}, worse on {worse}, tie {tie}; pooled eps errors p95 "
        f"{np.percentile(fl, 95):.0%} (flow) vs {np.percentile(fz, 95):.0%}, median {np.median(fl):.0%} vs "
        f"{np.median(fz):.0%} ({len(fl)} pairs)"
    )
    passed = better > worse and np.percentile(fl, 95) <= np.percentile(fz, 95)
    print(f"the test fixed before the suite ran: {'passed' if passed else 'failed'}")


if __name__ == "__main__":
    main()
