"""Exploration: the one-signed error left on runs longer than 150 steps (docs/fidelity.md, after unseen27).

With the long-run default (the anchored schedule with the edge cap) the updated prediction of a full-batch run is
early at eps 1% on 12 of the 14 cached cross-entropy runs longer than 150 steps (median signed error -13%) and late
at eps 5-40% (+4 to +9%): slower than the real run at the start, faster at the end. Two options of the mode that
bear on how far the linearized path's weights run, and so how large the middle kernels grow, are tried on each such
case (real run from the cache, the default otherwise unchanged):

- ``no-moves``: ``path_stride=None``, the weights moved only at the kernel updates (the default moves them every
  T/30 steps as well);
- ``scaled``: ``update_shape="scaled"``, each updated kernel replaced by Theta_0 scaled to its trace.

Printed per case: the cached (default) prediction and each variant: largest / median relative T_eps error, levels,
loss at T, and the signed relative error at eps 1% and the median over eps 5-40%.

    python benchmarks/explore/long_late_bias.py CASE.json ...
"""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import cached_updated_cases, comparison_scores, repredict_updated, score_line

VARIANTS = {"no-moves": {"path_stride": None}, "scaled": {"update_shape": "scaled"}}


def signed(comp: dict) -> str:
    """The signed relative T_eps error at eps 1% and its median over the larger eps (predicted - real) / real."""
    rows = {r["eps"]: r for r in comp["eps"] if r["basis"] == "loss" and r["predicted"] is not None and r["real"]}
    err = {e: (r["predicted"] - r["real"]) / r["real"] for e, r in rows.items()}
    rest = [v for e, v in err.items() if e > 0.01]
    first = f"{err[0.01]:+.0%}" if 0.01 in err else "-"
    return f"signed eps 1% {first}, eps 5-40% median {statistics.median(rest):+.0%}" if rest else f"eps 1% {first}"


def main() -> None:
    for p, d, cached in cached_updated_cases(sys.argv[1:]):
        case = d["case"]
        if case["steps"] <= 150 or case["loss"] != "ce" or case["batch_size"]:
            continue
        print(f"{p.parent.parent.name:8s} {p.stem[:8]} N={d['n']:3d} T={case['steps']} lr={case['lr']}", flush=True)
        print(f"   default   {score_line(comparison_scores(cached))}  {signed(cached)}", flush=True)
        for name, overrides in VARIANTS.items():
            _, _, comp = repredict_updated(d, overrides=overrides)
            print(f"   {name:9s} {score_line(comparison_scores(comp))}  {signed(comp)}", flush=True)


if __name__ == "__main__":
    main()
