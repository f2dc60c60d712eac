"""Exploration: does another statistic of the endpoint check tell the bad predictions from the good ones better
than the loss ratio the trust signal uses?

At the predicted final weights the endpoint check records the real network's loss (``loss_real``), the
linearized one (``loss_linear``), the output gap and the share of ReLU/ReLU6 units that switched piece. The
``endpoint`` flag compares loss_real / loss_linear with R; near the end of a run the predicted loss is tiny, so
the ratio is large for predictions that are fine (56 false alarms among 108 good held-out cases, 2026-12-05).
Four statistics, each with the trust signal's fixed rule (``trust_bands.midpoint_threshold`` on the calibration
suite's cases the edge flag does not catch; the flag is edge OR statistic above the threshold):

- ``ratio``: loss_real / loss_linear (the signal's own);
- ``excess``: (loss_real - loss_linear) / (L0 - loss_linear), the real network's excess as a share of the
  predicted decrease, the normalization of the T_eps metric;
- ``gap``: the output gap (the older rule's quantity);
- ``flip``: the share of units that switched piece.

Printed per statistic: its threshold, the hits and false alarms on the calibration suite and on the held-out
pool, and (not a rule: chosen on the held-out pool itself) the fewest false alarms any threshold gives while
flagging 90% of the held-out bad cases, which bounds what the statistic could do. Cross-entropy cases, the mode
``--kernel-updates auto`` gives (``discrete+updates/auto``); nothing is run. The log is in
benchmarks/results/explore/endpoint_statistics.txt.

    python benchmarks/explore/endpoint_statistics.py bench/results/paper --held-out bench/results/longer \
        bench/results/unseen{,2,...,35} bench/results/{practice,plainsgd}
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trust_bands import midpoint_threshold

from trainless.bench._run import BAD_CASE, auto_comparison, scored_eps_errors
from trainless.predict._trust import endpoint_ratio, largest_edge_ratio

STATISTICS = ("ratio", "excess", "gap", "flip")


def rows(dirs: list[Path]) -> list[dict]:
    out = []
    for d in dirs:
        for f in sorted((d / "cases").glob("*.json")):
            r = json.loads(f.read_text(encoding="utf-8"))
            comp = auto_comparison(r) if r["case"]["loss"] == "ce" else None
            errs = scored_eps_errors(comp) if comp is not None else []
            pred = r["predictions"][comp["engine"]] if errs else {}
            end = pred.get("endpoint")
            if end is None:
                continue
            edge = largest_edge_ratio(pred.get("edge_ratio"), pred.get("kernel_path") or ())
            l0, lin, real = pred["loss"][0], end["loss_linear"], end["loss_real"]
            out.append(
                {
                    "bad": max(errs) > BAD_CASE,
                    "edge": edge is not None and edge > 1.0,
                    "ratio": endpoint_ratio(end),
                    "excess": (real - lin) / max(l0 - lin, 1e-12),
                    "gap": end["output_gap"],
                    "flip": end["flip_fraction"],
                }
            )
    return out


def score(rs: list[dict], stat: str, threshold: float) -> tuple[int, int, int, int]:
    """(bad cases, flagged bad, good cases, flagged good) with the flag edge OR stat > threshold."""
    flagged = [r["edge"] or r[stat] > threshold for r in rs]
    bad = sum(r["bad"] for r in rs)
    hits = sum(f and r["bad"] for f, r in zip(flagged, rs, strict=True))
    alarms = sum(f and not r["bad"] for f, r in zip(flagged, rs, strict=True))
    return bad, hits, len(rs) - bad, alarms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calibration", type=Path)
    ap.add_argument("--held-out", nargs="+", type=Path, required=True)
    a = ap.parse_args()
    cal, held = rows([a.calibration]), rows(a.held_out)
    for stat in STATISTICS:
        threshold = midpoint_threshold(
            [r[stat] for r in cal if r["bad"] and not r["edge"]], [r[stat] for r in cal if not r["bad"]]
        )
        if threshold is None:
            continue
        line = f"{stat:7s} threshold {threshold:.4g}"
        for name, rs in (("calibration", cal), ("held-out", held)):
            bad, hits, good, alarms = score(rs, stat, threshold)
            line += f" | {name} hits {hits} of {bad}, false alarms {alarms} of {good}"
        # Not a rule: the best any threshold could do on the held-out pool at a 90% hit rate.
        feasible = []
        for t in sorted({r[stat] for r in held}):
            bad, hits, _, alarms = score(held, stat, t * (1 - 1e-12))
            if hits >= 0.9 * bad:
                feasible.append(alarms)
        line += f" | best at 90% held-out hits: {min(feasible) if feasible else '-'} false alarms"
        print(line, flush=True)


if __name__ == "__main__":
    main()
