"""Hold out ``refine_updates="auto"``: each cached case's default prediction against the other choice.

Where auto refined the kernel-update schedule (``options.refine_updates`` True in the cached ``discrete+updates``
prediction: at least 90% of the penultimate features zero at init, no momentum), the same prediction is made
again unrefined (``refine_updates=False``); where it did not, refined (``refine_updates=True``), to see what the
gate kept out. Both on the cached real run. The rule (bench/suites/unseen38.toml, question 1, fixed before that
suite ran): auto stays if, over the cases it refined, it is better on more cases than worse (largest relative
T_eps error per case on the loss, a tie within 1 point) and its pooled p95 is not higher.

    python benchmarks/explore/refine_heldout.py bench/results/unseen38/cases/*.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fidelity_default import Tally, cached_updated_cases, repredict_updated

from trainless.bench import UPDATED


def main() -> None:
    # Auto (new) against the other choice (base), apart for the cases auto refined and those it did not.
    tallies = {True: Tally(), False: Tally()}
    for p, d, cached in cached_updated_cases(sys.argv[1:]):
        pred = d["predictions"][UPDATED]
        refined = bool(pred["options"].get("refine_updates", False))
        _, result, comp = repredict_updated(d, overrides={"refine_updates": not refined})
        if comp is None:
            continue
        other, auto = tallies[refined].add(comp, cached)
        share = pred.get("inactive_share")
        other_steps = result["predictions"][UPDATED]["options"]["kernel_updates"]
        print(
            f"{p.parent.parent.name:9s} {p.stem[:8]} {d['resolution']:3d}px zero "
            f"{'n/a' if share is None else f'{share:.1%}'} auto {'refined' if refined else 'unrefined'} "
            f"{pred['options']['kernel_updates']} vs {other_steps} | largest {auto['eps_max']:.0%} vs "
            f"{other['eps_max']:.0%}, levels {auto['levels_median']:.0%} vs {other['levels_median']:.0%}, loss at T "
            f"{auto['final_loss_error']:.0%} vs {other['final_loss_error']:.0%}",
            flush=True,
        )
    for refined, label in ((True, "refined by auto, against unrefined"), (False, "not refined, against refined")):
        t = tallies[refined]
        if not t.cases:
            continue
        print(
            f"{label}: auto better on {t.better}, worse on {t.worse}, tie {t.tie}; pooled eps errors p95 "
            f"{t.p95('new'):.0%} (auto) vs {t.p95('base'):.0%}, median {t.median('new'):.0%} vs "
            f"{t.median('base'):.0%} ({len(t.new)} pairs)"
        )


if __name__ == "__main__":
    main()
