"""Screen: a denser kernel-update schedule on full-batch runs in the 85-90% band of zero penultimate features at init,
where the default neither refines (``REFINE_INACTIVE_SHARE`` is 90%) nor keeps up: all eight Lite1 GD runs of
unseen41 and unseen42 were predicted slow at the levels, and refining where a segment's trace doubled changed little
on unseen41 (``refine_heldout_unseen41.txt``).

Each cached case without momentum given (T = 150, at least ``FLOW_INACTIVE_SHARE`` zero; full-batch GD, or plain
SGD, where the default does not halve, as in unseen44's screen) is predicted again (its real run from the cache) with
every segment of the default schedule halved, steps 1, 6, 10, 18, 25, 38, 50, 75, 100, 125 (twice the kernels; from
90% zero refined on top where a segment's trace doubles, as the default is), and scored against the cached
prediction: largest relative T_eps error per case, the median level error, the loss at T, and which way the levels
miss. Chosen on these cases, so whatever it suggests needs a suite of its own before it can become a rule (the GD
band runs' cached predictions are halved themselves since unseen43: there it compares a schedule with itself).
Log: benchmarks/results/explore/band_schedule.txt.

    python benchmarks/explore/band_schedule.py bench/results/unseen{35,37,38,40,41,42}/cases/*.json
    python benchmarks/explore/band_schedule.py bench/results/unseen43/cases/*.json  # log band_schedule_unseen43.txt
    python benchmarks/explore/band_schedule.py bench/results/unseen44/cases/*.json  # log band_schedule_unseen44.txt
    python benchmarks/explore/band_schedule.py bench/results/unseen45/cases/*.json  # log band_schedule_unseen45.txt
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, cached_updated_cases, repredict_updated

from trainless.bench import UPDATED
from trainless.predict import FLOW_INACTIVE_SHARE, REFINE_INACTIVE_SHARE

DENSE = (1, 6, 10, 18, 25, 38, 50, 75, 100, 125)


def level_lateness(comp: dict) -> list[float]:
    """(predicted - real) / real steps to each loss level both curves reach (> 0: the prediction is slow)."""
    return [(lv["predicted"] - lv["real"]) / lv["real"] for lv in comp["levels"] if lv["real"] and lv["predicted"]]


def main() -> None:
    tally = Tally()  # dense (new) against the default (base)
    for p, d, cached in cached_updated_cases(sys.argv[1:]):
        if d["case"]["steps"] != 150:
            continue
        pred = d["predictions"][UPDATED]
        share = pred.get("inactive_share")
        if share is None or share < FLOW_INACTIVE_SHARE:
            continue
        # From 90% zero refine_updates stays "auto": the denser schedule is refined too, as the default's is. Below it
        # "auto" would halve the schedule itself (HALVE_INACTIVE_SHARE, since this screen): off, the schedule as given.
        overrides = None if share >= REFINE_INACTIVE_SHARE else {"refine_updates": False}
        _, _, comp = repredict_updated(d, overrides=overrides, case_changes={"kernel_updates": list(DENSE)})
        if comp is None:
            continue
        a, b = tally.add(cached, comp)
        late_a, late_b = level_lateness(cached), level_lateness(comp)
        print(
            f"{p.parent.parent.name:9s} {p.stem[:8]} {d['case']['model'][-5:]} {d['case']['data']:7s} "
            f"{d['resolution']}px "
            f"zero {share:.1%} | largest {a['eps_max']:.0%} -> {b['eps_max']:.0%}, "
            f"levels {a['levels_median']:.0%} -> {b['levels_median']:.0%} (late by "
            f"{'/'.join(f'{x:+.0%}' for x in late_a)} -> {'/'.join(f'{x:+.0%}' for x in late_b)}), loss at T "
            f"{a['final_loss_error']:.0%} -> {b['final_loss_error']:.0%}",
            flush=True,
        )
    if tally.cases:
        print(
            f"dense against the default: better on {tally.better}, worse on {tally.worse}, tie {tally.tie}; pooled "
            f"eps errors p95 {tally.p95('base'):.0%} -> {tally.p95('new'):.0%}, median {tally.median('base'):.0%} -> "
            f"{tally.median('new'):.0%} ({len(tally.new)} pairs)"
        )


if __name__ == "__main__":
    main()
