"""Does the updated kernel's rate on the residual tell when the kernel-updates mode runs too fast?

For every case of the given bench result directories that has a kernel-updates prediction, that prediction is
made again (``run_case(..., record=cached, only={"discrete+updates"})``, the real run from the cache) to read
its kernel path's ``residual_rate`` (g Theta_t g / g Theta_0 g at the predicted outputs) next to
``trace_ratio``, and compared with the real run as the bench does: the signed relative error of the loss at T
((predicted - real) / real; negative: the prediction runs too fast) and the largest relative T_eps error on
the loss. Prints the rank correlation of the largest rate / trace ratio with the signed final-loss error.

    python benchmarks/residual_rate.py bench/results/paper   # -> results/residual_rate.csv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from fidelity_default import comparison_scores, repredict_updated  # the sibling script (benchmarks/ is on sys.path)
from scipy.stats import spearmanr

from trainless._io import write_csv
from trainless.bench import UPDATED

OUT = Path(__file__).resolve().parent / "results" / "residual_rate.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path, help="bench --out directories (their cases/*.json)")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    rows = []
    for directory in a.results:
        for path in sorted((directory / "cases").glob("*.json")):
            d = json.loads(path.read_text(encoding="utf-8"))
            if UPDATED not in d["predictions"] or d["record"]["status"] != "completed":
                continue
            # path_stride=None: the plain updates, as measured for docs/fidelity.md (the default now strides).
            case, result, comp = repredict_updated(d, {"path_stride": None})
            if comp is None:
                continue
            kp = result["predictions"][UPDATED]["kernel_path"]
            real = comp["final_loss_real"]
            row = {
                "suite": directory.name,
                "case": path.stem,
                "tag": case.tag,
                "batch_size": case.batch_size,
                "momentum": case.momentum,
                "final_loss_signed_error": (comp["final_loss_predicted"] - real) / real,
                "eps_max": comparison_scores(comp)["eps_max"],
                "residual_rate": " ".join(f"{r['residual_rate']:.2f}" for r in kp),
                "trace_ratio": " ".join(f"{r['trace_ratio']:.2f}" for r in kp),
                "max_residual_rate": max((r["residual_rate"] for r in kp), default=float("nan")),
                "max_trace_ratio": max((r["trace_ratio"] for r in kp), default=float("nan")),
            }
            rows.append(row)
            print(
                f"{path.stem} {case.tag:10s} final {row['final_loss_signed_error']:+.0%} "
                f"T_eps max {row['eps_max']:.0%} rates [{row['residual_rate']}] traces [{row['trace_ratio']}]",
                flush=True,
            )
    write_csv(a.out, rows)
    finite = [r for r in rows if np.isfinite(r["max_residual_rate"]) and np.isfinite(r["final_loss_signed_error"])]
    for key in ("max_residual_rate", "max_trace_ratio"):
        rho = spearmanr([r[key] for r in finite], [r["final_loss_signed_error"] for r in finite])
        print(
            f"{key} vs signed final-loss error: Spearman {rho.statistic:+.2f} (p {rho.pvalue:.2g}, {len(finite)} cases)"
        )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
