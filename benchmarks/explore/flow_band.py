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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, cached_flow_cases, expected

from trainless.bench import UPDATED


def main() -> None:
    tally = Tally()  # the flow (new) against the frozen kernel (base)
    for path, d, pred in cached_flow_cases(sys.argv[1:]):
        case = d["case"]
        frozen, flow = tally.add(expected(d, "discrete"), expected(d, UPDATED))
        scores = {"frozen": frozen, "flow": flow}
        share = pred.get("inactive_share")
        print(
            f"{path.parent.parent.name:9s} {path.stem[:8]} {case['model'][-5:]} {case['data']:7s} {d['resolution']}px "
            f"zero {'n/a' if share is None else f'{share:.1%}'} N={d['n']} B={case['batch_size']} lr={d['lr']:.0e} "
            f"edge {pred['edge_ratio']:.2f} | largest frozen {scores['frozen']['eps_max']:.0%} flow "
            f"{scores['flow']['eps_max']:.0%}, levels {scores['frozen']['levels_median']:.0%} / "
            f"{scores['flow']['levels_median']:.0%}, loss at T {scores['frozen']['final_loss_error']:.0%} / "
            f"{scores['flow']['final_loss_error']:.0%}"
        )
    if not tally.cases:
        print("no momentum case with updates along the flow")
        return
    print(
        f"flow against frozen: better on {tally.better}, worse on {tally.worse}, tie {tally.tie}; pooled eps errors "
        f"p95 {tally.p95('new'):.0%} (flow) vs {tally.p95('base'):.0%}, median {tally.median('new'):.0%} vs "
        f"{tally.median('base'):.0%} ({len(tally.new)} pairs)"
    )
    print(f"the test fixed before the suite ran: {'passed' if tally.passed() else 'failed'}")


if __name__ == "__main__":
    main()
