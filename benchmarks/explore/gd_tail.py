"""What the full-batch GD tail is made of: the default's (auto) T_eps errors over the held-out suites' fresh-head
cross-entropy GD cases, read from the cached cases (no run).

Prints (1) the p95 per regime (T = 150 or longer; lr below or above the linearized edge at w0; lr schedule) and how
many of each regime's (case, eps) errors exceed 15% and 25%; (2) the signed error per eps (predicted minus real
T_eps over real: is there a direction?); (3) on the T = 150, constant-lr runs below the edge, the predicted over
real loss at fixed steps (a bias in the curve itself?); (4) the p95 with each curve's T_eps taken at the
interpolated crossing between two steps instead of the first step past it (is the tail the step grid?).
Log: benchmarks/results/explore/gd_tail.txt.

    python benchmarks/explore/gd_tail.py bench/results/{longer,unseen,unseen2,...,unseen42,practice,plainsgd,mseedge}
"""

import json
import sys
from pathlib import Path

import numpy as np

from trainless.bench import UPDATED
from trainless.bench._run import auto_comparison, scored_eps_errors

STEPS = (1, 2, 3, 5, 8, 10, 12, 15, 20, 24, 26, 30, 40, 49, 51, 60, 75, 90, 99, 101, 110, 125, 149, 150)


def crossing(steps: np.ndarray, curve: np.ndarray, eps: float) -> float | None:
    """The first time |L_t - L_T| <= eps |L_0 - L_T| (DESIGN.md's T_eps), linearly interpolated between the step
    before and the step at which it first holds; None if it never does."""
    gap = np.abs(curve - curve[-1])
    threshold = eps * abs(curve[0] - curve[-1])
    hits = np.flatnonzero(gap <= threshold)
    if not hits.size:
        return None
    i = int(hits[0])
    if i == 0:
        return float(steps[0])
    a, b = gap[i - 1], gap[i]
    frac = (a - threshold) / (a - b) if a != b else 1.0
    return float(steps[i - 1] + frac * (steps[i] - steps[i - 1]))


def main() -> None:
    groups: dict[str, list[float]] = {}
    signed: dict[float, list[float]] = {}
    ratios: dict[int, list[float]] = {t: [] for t in STEPS}
    integer, interpolated = [], []
    for suite in map(Path, sys.argv[1:]):
        for path in sorted((suite / "cases").glob("*.json")):
            r = json.loads(path.read_text(encoding="utf-8"))
            c = r["case"]
            if c["loss"] != "ce" or c.get("head_start", "fresh") != "fresh" or c["batch_size"] != 0:
                continue
            comp = auto_comparison(r)
            if comp is None:
                continue
            errs = scored_eps_errors(comp, "loss")
            pred = r["predictions"][comp["engine"]]
            edge = r["predictions"][UPDATED]["edge_ratio"]
            above = edge is not None and edge > 1
            length = "150" if c["steps"] <= 150 else "> 150"
            key = f"T {length}, {'above' if above else 'below'} the edge, {c['schedule']}"
            groups.setdefault(key, []).extend(errs)
            groups.setdefault("all", []).extend(errs)
            for e in comp["eps"]:
                if e["basis"] == "loss" and e["real"] and e["predicted"] is not None:
                    signed.setdefault(e["eps"], []).append((e["predicted"] - e["real"]) / e["real"])
            real = np.asarray(r["record"]["loss"], dtype=float)
            real_steps = np.asarray(r["record"]["eval_steps"], dtype=float)
            curve = np.asarray(pred["loss"], dtype=float)
            if c["steps"] <= 150 and c["schedule"] == "constant" and not above:
                for t in STEPS:
                    ratios[t].append(curve[t] / real[t])
            integer.extend(errs)
            for eps in c["eps"]:
                t_real = crossing(real_steps, real, eps)
                t_pred = crossing(np.arange(curve.size, dtype=float), curve, eps)
                if t_real:
                    interpolated.append(1.0 if t_pred is None else abs(t_pred - t_real) / t_real)
    print("(1) largest-error regimes: (case, eps) errors, p95, how many above 15% / 25%")
    for key, v in sorted(groups.items()):
        a = np.asarray(v)
        print(
            f"  {key:42s} {a.size:4d} p95 {np.percentile(a, 95):4.0%} median {np.median(a):4.0%} "
            f"> 15%: {int((a > 0.15).sum()):3d}  > 25%: {int((a > 0.25).sum()):3d}"
        )
    print("(2) signed error (predicted - real) / real per eps: median, share late (> 0), share early (< 0)")
    for eps, v in sorted(signed.items()):
        a = np.asarray(v)
        print(
            f"  eps {eps:4.2f}: {a.size} pairs, median {np.median(a):+.3f}, late {(a > 0).mean():.0%}, "
            f"early {(a < 0).mean():.0%}, 5-95% {np.percentile(a, 5):+.2f} .. {np.percentile(a, 95):+.2f}"
        )
    n = len(ratios[STEPS[0]])
    print(f"(3) predicted / real loss at step t, T = 150 constant-lr runs below the edge ({n} runs): median (10-90%)")
    for t, v in ratios.items():
        print(f"  t = {t:3d}: {np.median(v):.3f} ({np.percentile(v, 10):.3f} .. {np.percentile(v, 90):.3f})")
    print(
        f"(4) T_eps at the first step: p95 {np.percentile(integer, 95):.1%} median {np.median(integer):.1%} "
        f"({len(integer)} errors); at the interpolated crossing: p95 {np.percentile(interpolated, 95):.1%} "
        f"median {np.median(interpolated):.1%} ({len(interpolated)})"
    )


if __name__ == "__main__":
    main()
