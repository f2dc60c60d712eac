"""Exploration: does the share of switched-off penultimate features at init say how far off a prediction will be?

The issue's item 1 asks for fidelity against the fraction of inactive units at init. At init many of the head's
inputs (ReLU6 channels, pooled) are exactly zero on target data far from ImageNet: 98% on the digits at 32 px, 66-74%
at 64-128 px, 54% on photos at 64 px. Units that are off switch on under tiny weight changes, which is the kernel
growth the frozen kernel misses. This measures, for every cached bench case, the share of exactly-zero penultimate
features over its training set (N x F, one forward pass at w0: measurable at init) and sets it beside the largest
relative T_eps error per case of the frozen kernel and of the default (auto), the loss at T's error, and the
kernel's growth along the predicted path (trace ratio at the last update). Cross-entropy, fresh heads.

    python benchmarks/explore/init_inactive.py bench/results/*/cases/*.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import itertools
import json
import statistics

import numpy as np
from fidelity_default import comparison_scores, load_cached_case

from trainless.bench import UPDATED
from trainless.bench._run import BAD_CASE, auto_comparison
from trainless.models import penultimate_features


def zero_share(d: dict) -> float:
    """The share of exactly-zero entries of the (N, F) penultimate features of a cached case's training set at w0."""
    *_, model, data = load_cached_case(d)
    feats = penultimate_features(model, data.x)
    return float((feats == 0).float().mean())


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    rows = []
    for p in map(Path, sys.argv[1:]):
        d = json.loads(p.read_text())
        case = d["case"]
        if case["loss"] != "ce" or case["head_start"] != "fresh" or UPDATED not in d["predictions"]:
            continue
        frozen = next(
            c for c in d["comparisons"] if c["engine"] == "discrete" and c.get("curve", "expected") == "expected"
        )
        auto = auto_comparison(d)
        if auto is None:
            continue
        share = zero_share(d)
        trace = d["predictions"][UPDATED].get("kernel_path") or [{}]
        row = {
            "suite": p.parent.parent.name,
            "case": p.stem[:8],
            "res": d["resolution"],
            "model": case["model"].replace("efficientnet-", ""),
            "data": case["data"],
            "momentum": case["momentum"] > 0,
            "share": share,
            "frozen": comparison_scores(frozen),
            "auto": comparison_scores(auto),
            "trace": trace[-1].get("trace_ratio", float("nan")),
        }
        rows.append(row)
        print(
            f"{row['suite']:9s} {row['case']} {row['model']:5s} {row['data']:8s} {row['res']:3d}px "
            f"{'mom' if row['momentum'] else '   '} zero {share:5.1%} | frozen largest {row['frozen']['eps_max']:5.0%} "
            f"loss at T {row['frozen']['final_loss_error']:6.0%} | auto largest {row['auto']['eps_max']:5.0%} "
            f"loss at T {row['auto']['final_loss_error']:5.0%} | trace {row['trace']:.2f}x",
            flush=True,
        )
    for label, chosen in (("all", rows), ("no momentum", [r for r in rows if not r["momentum"]])):
        shares = [r["share"] for r in chosen]
        print(f"\n{label} ({len(chosen)} cases): Spearman rank correlation of the zero share with")
        for mode in ("frozen", "auto"):
            largest = [r[mode]["eps_max"] for r in chosen]
            final = [r[mode]["final_loss_error"] for r in chosen]
            print(
                f"  {mode:6s}: largest T_eps error {spearman(shares, largest):+.2f}, "
                f"loss at T error {spearman(shares, final):+.2f}"
            )
        traced = [r for r in chosen if np.isfinite(r["trace"])]
        rho = spearman([r["share"] for r in traced], [r["trace"] for r in traced])
        print(f"  kernel trace ratio at the last update: {rho:+.2f}")
    # Within the range of every case at 36 px and above: does the share rank the default's error there?
    below = [r for r in rows if not r["momentum"] and r["share"] < 0.8]
    rho = spearman([r["share"] for r in below], [r["auto"]["eps_max"] for r in below])
    print(f"\nno momentum, below 80% zero ({len(below)} cases): Spearman with the auto largest T_eps error {rho:+.2f}")
    print("\nby zero share (no momentum): cases, auto bad / frozen bad, auto median largest, frozen loss at T error")
    edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    for lo, hi in itertools.pairwise(edges):
        b = [r for r in rows if not r["momentum"] and lo <= r["share"] < hi]
        if not b:
            continue
        auto_bad = sum(r["auto"]["eps_max"] > BAD_CASE for r in b)
        frozen_bad = sum(r["frozen"]["eps_max"] > BAD_CASE for r in b)
        print(
            f"  [{lo:.0%}, {hi:.0%}): {len(b):3d} cases, bad {auto_bad} / {frozen_bad}, auto median "
            f"{statistics.median(r['auto']['eps_max'] for r in b):.0%}, frozen loss at T "
            f"{statistics.median(r['frozen']['final_loss_error'] for r in b):.0%}"
        )


if __name__ == "__main__":
    main()
