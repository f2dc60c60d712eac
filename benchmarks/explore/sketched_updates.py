"""Held-out test: CountSketch kernel updates (``update_kernel`` countsketch, D' = 16384, the kernel at w0 exact)
against the exact updates, where ``exact`` streams J in more than one column group.

Why (2026-12-07): at N = 150, C = 5 the sketched updates saved only 11-16% of the default run's prediction
(docs/fidelity.md, "Options of the mode"), which is why the README calls them barely cheaper. At N = 200-250 the
default's prediction costs more than the real minibatch run (unseen64: plain SGD 3.5-6.2x), and a profile of one
kernel there (EfficientNet-Lite1, 64 px, N = 250, C = 5, budget 4096 MiB, on 2 cores beside a running suite) found
``exact`` streaming J in two column groups, so running every per-sample pass twice, and spending about a quarter of
its time on the (NC)^2 D Gram product: 194 s against CountSketch's 90 s, one group, in the same conditions. If the
sketched updates keep the predictions, they are the cheaper way to make them at such N.

What it does: for each cached case (``cases/*.json`` of the suites given) with a kernel-updates prediction, makes
that prediction again with ``Case.update_kernel = "countsketch"`` (its real run from the cache; the kernel at w0 is
computed afresh, exactly, in the same process) and compares it with the cached exact-updates prediction, per case:
the largest relative T_eps error on the loss, the loss at T, and the cost: after the prediction, in the same process,
one CountSketch kernel and then one exact kernel of the network at w0 on the case's N samples are timed (the first
carries the module's one-tile check of its per-sample gradients, so the ratio is if anything unkind to the sketch).
Each new prediction and its timings are kept under ``--save`` (resumes).

The test, fixed before it ran (on unseen64, N = 200-250, whose default predictions were the costliest):
(1) same accuracy: the pooled (eps, loss) T_eps p95 of the sketched predictions within 2 points of the exact ones',
    and the largest T_eps error per case within 2 points on at least 80% of the cases;
(2) cheaper: over the cases whose exact kernel streamed more than one column group, the median of the sketched
    kernel's time over the exact one's at most 0.6.
If both pass, a default that takes CountSketch for the updates where ``exact`` needs more than one column group is
worth making (and the cached predictions it would change made again); if (1) fails, the sketch is not accurate
enough at D' = 16384 for the updates and the README says so.

    python benchmarks/explore/sketched_updates.py bench/results/unseen64 \
        --save benchmarks/results/explore/sketched_updates
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, expected, keep_result, kept_path, load_cached_case, load_kept, repredict_updated

from trainless.bench import UPDATED
from trainless.kernel import KernelConfig, compute_kernel

SAME = 0.02
"""Two largest per-case errors (or two pooled p95s) within this (2 points) count as the same accuracy."""
CHEAPER = 0.6
"""A sketched kernel taking at most this share of an exact one's time (the two timed back to back) counts as cheaper."""


def timed_kernels(d: dict) -> dict[str, float]:
    """One CountSketch (D' = 16384) and then one exact kernel of the cached case's network at w0 on its samples, each
    as the predictor's default config makes it: their seconds and the exact one's column groups."""
    _, _, kconf, model, data = load_cached_case(d)
    sketch = compute_kernel(
        model.module, data.x, KernelConfig(method="countsketch", max_memory_mib=kconf.max_memory_mib)
    )
    exact = compute_kernel(model.module, data.x, kconf)
    return {"sketch_seconds": sketch.seconds, "exact_seconds": exact.seconds, "column_groups": exact.column_groups}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--save", type=Path, required=True, help="where the new predictions are kept (resumes)")
    a = ap.parse_args()
    tally = Tally()
    same, ratios, cases = 0, [], 0
    for suite in a.suites:
        for path in sorted((suite / "cases").glob("*.json")):
            d = json.loads(path.read_text(encoding="utf-8"))
            if UPDATED not in d["predictions"]:
                continue
            keep = kept_path(a.save, path)
            if keep.exists():
                new = load_kept(keep)
            else:
                _, new, _ = repredict_updated(d, case_changes={"update_kernel": "countsketch"})
                keep_result(keep, new)
            timing_file = keep.with_name(f"{path.stem}.timing.json")
            if timing_file.exists():
                timing = json.loads(timing_file.read_text(encoding="utf-8"))
            else:
                timing = timed_kernels(d)
                tmp = timing_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(timing), encoding="utf-8")
                tmp.replace(timing_file)
            a_s, b_s = tally.add(expected(d, UPDATED), expected(new, UPDATED))
            cases += 1
            same += abs(b_s["eps_max"] - a_s["eps_max"]) <= SAME
            pred = new["predictions"][UPDATED]
            updates = [row["seconds"] for row in pred["kernel_path"] if row["seconds"] > 0]
            ratio = timing["sketch_seconds"] / timing["exact_seconds"]
            if timing["column_groups"] > 1:
                ratios.append(ratio)
            print(
                f"{suite.name} {path.stem[:8]} {d['case'].get('tag', '')} N {d['record']['n']}: largest T_eps error "
                f"exact {a_s['eps_max']:.1%}, sketched {b_s['eps_max']:.1%}; loss at T off exact "
                f"{a_s['final_loss_error']:.1%}, sketched {b_s['final_loss_error']:.1%}; at w0 exact "
                f"{timing['exact_seconds']:.0f} s in {timing['column_groups']} column groups, sketched "
                f"{timing['sketch_seconds']:.0f} s ({ratio:.2f}x); in the prediction {len(updates)} sketched updates, "
                f"median {statistics.median(updates) if updates else float('nan'):.0f} s; prediction "
                f"{pred['seconds']:.0f} s (the cached exact one, another run, "
                f"{d['predictions'][UPDATED]['seconds']:.0f} s)",
                flush=True,
            )
    p95_exact, p95_sketch = tally.p95("base"), tally.p95("new")
    accurate = abs(p95_sketch - p95_exact) <= SAME and same >= 0.8 * cases
    cheaper = bool(ratios) and statistics.median(ratios) <= CHEAPER
    print(
        f"(1) accuracy over {cases} cases: pooled T_eps p95 exact {p95_exact:.1%}, sketched {p95_sketch:.1%}; largest "
        f"error within {SAME:.0%} on {same} of {cases} (sketched better on {tally.better}, worse on {tally.worse}, "
        f"tied on {tally.tie} by one point; median "
        f"{tally.median('base'):.1%} -> {tally.median('new'):.1%}): {'passed' if accurate else 'FAILED'}"
    )
    print(
        f"(2) cost over the {len(ratios)} cases with more than one column group: the sketched kernel's time over the "
        f"exact one's, median {statistics.median(ratios) if ratios else float('nan'):.2f}: "
        f"{'passed' if cheaper else 'FAILED'}"
    )


if __name__ == "__main__":
    main()
