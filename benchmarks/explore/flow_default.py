"""Exploration: every cached momentum case predicted again with the kernel updates along the gradient-flow path,
the default with momentum since 2026-12-04 (``PredictConfig(update_path="auto")``), against the frozen kernel (the
default before) and the updates along the run's own path (the cached prediction before, read from git).

Made by ``trainless bench bench/suites/S.toml --out bench/results/S --repredict --only discrete+updates --cases
<the suite's momentum cases>``; this script only reads the case files. Per case: the largest relative T_eps error on
the loss, the median level-time error and the relative error of the loss at T, for the frozen prediction
(``discrete``), the own-path updates (``discrete+updates`` at ``--before``) and the flow-path ones (now), the edge
ratio at w0 and whether the case was in the screen the mode was chosen on (``momentum_flow_path.txt``: 14 runs)
or in its held-out check (unseen30: 6 runs); the rest were predicted with it here for the first time. ``rule``: the
flow where the edge ratio at w0 is at most 0.5, the frozen kernel above (what the 44 suggested), held out on
unseen31 (``rule-held-out``; no own-path prediction there).
Kept as run; log in benchmarks/results/explore/flow_default.txt. Outcome: not made the default (the tail near the
stability edge; docs/fidelity.md).

    python benchmarks/explore/flow_default.py [--before COMMIT] bench/results/*/cases/*.json
"""

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import comparison_scores, expected

SCREEN = {"845a18fd", "a22e763b", "dc80fb11", "7ea1ec64", "df90be4f", "1e5640c2", "27eac66a", "29410e56"}
SCREEN |= {"3bf10a32", "f1c39ea7", "bbed6aab", "15ad1f49", "77a42be4", "d24a202a"}
HELD_OUT = {"1f3273bf", "1f420994", "6a41c183", "7bf8e901", "981b51cc", "e42b0e6b"}
MODES = ("frozen", "own", "flow", "rule")
RULE_EDGE = 0.5  # the rule the 44 runs suggested: the flow where the edge ratio at w0 is at most this, else frozen
RULE_HELD_OUT = {"unseen31"}  # written to hold the rule out, after it was drawn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--before", default="83c41d2", help="the commit whose cached updated predictions took the own path")
    a = ap.parse_args()
    pooled: dict[str, dict[str, list[float]]] = {}
    for path in a.cases:
        now = json.loads(path.read_text(encoding="utf-8"))
        if not now["case"].get("momentum"):
            continue
        made = now["predictions"]["discrete+updates"]["options"].get("update_path", "own")
        if made != "flow":
            print(f"{path.parent.parent.name:9} {path.stem[:8]} not predicted again yet (updates along {made!r})")
            continue
        edge = now["predictions"]["discrete"]["edge_ratio"]
        scores = {"frozen": comparison_scores(expected(now, "discrete"))}
        shown = subprocess.run(["git", "show", f"{a.before}:{path}"], capture_output=True)
        if shown.returncode == 0:  # a case run after --before has no own-path prediction
            scores["own"] = comparison_scores(expected(json.loads(shown.stdout), "discrete+updates"))
        scores["flow"] = comparison_scores(expected(now, "discrete+updates"))
        scores["rule"] = scores["flow"] if edge <= RULE_EDGE else scores["frozen"]
        group = "screen" if path.stem[:8] in SCREEN else "held-out" if path.stem[:8] in HELD_OUT else "new"
        group = "rule-held-out" if path.parent.parent.name in RULE_HELD_OUT else group
        c = now["case"]
        print(
            f"{path.parent.parent.name:9} {path.stem[:8]} {group:8} {c['model'][-5:]} N={now['n']} B={c['batch_size']} "
            f"lr={now['lr']:.2g} edge {edge:.2f} | "
            + " | ".join(
                f"{m} max {s['eps_max']:.0%} lv {s['levels_median']:.0%} T {s['final_loss_error']:.0%}"
                for m, s in scores.items()
            )
        )
        for g in (group,) if group == "rule-held-out" else (group, "all"):  # "all": the 44 cached before
            for m, s in scores.items():
                for k in ("eps_max", "levels_median", "final_loss_error"):
                    if k == "eps_max" or math.isfinite(s[k]):  # no levels where the real run diverged
                        pooled.setdefault(f"{g}/{m}", {}).setdefault(k, []).append(s[k])
    for g in ("screen", "held-out", "new", "rule-held-out", "all"):
        if f"{g}/flow" not in pooled:
            continue
        flow, frozen = pooled[f"{g}/flow"]["eps_max"], pooled[f"{g}/frozen"]["eps_max"]
        better = sum(f < z - 0.02 for f, z in zip(flow, frozen, strict=True))
        worse = sum(f > z + 0.02 for f, z in zip(flow, frozen, strict=True))
        print(f"{g}: {len(flow)} cases; flow vs frozen largest error better {better}, worse {worse} (2-point margin)")
        for m in (m for m in MODES if f"{g}/{m}" in pooled):
            p = pooled[f"{g}/{m}"]
            q95 = sorted(p["eps_max"])[min(len(p["eps_max"]) - 1, round(0.95 * (len(p["eps_max"]) - 1)))]
            print(
                f"  {m:6} largest per case median {statistics.median(p['eps_max']):.0%} p95 {q95:.0%}, levels median "
                f"{statistics.median(p['levels_median']):.0%}, "
                f"loss at T median {statistics.median(p['final_loss_error']):.0%}"
            )


if __name__ == "__main__":
    main()
