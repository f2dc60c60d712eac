"""Exploration: kernel updates anchored at the run's start instead of scaled with T, for runs longer than T = 150.

``auto_kernel_updates`` places the updates at 1, T/15, T/6, T/3 and 2T/3 (1, 10, 25, 50, 100 at T = 150, where it was
chosen). At T = 600 that is 1, 40, 100, 200, 400: the kernel at w1 then stands for steps 1-40, while the real
network's kernel grows in the first tens of steps whatever T is (units switching on as the weights move, which takes
a number of steps set by the lr, not by the budget). On suite unseen24's first case (T = 600, N = 50, lr 1e-3) the
updated prediction was too slow from step 10 to 50 (loss 0.47 against a real 0.32 at step 25). The anchored rule
keeps T = 150's schedule in steps and continues it by doubling: {1, 10, 25, 50, 100, 200, 400, ...} up to 2T/3.
``--stride S`` also moves the weights every S steps (default: the auto stride, T/30).

For each cached case without momentum whose T is above 150, the kernel-updates prediction is made again with the
anchored schedule (real run from the cache) and printed next to the cached one: largest / median relative T_eps
error, levels, loss at T, and the predicted / real T_eps per eps.

    python benchmarks/explore/anchored_schedule.py CASE.json ... [--stride S]
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import cached_updated_cases, comparison_scores, eps_triples, repredict_updated, score_line


def anchored(steps: int) -> list[int]:
    out, s = [1, 10, 25, 50, 100], 200
    while s <= 2 * steps / 3:
        out.append(s)
        s *= 2
    return [t for t in out if t <= 2 * steps / 3]


def main() -> None:
    args = sys.argv[1:]
    stride = int(args.pop(args.index("--stride") + 1)) if "--stride" in args else None
    args = [a for a in args if a != "--stride"]
    for p, d, cached in cached_updated_cases(args):
        steps = d["case"]["steps"]
        if steps <= 150:
            continue
        schedule = anchored(steps)
        t0 = time.perf_counter()
        overrides = {"path_stride": stride} if stride else None
        case, result, comp = repredict_updated(d, overrides=overrides, case_changes={"kernel_updates": schedule})
        eps = eps_triples(cached, comp)
        print(
            f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={result['n']:3d} B={case.batch_size:2d} "
            f"T={steps} "
            f"lr={case.lr} cached {d['case']['kernel_updates']} anchored {schedule} stride {stride or 'auto'}\n"
            f"   cached    {score_line(comparison_scores(cached))}\n"
            f"   anchored  {score_line(comparison_scores(comp))}  ({time.perf_counter() - t0:.0f} s, cached "
            f"{d['predictions']['discrete+updates']['seconds']:.0f} s)\n"
            f"   eps 1/5/10/20/40%: cached/anchored/real {eps}",
            flush=True,
        )


if __name__ == "__main__":
    main()
