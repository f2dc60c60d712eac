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

import numpy as np
from fidelity_default import cached_updated_cases, comparison_scores, repredict_updated

from trainless.bench import UPDATED

TIE = 0.01


def main() -> None:
    pooled: dict[bool, dict[str, list[float]]] = {True: {"auto": [], "other": []}, False: {"auto": [], "other": []}}
    counts: dict[bool, list[int]] = {True: [0, 0, 0], False: [0, 0, 0]}  # auto better, worse, tie
    for p, d, cached in cached_updated_cases(sys.argv[1:]):
        pred = d["predictions"][UPDATED]
        refined = bool(pred["options"].get("refine_updates", False))
        _, result, comp = repredict_updated(d, overrides={"refine_updates": not refined})
        if comp is None:
            continue
        auto, other = comparison_scores(cached), comparison_scores(comp)
        for key, c in (("auto", cached), ("other", comp)):
            pooled[refined][key] += [r["relative_error"] for r in c["eps"] if r["basis"] == "loss"]
        diff = auto["eps_max"] - other["eps_max"]
        counts[refined][0 if diff < -TIE else (1 if diff > TIE else 2)] += 1
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
        better, worse, tie = counts[refined]
        if not better + worse + tie:
            continue
        a, o = pooled[refined]["auto"], pooled[refined]["other"]
        print(
            f"{label}: auto better on {better}, worse on {worse}, tie {tie}; pooled eps errors p95 "
            f"{np.percentile(a, 95):.0%} (auto) vs {np.percentile(o, 95):.0%}, median {np.median(a):.0%} vs "
            f"{np.median(o):.0%} ({len(a)} pairs)"
        )


if __name__ == "__main__":
    main()
