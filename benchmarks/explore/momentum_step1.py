"""Exploration: under momentum, one kernel update only, at step 1.

Under momentum `auto_kernel_updates` makes none, because the later updates' path kernels blow up (6-8x tr Theta_0
by step 25 on unseen19's diverged run) and the full schedule is better than the frozen kernel on about half the runs
only. The kernel after the first step is different: SGD's first step is the same with or without momentum (the
buffer starts at the gradient), so at step 1 the path's weights are the real run's whenever the first batch is (the
predicted expected curve averages batch orders, so only approximately), and Theta there already differs from
Theta_0 by 30-80% (relative Frobenius) as units switch. Does that one update, without the path's later blow-up, move
the frozen prediction of a momentum run nearer the real one? For each cached momentum case, the kernel-updates
prediction is made again with ``kernel_updates = [1]`` (real run from the cache) and printed beside the cached frozen
and full-schedule predictions: largest / median relative T_eps error, levels, loss at T. Kept as run; the log is in
benchmarks/results/explore/momentum_step1.txt.

    python benchmarks/explore/momentum_step1.py CASE.json ...
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fidelity_default import comparison_scores, repredict_updated

from trainless.bench import UPDATED


def line(label: str, comp: dict) -> str:
    s = comparison_scores(comp)
    pairs = " ".join(f"{e['predicted']}/{e['real']}" for e in comp["eps"] if e["basis"] == "loss")
    return (
        f"  {label:14s} T_eps max {s['eps_max']:.0%} med {s['eps_median']:.0%} levels {s['levels_median']:.0%} "
        f"final {s['final_loss_pred']:.4g} vs {s['final_loss_real']:.4g}  (pred/real T_eps {pairs})"
    )


def main() -> None:
    for path in map(Path, sys.argv[1:]):
        d = json.loads(path.read_text(encoding="utf-8"))
        if d["case"]["momentum"] <= 0:
            continue
        cached = {c["engine"]: c for c in d["comparisons"]}
        case, result, new = repredict_updated(d, case_changes={"kernel_updates": [1]})
        path_row = result["predictions"][UPDATED]["kernel_path"][0]
        print(
            f"{path.parent.parent.name} {path.stem[:8]} {case.tag} {case.data} N {d['n']} bs {case.batch_size} "
            f"lr {case.lr:g} edge {d['predictions']['discrete']['edge_ratio']:.2f}; step-1 kernel trace "
            f"{path_row['trace_ratio']:.2f}x, change {path_row['relative_change']:.2f}",
            flush=True,
        )
        print(line("frozen", cached["discrete"]))
        print(line("full schedule", cached[UPDATED]))
        if new is not None:
            print(line("step 1 only", new), flush=True)


if __name__ == "__main__":
    main()
