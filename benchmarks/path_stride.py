"""Kernel updates with the path's weights also moved every S steps between them (``PredictConfig.path_stride``),
on cached bench cases.

For each case file (a `trainless bench` cases/*.json with kernel updates), only the kernel-updates prediction is
made again, with ``path_stride=S`` (``run_case(..., record=cached, only={"discrete+updates"})``: the case's own
update steps, kernel, batch orders and eps grid), and compared with the cached real run exactly as the bench
does; next to it the cached kernel-updates prediction (``path_stride=None``, the default, whose code path is
unchanged) and the cached frozen-kernel one. Nothing is trained; no constant is fitted.

    python benchmarks/path_stride.py [CASE.json ...] [--stride 5] [--out CSV]   # default: every case of both suites
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from fidelity_default import comparison_scores, repredict_updated  # the sibling script (benchmarks/ is on sys.path)

from trainless._io import write_csv
from trainless.bench import UPDATED

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "results" / "path_stride.csv"
SUITES = ("bench/results/paper", "bench/results/unseen")


def _medians(rows: list[dict]):
    """key -> the median of rows[key] over the rows where it is not NaN."""
    return lambda key: statistics.median(r[key] for r in rows if r[key] == r[key])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", type=Path)
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    paths = a.cases or [p for suite in SUITES for p in sorted((ROOT / suite / "cases").glob("*.json"))]
    rows = []
    for path in paths:
        d = json.loads(path.read_text(encoding="utf-8"))
        cached = {c["engine"]: c for c in d["comparisons"]}
        if UPDATED not in cached:
            continue
        t0 = time.perf_counter()
        case, result, new = repredict_updated(d, {"path_stride": a.stride})
        seconds = time.perf_counter() - t0
        pred = result["predictions"][UPDATED]
        for mode, comp in (("frozen", cached["discrete"]), ("updates", cached[UPDATED]), ("updates+stride", new)):
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
    for suite in SUITES:
        name = Path(suite).name
        for mode in ("frozen", "updates", "updates+stride"):
            sel = [r for r in rows if r["suite"] == name and r["mode"] == mode]
            if sel:
                med = _medians(sel)
                print(
                    f"{name:7s} {mode:15s} cases {len(sel):2d}  median: largest T_eps {med('eps_max'):.0%}, "
                    f"levels {med('levels_median'):.0%}, loss at T {med('final_loss_error'):.0%}"
                )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
