"""Kernel updates with the path's weights also moved every S steps between them (``PredictConfig.path_stride``),
on cached bench cases.

For each case file (a `trainless bench` cases/*.json with kernel updates), only the kernel-updates prediction is
made again, with ``path_stride=S`` (``run_case(..., record=cached, only={"discrete+updates"})``: the case's own
update steps, kernel, batch orders and eps grid), and compared with the cached real run exactly as the bench
does; next to it the kernel-updates prediction without moves (``path_stride=None``: the cached one when the
bench made it so, as before the default became ``"auto"``, else made again) and the cached frozen-kernel one.
Nothing is trained; no constant is fitted.

Per suite and mode it prints the bench's pooled figures (``summarize``'s: median / p95 of the relative T_eps
errors on the loss, GD and SGD; median level and loss-at-T errors) and the trust table (packaged endpoint
ratio of the updates mode). Per case the new comparison and the prediction's trust inputs are kept in the
JSON next to the CSV (``--summary`` prints the figures again from it, nothing recomputed).

    python benchmarks/path_stride.py [CASE.json ...] [--stride 5] [--out CSV]   # default: every case of both suites
    python benchmarks/path_stride.py --summary                                   # figures from the saved JSON
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from fidelity_default import comparison_scores, repredict_updated  # the sibling script (benchmarks/ is on sys.path)
from trust_bands import calibrate

from trainless._io import write_csv, write_json
from trainless.bench._run import UPDATED, _figures, trust_table

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "results" / "path_stride.csv"
SUITES = ("bench/results/paper", "bench/results/unseen")


KEEP = ("options", "edge_ratio", "kernel_path", "endpoint", "trust", "seconds")


def _as_results(entries: list[dict], mode: str) -> list[dict]:
    """Saved entries in the shape of bench results (one comparison and prediction, of ``mode``)."""
    return [
        {
            "case_id": e["case_id"],
            "case": {"tag": e["tag"]},
            "comparisons": [e[mode]["comparison"] | {"engine": ENGINE[mode]}],
            "predictions": {ENGINE[mode]: e[mode]["prediction"]},
        }
        for e in entries
        if e[mode] is not None
    ]


def summarize_saved(saved: dict) -> None:
    """The bench's pooled figures and trust table per suite and mode, from the saved comparisons; for the
    stride, also the trust rule recalibrated on it (trust_bands.calibrate on the public suite, applied to both)."""
    by_suite: dict[str, list[dict]] = {}
    for suite in SUITES:
        name = Path(suite).name
        by_suite[name] = [e for e in saved.values() if e["suite"] == name]
    pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
    for name, entries in by_suite.items():
        for mode in ("frozen", "updates", "updates+stride"):
            comps = [(e["regime"], e[mode]["comparison"]) for e in entries if e[mode] is not None]
            if not comps:
                continue
            fig = _figures(comps)
            trust = trust_table(_as_results(entries, mode), ENGINE[mode])
            print(
                f"{name:7s} {mode:15s} cases {len(comps):2d}  GD {pct(fig['gd_rel_error_median'])} / "
                f"{pct(fig['gd_rel_error_p95'])}  SGD {pct(fig['sgd_rel_error_median'])} / "
                f"{pct(fig['sgd_rel_error_p95'])}  levels {pct(fig['abs_steps_rel_error_median'])}  loss at T "
                f"{pct(fig['final_loss_rel_error_median'])}  trust: bad {trust['bad_cases']}, flagged "
                f"{trust['flagged']}, hit rate {pct(trust['hit_rate'])}, false alarms {trust['false_alarms']}"
            )
    calibration = _as_results(by_suite.get("paper", []), "updates+stride")
    if calibration:
        ratio = calibrate(trust_table(calibration, UPDATED, threshold=math.inf))
        for name, entries in by_suite.items():
            if ratio is None or not entries:
                continue
            t = trust_table(_as_results(entries, "updates+stride"), UPDATED, threshold=ratio)
            print(
                f"{name:7s} stride, R recalibrated on paper = {ratio:.3g}: bad {t['bad_cases']}, flagged "
                f"{t['flagged']}, hit rate {pct(t['hit_rate'])}, false alarms {t['false_alarms']}"
            )


ENGINE = {"frozen": "discrete", "updates": UPDATED, "updates+stride": UPDATED}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", type=Path)
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--summary", action="store_true", help="print the figures from the saved JSON and stop")
    a = ap.parse_args()
    saved_path = a.out.with_suffix(".json")
    if a.summary:
        summarize_saved(json.loads(saved_path.read_text(encoding="utf-8")))
        return
    paths = a.cases or [p for suite in SUITES for p in sorted((ROOT / suite / "cases").glob("*.json"))]
    rows, saved = [], {}
    for path in paths:
        d = json.loads(path.read_text(encoding="utf-8"))
        cached = {c["engine"]: c for c in d["comparisons"]}
        if UPDATED not in cached:
            continue
        t0 = time.perf_counter()
        case, result, new = repredict_updated(d, {"path_stride": a.stride})
        seconds = time.perf_counter() - t0
        pred = result["predictions"][UPDATED]
        plain = (cached[UPDATED], d["predictions"][UPDATED])
        if d["predictions"][UPDATED]["options"].get("path_stride") is not None:
            _, again, comp = repredict_updated(d, {"path_stride": None})
            plain = (comp, again["predictions"][UPDATED])
        modes = {
            "frozen": (cached["discrete"], d["predictions"]["discrete"]),
            "updates": plain,
            "updates+stride": (new, pred),
        }
        saved[path.stem] = {
            "suite": path.parent.parent.name,
            "case_id": d["case_id"],
            "tag": case.tag,
            "regime": "gd" if case.batch_size == 0 else "sgd",  # as the bench's summarize (0: full batch)
            "real_seconds": sum(d["record"]["step_seconds"]),
        } | {
            mode: None if comp is None else {"comparison": comp, "prediction": {k: p.get(k) for k in KEEP}}
            for mode, (comp, p) in modes.items()
        }
        for mode, (comp, _) in modes.items():
            if comp is None:
                continue
            row = {"case": path.stem, "suite": path.parent.parent.name, "tag": case.tag, "data": case.data}
            row |= {"batch_size": case.batch_size, "momentum": case.momentum, "lr": result["lr"], "mode": mode}
            row |= {"stride": a.stride if mode == "updates+stride" else ""}
            row |= comparison_scores(comp)
            stride_row = mode == "updates+stride"
            row["trust_flags"] = " ".join(pred["trust"]["flags"]) if stride_row else ""
            row["prediction_seconds"] = seconds if stride_row else ""
            rows.append(row)
        s = comparison_scores(new) if new else {}
        c = comparison_scores(cached[UPDATED])
        print(
            f"{path.stem} {case.tag:10s} updates: T_eps max {c['eps_max']:.0%} final {c['final_loss_error']:.0%} | "
            f"stride {a.stride}: T_eps max {s.get('eps_max', float('nan')):.0%} final "
            f"{s.get('final_loss_error', float('nan')):.0%} [{seconds:.0f} s]",
            flush=True,
        )
        write_csv(a.out, rows)  # after every case: a long run leaves what it measured
        write_json(saved_path, saved)
    summarize_saved(saved)
    print(f"wrote {a.out} and {saved_path}")


if __name__ == "__main__":
    main()
