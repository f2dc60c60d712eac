"""Exploration (diagnostic, not a held-out test): does a larger sketch dimension D' bring CountSketch kernel updates
to the exact updates' predictions on the cases where D' = 16384 moved them?

Why (2026-12-07): the held-out test of CountSketch updates on unseen64 (``sketched_updates.py``, log
``sketched_updates.txt``) passed on cost and failed on accuracy: three of its eight predictions moved by more than two
points (bc8b251b, plain SGD at N = 250, 50% -> 69%; fd897421 and 061c882e, momentum at N = 250, 48% -> 52% and 76% ->
71%). A sketch's error in each kernel entry shrinks as 1/sqrt(D'), so if these moves are the sketch's noise they shrink
at a larger D'; if they do not, the prediction itself is that sensitive to its kernels. Chosen after seeing that
test, on its own cases: whatever it shows is a lead for a later held-out test, not a result.

For each case given (cached case files), the kernel-updates prediction made again with ``update_kernel =
countsketch`` at each ``--dims`` D' (the kernel at w0 exact, the real run from the cache), against the cached exact
prediction: the largest relative T_eps error and the loss at T. New predictions are kept under ``--save``
(resumes).

    python benchmarks/explore/sketch_dimension.py bench/results/unseen64/cases/bc8b251b*.json --dims 65536 \
        --save benchmarks/results/explore/sketch_dimension
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, expected, keep_result, load_kept, repredict_updated

from trainless.bench import UPDATED


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+", type=Path, help="cached case results (bench/results/SUITE/cases/*.json)")
    ap.add_argument("--dims", nargs="+", type=int, default=[65536], help="sketch dimensions D' to try")
    ap.add_argument("--save", type=Path, required=True, help="where the new predictions are kept (resumes)")
    a = ap.parse_args()
    for path in a.cases:
        d = json.loads(path.read_text(encoding="utf-8"))
        exact = comparison_scores(expected(d, UPDATED))
        line = (
            f"{path.parent.parent.name} {path.stem[:8]} {d['case'].get('tag', '')} N {d['record']['n']}: exact largest "
            f"T_eps {exact['eps_max']:.1%}, loss at T {exact['final_loss_error']:.1%}"
        )
        for dim in a.dims:
            keep = a.save / path.parent.parent.name / f"{path.stem}.d{dim}.json.gz"
            if keep.exists():
                new = load_kept(keep)
            else:
                _, new, _ = repredict_updated(d, case_changes={"update_kernel": "countsketch", "kernel_dim": dim})
                keep_result(keep, new)
            s = comparison_scores(expected(new, UPDATED))
            seconds = new["predictions"][UPDATED]["seconds"]
            line += (
                f"; D' {dim}: {s['eps_max']:.1%}, loss at T {s['final_loss_error']:.1%} (prediction {seconds:.0f} s)"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
