"""Exploration: twin runs that differ only in ``drop_last`` (suites unseen61 and unseen62), side by side.

Per pair (same tag), for the run as drawn (its epochs closed by a short batch) and its drop_last twin: the default's
largest relative T_eps error, the real run's early climb (its largest loss in steps 10-60 over its smallest in steps
0-10; above 1: the loss climbed back up), the loss at T over the initial loss, the default's loss-at-T error, its trust
flags and whether it warned of the short batch; then the pooled p95 / median of each side's T_eps errors. Reads the
cached cases only. Logs: benchmarks/results/explore/drop_last_twins_SUITE.txt.

    python benchmarks/explore/drop_last_twins.py bench/results/unseen61
"""

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from suites_table import load

from trainless.bench import UPDATED_AUTO
from trainless.bench._run import auto_comparison, quantile, scored_eps_errors, trust_table


def early_climb(loss: list[float]) -> float:
    # The windows the suites' questions fixed, both ends included (steps 0-10, steps 10-60); not
    # fidelity_default.climb_back's [0, 10) and [10, 60), which gives other figures on these runs.
    return max(loss[10:61]) / min(loss[:11])


for suite in map(Path, sys.argv[1:]):
    results = load(suite)
    flags = {row["case_id"]: row["flags"] for row in trust_table(results, UPDATED_AUTO)["rows"]}
    pairs: dict[str, dict[bool, dict]] = defaultdict(dict)
    for r in results:
        pairs[r["case"]["tag"]][bool(r["case"].get("drop_last", False))] = r
    errors: dict[bool, list[float]] = {False: [], True: []}
    wins = climbs = 0
    print(suite.name)
    for tag, twins in sorted(pairs.items()):
        largest = {}
        for dropped in (False, True):
            r = twins[dropped]
            comp = auto_comparison(r)
            e = scored_eps_errors(comp)
            errors[dropped] += e
            largest[dropped] = max(e)
            loss = r["record"]["loss"]
            pred = r["predictions"][comp["engine"]]
            warned = any("each epoch ends in a batch" in w for w in pred.get("warnings", ()))
            print(
                f"  {tag:22s} {'drop_last' if dropped else 'as drawn ':9s} largest {max(e):4.0%}, early climb "
                f"{early_climb(loss):5.2f}, loss at T / L0 {loss[-1] / loss[0]:.3f}, loss-at-T error "
                f"{comp['final_loss_relative_error']:.0%}, flags {flags.get(r['case_id'])}, "
                f"short-batch warning {warned}"
            )
        wins += largest[False] > largest[True]
        climbs += early_climb(twins[False]["record"]["loss"]) > early_climb(twins[True]["record"]["loss"])
    print(f"  the short batch's twin: larger largest error on {wins} of {len(pairs)}, larger early climb on {climbs}")
    for dropped in (False, True):
        e = errors[dropped]
        print(f"  {'drop_last' if dropped else 'as drawn'}: p95 {quantile(e, 0.95):.1%}, median {quantile(e, 0.5):.1%}")
