"""Exploration: the edge cap (``PredictConfig.edge_cap``) on cross-entropy runs whose kernel updates met the edge.

An updated kernel is taken at the predicted path's weights; its edge ratio lr x sharpness(Theta_k H(f_k)) / 2
(H the softmax Hessian at the predicted outputs there) can be far above 1, where the linearized cross-entropy
run then spikes or diverges (suite unseen24's N = 100 run with updates at 1, 10, 25, ...: ratio 4.9 at step 10,
predicted loss 0.80 -> 8.7 five steps later while the real run went on down, 0.82 -> 0.48). A real network's
sharpness does not stay past the edge (Cohen et al. 2021, cross-entropy included): the cap scales such a kernel
to the edge. It was measured once on four cached cases with the schedule of the time (docs/fidelity.md: better
on two, worse on one). Here: every cached cross-entropy case without momentum whose cached kernel-updates
prediction met a ratio above 1 (with the cap the others are unchanged), predicted again with the cap on, and,
with ``--anchored``, the runs longer than 150 steps with the anchored schedule of
``anchored_schedule.py``, cap off and on (``--cap-only``: on only, the anchored schedule's own figures being in
``anchored_schedule.txt``). ``--shape clip`` caps by clipping the kernel's eigenvalues above the edge's
level instead of scaling all of it (``PredictConfig.edge_cap_shape``).

    python benchmarks/explore/edge_cap_ce.py CASE.json ... [--anchored [--cap-only]] [--shape scale|clip]
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchored_schedule import anchored
from fidelity_default import cached_updated_cases, comparison_scores, eps_triples, repredict_updated, score_line

args = sys.argv[1:]
ANCHORED = "--anchored" in args
CAP_ONLY = "--cap-only" in args
args = [a for a in args if a not in ("--anchored", "--cap-only")]
SHAPE = args.pop(args.index("--shape") + 1) if "--shape" in args else "scale"
args = [a for a in args if a != "--shape"]
CAP = {"edge_cap": True, "edge_cap_shape": SHAPE}
for p, d, cached in cached_updated_cases(args):
    path = d["predictions"]["discrete+updates"]["kernel_path"]
    steps = d["case"]["steps"]
    if d["case"]["loss"] != "ce":
        continue
    if ANCHORED:
        if steps <= 150:
            continue
        variants = [("anch+cap", CAP)] if CAP_ONLY else [("anchored", {}), ("anch+cap", CAP)]
        changes = {"kernel_updates": anchored(steps)}
    else:
        if not path or max(q["edge_ratio"] for q in path) <= 1.0:
            continue
        variants = [(SHAPE, CAP)]
        changes = None
    print(
        f"{p.parent.parent.name:8s} {p.stem[:8]} {d['case']['tag']:10s} N={d['n']:3d} B={d['case']['batch_size']:2d} "
        f"T={steps} lr={d['case']['lr']} cached ratios {[round(q['edge_ratio'], 2) for q in path]}\n"
        f"   cached    {score_line(comparison_scores(cached))}",
        flush=True,
    )
    for name, overrides in variants:
        t0 = time.perf_counter()
        case, result, comp = repredict_updated(d, overrides=overrides, case_changes=changes)
        kp = result["predictions"]["discrete+updates"]["kernel_path"]
        print(
            f"   {name:9s} {score_line(comparison_scores(comp))}  ({time.perf_counter() - t0:.0f} s) ratios "
            f"{[round(q['edge_ratio'], 2) for q in kp]}\n"
            f"   eps 1/5/10/20/40%: cached/{name}/real {eps_triples(cached, comp)}",
            flush=True,
        )
