"""The closed loop on the cached runs of the held-out suites, per regime: k real steps observed, the rest predicted
from w_k (under momentum with torch's momentum buffer carried into function space), against the open-loop default
and the curve-extrapolation baseline fitted to the same k steps. What is measured was fixed before the first case
ran: ``benchmarks/results/closed_loop_momentum_plan.md`` (momentum runs) and
``benchmarks/results/closed_loop_gd_sgd_plan.md`` (full-batch GD and plain SGD).

    python benchmarks/closed_loop_held_out.py --regime sgd-momentum-ce --ks 10 20 40 --stop-at 11:45 \\
        bench/results/{longer,unseen,unseen2,...,unseen52,practice,plainsgd,mseedge}

``--regime`` is the bench's :func:`~trainless.predict.trust_regime` of the runs taken (cross-entropy, fresh head):
``sgd-momentum-ce`` (every T), ``sgd-ce`` and ``gd-ce`` (T = 150 only, the length the k are shares of). Per case and k
one line; then the pooled figures. Writes ``benchmarks/results/closed_loop_<regime>.csv`` (one row per case, k and
method; ``closed_loop_momentum.csv`` for momentum, its name before the other regimes) and prints the summary (kept
as ``closed_loop_momentum.txt``, ``closed_loop_gd_sgd.txt``). ``--bands-out`` also writes the closed loop's pooled
bands per k, which ``benchmarks/trust_bands.py --closed-loop`` packages (one file per regime) for the trust signal of
a closed-loop prediction:

    python benchmarks/closed_loop_held_out.py --regime sgd-momentum-ce --ks 10 20 40 --kept-only \
        --bands-out benchmarks/results/closed_loop_bands_momentum.json bench/results/{longer,unseen,...,mseedge}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity_default import EPS, fresh_ce_cases, load_cached_case, until_stop

from trainless._io import write_csv, write_json
from trainless.bench import MISSED_EPS_ERROR, extrapolate
from trainless.bench._run import auto_comparison, result_regime
from trainless.dynamics import epsilon_time
from trainless.models import HeadStart
from trainless.predict import PredictConfig, predict_closed_loop

# the regimes measured, and the one run length T each takes (None: every length)
REGIMES = {"sgd-momentum-ce": None, "sgd-ce": 150, "gd-ce": 150}
OUT_NAME = {"sgd-momentum-ce": "closed_loop_momentum.csv"}
DEFAULT_KEEP = Path("bench/results/closedloop")
FROZEN_KEEP = Path("bench/results/closedloop_frozen")


def scored(curve: np.ndarray, real: np.ndarray, k: int) -> tuple[list[float], list[float]]:
    """Relative T_eps errors on the loss (the bench's: a missed eps counts ``MISSED_EPS_ERROR``), all of them and
    those whose real T_eps is after k (0 for the open loop: all)."""
    every, after = [], []
    for e in EPS:
        tr, tp = epsilon_time(real, e)[0], epsilon_time(curve, e)[0]
        if not tr:
            continue
        err = MISSED_EPS_ERROR if tp is None else abs(tp - tr) / tr
        every.append(err)
        if tr > k:
            after.append(err)
    return every, after


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--ks", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--stop-at", default=None, help="start no case after this UTC time of day (HH:MM)")
    ap.add_argument(
        "--regime",
        choices=sorted(REGIMES),
        default="sgd-momentum-ce",
        help="the runs taken (the bench's trust_regime; cross-entropy, fresh head)",
    )
    ap.add_argument("--out", type=Path, default=None, help="the csv (default: by regime, under benchmarks/results/)")
    ap.add_argument("--kept-only", action="store_true", help="predict nothing: score the cases kept under --keep")
    ap.add_argument(
        "--max-drift",
        type=float,
        default=None,
        help="leave out cases whose observed prefix differs from the cached real run by more than this (the loss): "
        "the closed loop then continues another real run than the one it is scored against",
    )
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="each case's closed-loop curves are kept here (SUITE/CASE.json) and read back when run again (default "
        f"{DEFAULT_KEEP}, with --frozen {FROZEN_KEEP})",
    )
    ap.add_argument(
        "--frozen",
        action="store_true",
        help="the closed loop with the kernel frozen at w_k (kernel_updates=()), kept apart (closedloop_frozen/); "
        "the default closed loop's kept curves of the same runs, and the cached frozen open loop (the kernel frozen "
        "at w0), are scored beside it (closed_loop_gd_frozen_plan.md)",
    )
    ap.add_argument(
        "--levels-after",
        type=int,
        default=None,
        help="score every method (the open loop too) on the eps levels the real run reaches after this step, not each "
        "k's own: the k compared on the same levels (not with --bands-out, whose bands are per k's own levels)",
    )
    ap.add_argument(
        "--bands-out",
        type=Path,
        default=None,
        help="also write the closed loop's pooled bands per k here (JSON), for benchmarks/trust_bands.py --closed-loop",
    )
    a = ap.parse_args()
    if a.levels_after is not None and a.bands_out is not None:
        ap.error("--levels-after and --bands-out: a band is scored on the levels after its own k")
    if a.levels_after is not None and a.levels_after < max(a.ks):
        ap.error(f"--levels-after {a.levels_after} is before the last observed step (--ks {max(a.ks)})")
    cases = [p for p, d in fresh_ce_cases(a.suites, REGIMES[a.regime]) if result_regime(d) == a.regime]
    print(f"# {len(cases)} {a.regime} runs selected from {len(a.suites)} suites, in case-id order", flush=True)
    keep_dir = a.keep or (FROZEN_KEEP if a.frozen else DEFAULT_KEEP)
    csv_name = OUT_NAME.get(a.regime, f"closed_loop_{a.regime}.csv")
    out = a.out or Path("benchmarks/results") / (csv_name.replace(".csv", "_frozen.csv") if a.frozen else csv_name)
    method = "frozen closed loop" if a.frozen else "closed loop"
    rows: list[dict] = []
    steps_seen: set[int] = set()
    pooled: dict[tuple[str, int], dict[str, list[float]]] = {}

    def pool(method: str, k: int, curve: np.ndarray, real: np.ndarray) -> dict[str, float]:
        every, after = scored(curve, real, k if a.levels_after is None else a.levels_after)
        acc = pooled.setdefault((method, k), {"every": [], "after": [], "final": [], "max": [], "ratio": []})
        final = abs(curve[-1] - real[-1]) / real[-1]
        acc["every"] += every
        acc["after"] += after
        acc["final"].append(final)
        acc["ratio"].append(curve[-1] / real[-1])
        acc["max"].append(max(every) if every else float("nan"))
        return {"max": max(every) if every else float("nan"), "final": final}

    for p in until_stop(cases, a.stop_at):
        d = json.loads(p.read_text(encoding="utf-8"))
        real = np.asarray(d["record"]["loss"], dtype=float)
        comp = auto_comparison(d)
        if comp is None or len(real) != d["case"]["steps"] + 1:
            continue
        keep = keep_dir / p.parent.parent.name / f"{p.stem}.json"
        kept = json.loads(keep.read_text(encoding="utf-8")) if keep.is_file() else {}
        if a.kept_only and not all(str(k) in kept for k in a.ks):
            continue
        if a.max_drift is not None and any(kept.get(str(k), {}).get("drift", 0.0) > a.max_drift for k in a.ks):
            print(f"{p.stem[:8]} left out: its observed prefix drifts from the cached run", flush=True)
            continue
        steps = d["case"]["steps"]
        steps_seen.add(steps)
        open_loop = np.asarray(d["predictions"][comp["engine"]]["loss"], dtype=float)
        s = pool("open loop", 0, open_loop, real)
        for k in a.ks:
            # the open loop on the levels each k is scored on (those the real run reaches after it), for its band
            pool("open loop", k, open_loop, real)
        lr = d["record"]["config"]["lr"]
        line = [f"{p.stem[:8]} {p.parent.parent.name} N={d['n']} B={d['case']['batch_size']} lr={lr:g}:"]
        line.append(f"open {s['max']:.0%} (T {s['final']:.0%})")
        rows.append({"case": p.stem, "suite": p.parent.parent.name, "method": "open loop", "k": 0, **s})
        if a.frozen and "discrete" in d["predictions"]:
            # the paper's open loop (the kernel frozen at w0), at about the frozen closed loop's cost
            s = pool("frozen open loop", 0, np.asarray(d["predictions"]["discrete"]["loss"], dtype=float), real)
            cost = {"seconds": d["predictions"]["discrete"]["seconds"], "real_seconds": d["record"]["total_seconds"]}
            rows.append(
                {"case": p.stem, "suite": p.parent.parent.name, "method": "frozen open loop", "k": 0, **s, **cost}
            )
            line.append(f"frozen open {s['max']:.0%} (T {s['final']:.0%})")
        for k in a.ks:
            if str(k) not in kept:
                case, config, kconf, model, data = load_cached_case(d)
                t0 = time.perf_counter()
                pred, observed = predict_closed_loop(
                    model,
                    data,
                    config,
                    k,
                    PredictConfig(kernel=kconf, kernel_updates=()) if a.frozen else PredictConfig(kernel=kconf),
                    trainable=case.trainable,
                    head_start=HeadStart(case.head_start),
                )
                kept[str(k)] = {
                    "loss": list(pred.loss),
                    "seconds": time.perf_counter() - t0,
                    "drift": float(np.max(np.abs(np.asarray(observed.loss[:k]) - real[:k]))),
                }
                keep.parent.mkdir(parents=True, exist_ok=True)
                write_json(keep, kept)
            seconds, drift = kept[str(k)]["seconds"], kept[str(k)]["drift"]
            closed = np.asarray(kept[str(k)]["loss"], dtype=float)
            s = pool(method, k, closed, real)
            rows.append(
                {
                    "case": p.stem,
                    "suite": p.parent.parent.name,
                    "method": method,
                    "k": k,
                    **s,
                    "seconds": seconds,
                    "real_seconds": d["record"]["total_seconds"],
                    "prefix_drift": drift,
                }
            )
            fit = extrapolate(real[:k], steps)
            line.append(f"| k={k} {method} {s['max']:.0%} (T {s['final']:.0%}, {seconds:.0f} s, drift {drift:.1g})")
            default = DEFAULT_KEEP / p.parent.parent.name / f"{p.stem}.json"
            if a.frozen and default.is_file() and str(k) in (paired := json.loads(default.read_text("utf-8"))):
                s = pool("closed loop", k, np.asarray(paired[str(k)]["loss"], dtype=float), real)
                rows.append({"case": p.stem, "suite": p.parent.parent.name, "method": "closed loop", "k": k, **s})
                line.append(f"default {s['max']:.0%} (T {s['final']:.0%}, {paired[str(k)]['seconds']:.0f} s)")
            if fit is not None:
                fit = np.concatenate([real[:k], fit[k:]])
                s = pool("extrapolation", k, fit, real)
                rows.append({"case": p.stem, "suite": p.parent.parent.name, "method": "extrapolation", "k": k, **s})
                line.append(f"extrap {s['max']:.0%} (T {s['final']:.0%})")
        print(" ".join(line), flush=True)
    fields = ["case", "suite", "method", "k", "max", "final", "seconds", "real_seconds", "prefix_drift"]
    write_csv(out, rows, fields)
    print(f"# {len({r['case'] for r in rows})} cases; relative T_eps error on the loss, pooled over (case, eps):")
    for (name, k), acc in sorted(pooled.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        after, cut = acc["after"], "k" if a.levels_after is None else a.levels_after
        print(
            f"{name:>13} k={k:>2}: all eps p95 {np.percentile(acc['every'], 95):.1%} median "
            f"{statistics.median(acc['every']):.1%} ({len(acc['every'])}); eps after {cut} p95 "
            f"{np.percentile(after, 95) if after else float('nan'):.1%} median "
            f"{statistics.median(after) if after else float('nan'):.1%} ({len(after)}); largest per case median "
            f"{statistics.median(acc['max']):.1%}; loss at T median {statistics.median(acc['final']):.1%}"
        )
    for name, k in sorted({(r["method"], r["k"]) for r in rows if "seconds" in r}, key=lambda mk: (mk[1], mk[0])):
        seconds = [r["seconds"] / r["real_seconds"] for r in rows if (r["method"], r["k"]) == (name, k)]
        print(f"cost of the {name} (k={k}) against the real run: median {statistics.median(seconds):.2f}x")
    if a.bands_out is not None:
        write_json(a.bands_out, closed_loop_bands(pooled, rows, a, sorted(steps_seen), method))
        print(f"wrote {a.bands_out}")


def closed_loop_bands(
    pooled: dict, rows: list[dict], a: argparse.Namespace, steps: list[int], method: str = "closed loop"
) -> dict:
    """The pooled figures a closed-loop prediction quotes: per k, the relative T_eps errors of the eps levels the
    real run reaches after the k observed steps (those before score exactly), and the loss at T; the open loop's
    beside them, and on which side of the real loss at T the predictions end. ``steps``: the runs' lengths T the k
    were observed of; ``method``: the closed loop's row name (``"frozen closed loop"`` with ``--frozen``)."""

    def band(acc: dict[str, list[float]], cases: int, cost: list[float] | None = None, k: int = 0) -> dict:
        after, same = acc["after"], pooled[("open loop", k)]["after"] if k else []
        return {
            "cases": cases,
            "pairs": len(after),
            "p95": float(np.percentile(after, 95)) if after else None,
            "median": float(statistics.median(after)) if after else None,
            "loss_at_T_median": float(statistics.median(acc["final"])),
            # which side of the real loss at T the prediction ends on: predicted / real
            "loss_at_T_above": int(sum(r > 1 for r in acc["ratio"])),
            "loss_at_T_ratio_median": float(statistics.median(acc["ratio"])),
            # the prediction's seconds over the real run's (the observed steps included), median over the runs
            **({"cost_median": float(statistics.median(cost))} if cost else {}),
            # the open loop from w0 scored on the same levels (those the real run reaches after k), for a fair compare
            **(
                {"open_loop_same_levels": {"p95": float(np.percentile(same, 95)), "median": statistics.median(same)}}
                if same
                else {}
            ),
        }

    def count(method: str, k: int) -> int:
        return len({r["case"] for r in rows if r["method"] == method and r["k"] == k})

    def cost(method: str, k: int) -> list[float]:
        return [
            r["seconds"] / r["real_seconds"] for r in rows if (r["method"], r["k"]) == (method, k) and "seconds" in r
        ]

    return {
        # what the cases were: the regime (trust_regime's name) and the suites they came from
        "regime": a.regime,
        "suites": [s.name for s in a.suites],
        "steps": steps,
        "max_drift": a.max_drift,
        # PredictConfig.kernel_updates of the closed loop measured ("none": frozen at w_k), which trust_bands.py keys on
        "kernel_updates": "none" if a.frozen else "auto",
        "open_loop": band(pooled[("open loop", 0)], count("open loop", 0)),
        "observed": {
            str(k): band(pooled[(method, k)], count(method, k), cost(method, k), k)
            for k in a.ks
            if (method, k) in pooled
        },
    }


if __name__ == "__main__":
    main()
