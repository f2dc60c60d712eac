"""The flow below half the stability edge under momentum, on the loss at T as well as on T_eps: unseen46's test.

Reads cached bench cases (no run): every momentum case whose ``discrete+updates`` prediction took the kernel updates
along the gradient flow, split by the edge ratio at w0 that its frozen prediction (``discrete``) reports (at most
``RULE_EDGE``: where the rule would take the flow; above: where it keeps the frozen kernel). Per case: the largest
relative T_eps error on the loss and the relative error of the loss at T, frozen -> flow, both on the expected
curves. The test fixed in bench/suites/unseen46.toml before it ran, over the cases at most ``RULE_EDGE``: (1) the
flow better on at least as many cases as it is worse by the largest T_eps error (a tie within 1 point), with a pooled
(eps, loss) p95 not higher; (2) better on more cases than worse by the loss at T, with a lower median. Run on the
other suites' cached momentum cases it only describes the cases the rule was first drawn from (flow_default.txt).

Outcome on unseen46 (log flow_edge_rule_unseen46.txt): (1) failed, (2) passed, so nothing changed. Per run the flow was
better on five, worse on one, equal on two by the largest T_eps error, but the one worse (Lite0 at 48 px, N = 100, edge
ratio 0.49: 31% -> 107%, the flow's linearized momentum run overshooting) raised the pooled p95 from 50% to 82%. The
loss at T: better on six of eight, median relative error 267% -> 49%, off by a factor 3.7 -> 1.9 (median), the flow
ending below the real loss on six (the frozen kernel above it on seven).

    python benchmarks/explore/flow_edge_rule.py bench/results/unseen46/cases/*.json  # log flow_edge_rule_unseen46.txt
"""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, cached_flow_cases, expected

from trainless.bench import UPDATED

RULE_EDGE = 0.5


def main() -> None:
    eps = {True: Tally(), False: Tally()}  # the flow (new) against the frozen kernel (base); key: at most RULE_EDGE
    final = {True: Tally("final_loss_error"), False: Tally("final_loss_error")}
    for path, d, pred in cached_flow_cases(sys.argv[1:]):
        case = d["case"]
        edge = d["predictions"]["discrete"]["edge_ratio"]
        inside = edge <= RULE_EDGE
        frozen, flow = expected(d, "discrete"), expected(d, UPDATED)
        a, b = eps[inside].add(frozen, flow)
        final[inside].add(frozen, flow)
        share = pred.get("inactive_share")
        print(
            f"{path.parent.parent.name:9s} {path.stem[:8]} {case['model'][-5:]} {case['data']:7s} "
            f"{d['resolution']:3d}px zero {'n/a' if share is None else f'{share:.1%}'} N={d['n']} "
            f"B={case['batch_size']} lr={d['lr']:.0e} "
            f"edge {edge:.2f} | largest {a['eps_max']:.0%} -> {b['eps_max']:.0%}, levels {a['levels_median']:.0%} -> "
            f"{b['levels_median']:.0%}, loss at T {a['final_loss_error']:.0%} -> {b['final_loss_error']:.0%} "
            f"(real {a['final_loss_real']:.2g}, frozen {a['final_loss_pred']:.2g}, flow {b['final_loss_pred']:.2g})"
        )
    for inside, label in ((True, f"edge ratio at w0 at most {RULE_EDGE}"), (False, f"above {RULE_EDGE}")):
        t, f = eps[inside], final[inside]
        if not t.cases:
            continue
        print(
            f"{label}, {t.cases} cases: T_eps largest per case, flow better on {t.better}, worse on {t.worse}, tie "
            f"{t.tie}; pooled eps errors p95 {t.p95('base'):.0%} -> {t.p95('new'):.0%}, median {t.median('base'):.0%} "
            f"-> {t.median('new'):.0%} ({len(t.new)} pairs)"
        )
        loss = {side: statistics.median(t.figures("final_loss_error", side)) for side in ("base", "new")}
        factors = {side: t.loss_factors(side) for side in ("base", "new")}
        print(
            f"{label}, {f.cases} cases: loss at T, flow better on {f.better}, worse on {f.worse}, tie {f.tie}; median "
            f"{loss['base']:.0%} -> {loss['new']:.0%}; "
            f"off by a factor (median) {statistics.median(abs(x) for x in factors['base']):.2f} -> "
            f"{statistics.median(abs(x) for x in factors['new']):.2f}, predicted below the real one on "
            f"{sum(1 for x in factors['base'] if x < 0)} -> {sum(1 for x in factors['new'] if x < 0)}"
        )
    t, f = eps[True], final[True]
    if t.cases:
        first = t.better >= t.worse and t.p95("new") <= t.p95("base")
        loss = {side: statistics.median(t.figures("final_loss_error", side)) for side in ("base", "new")}
        second = f.better > f.worse and loss["new"] < loss["base"]
        print(
            f"the test fixed in unseen46.toml, on the cases given: (1) T_eps {'passed' if first else 'failed'}, (2) "
            f"loss at T {'passed' if second else 'failed'}"
        )


if __name__ == "__main__":
    main()
