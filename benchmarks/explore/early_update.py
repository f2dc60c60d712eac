"""Exploration: one more kernel update, early (T/30: step 5 at T = 150), before the auto schedule's T/15, T/6,
T/3, 2T/3.

Up to the first update the updated prediction is the frozen one, and the eps = 40% level falls at steps 8-20 on
the GD cases, around or before the first update (step 10): the largest errors there (e.g. an N = 100 run whose
real loss falls slower than the linearized one from step 2 on, its path kernel's trace 0.83x at step 10) are the
frozen kernel's. One kernel more costs about one kernel (5-9 s at N = 50-100). For each cached case without
momentum, the kernel-updates prediction is made again with the early update added (real run from the cache) and
printed next to the cached default: largest / median relative T_eps error, levels, loss at T, and the predicted /
real T_eps per eps. Kept as run; the log is in benchmarks/results/explore/early_update.txt.

    python benchmarks/explore/early_update.py CASE.json ... [--at STEP]

``--pool LOG``: from a log of this script, per suite and pooled over the suites other than paper, the relative
T_eps errors of both (median / p95 over (case, eps) pairs; a missed eps 100%) and the largest per case.

``--at STEP``: the extra update at that step instead of T/30. At step 1 the path's weights are the real run's
(one GD step from w0 is the same in both), so that kernel is the real network's after its first step. Adopted
2026-12-03 (auto_kernel_updates starts at step 1) and the suites re-predicted: their cached schedules now hold step
1, so ``--at 1`` on them makes the cached prediction again; the log's figures were made before.
"""

import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import cached_updated_cases, comparison_scores, eps_triples, repredict_updated, score_line


def pool(log: str) -> None:
    rows: dict[str, list[tuple[list[float], list[float]]]] = {}
    suite = ""
    for line in Path(log).read_text().splitlines():
        if m := re.match(r"^(\w+)\s+[0-9a-f]{8} ", line):
            suite = m.group(1)
        if line.startswith("   eps 1/5/10/20/40%"):
            errs: tuple[list[float], list[float]] = ([], [])
            for triple in line.split("real ")[1].split():
                *pred, real = triple.split("/")
                if real != "None" and int(real) > 0:
                    for out, v in zip(errs, pred, strict=True):
                        out.append(1.0 if v == "None" else abs(int(v) - int(real)) / int(real))
            rows.setdefault(suite, []).append(errs)
    groups = {**rows, "unseen*": [r for s, rs in rows.items() if s != "paper" for r in rs]}
    for name, rs in groups.items():
        for k, label in enumerate(("default", "early")):
            v = [e for r in rs for e in r[k]]
            top = [max(r[k]) for r in rs]
            print(
                f"# {name:8s} {label:8s} {len(rs):2d} cases: T_eps median {np.median(v):.0%} p95 "
                f"{np.percentile(v, 95):.0%}, largest per case median {np.median(top):.0%} max {max(top):.0%}"
            )
        better = sum(max(r[1]) < max(r[0]) for r in rs)
        worse = sum(max(r[1]) > max(r[0]) for r in rs)
        print(f"#   largest error per case: better on {better}, worse on {worse}, same on {len(rs) - better - worse}")


args = sys.argv[1:]
if args[:1] == ["--pool"]:
    pool(args[1])
    sys.exit()
AT = int(args.pop(args.index("--at") + 1)) if "--at" in args else None
args = [a for a in args if a != "--at"]
for p, d, cached in cached_updated_cases(args):
    steps = d["case"]["steps"]
    schedule = sorted({AT or round(steps / 30), *d["case"]["kernel_updates"]})
    t0 = time.perf_counter()
    case, result, comp = repredict_updated(d, case_changes={"kernel_updates": schedule})
    eps = eps_triples(cached, comp)
    print(
        f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={result['n']:3d} B={case.batch_size:2d} "
        f"lr={case.lr} updates {schedule}\n"
        f"   default  {score_line(comparison_scores(cached))}\n"
        f"   early    {score_line(comparison_scores(comp))}  ({time.perf_counter() - t0:.0f} s)\n"
        f"   eps 1/5/10/20/40%: default/early/real {eps}",
        flush=True,
    )
