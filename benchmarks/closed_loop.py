"""Closed-loop prediction on the embedded default vs the open-loop one and the curve-extrapolation baseline.

For k observed real steps: the closed-loop prediction (re-linearized at w_k), and the baseline that fits
exp / power-law forms to the same k real points. Compared with the real run of the same configuration
(`trainless validate` output, same seeds). Prints a table and writes benchmarks/results/closed_loop.csv.

    python benchmarks/closed_loop.py --real benchmarks/results/validate/lr1e-3 --ks 10 25 50
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from trainless import FinetuneConfig, load_dataset, load_model
from trainless._io import write_csv
from trainless.bench import extrapolate
from trainless.dynamics import epsilon_time
from trainless.predict import PredictConfig, predict_closed_loop

EPS = (0.01, 0.05, 0.1, 0.2, 0.4)


def rel_errors(pred: np.ndarray, real: np.ndarray) -> list[float]:
    out = []
    for e in EPS:
        tr = epsilon_time(real, e)[0]
        tp = epsilon_time(pred, e)[0]
        if tr:
            out.append(1.0 if tp is None else abs(tp - tr) / tr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", required=True, help="a `trainless validate` output directory (run.json, prediction.json)")
    ap.add_argument("--ks", type=int, nargs="+", default=[10, 25, 50])
    ap.add_argument("--out", default="benchmarks/results/closed_loop.csv")
    a = ap.parse_args()
    run = json.loads((Path(a.real) / "run.json").read_text())
    open_loop = json.loads((Path(a.real) / "prediction.json").read_text())
    config = FinetuneConfig.from_dict(run["config"])
    real = np.array(run["loss"])
    steps = config.steps
    data = load_dataset(
        run["data"],
        classes=len(run["class_labels"]),
        per_class=run["n"] // len(run["class_labels"]),
        seed=0,
        resolution=64,
    )
    rows = [
        {
            "method": "open-loop",
            "k": 0,
            "mean_rel_error": float(np.mean(rel_errors(np.array(open_loop["loss"]), real))),
            "final_loss": open_loop["loss"][-1],
            "real_final_loss": real[-1],
            "seconds": open_loop["seconds"],
        }
    ]
    for k in a.ks:
        model = load_model(run["model"], len(run["class_labels"]), resolution=64, seed=config.seed)
        t0 = time.perf_counter()
        # The kernel frozen at w_k, as the committed results were measured (before kernel updates were the default).
        pred, observed = predict_closed_loop(model, data, config, k, PredictConfig(kernel_updates=()))
        seconds = time.perf_counter() - t0
        drift = float(np.max(np.abs(np.array(observed.loss) - real[: k + 1])))
        rows.append(
            {
                "method": "closed-loop",
                "k": k,
                "mean_rel_error": float(np.mean(rel_errors(np.array(pred.loss), real))),
                "final_loss": pred.loss[-1],
                "real_final_loss": real[-1],
                "seconds": seconds,
                "observed_vs_saved_max_abs": drift,
            }
        )
        base = extrapolate(real[:k], steps)
        rows.append(
            {
                "method": "extrapolation",
                "k": k,
                "mean_rel_error": None if base is None else float(np.mean(rel_errors(base, real))),
                "final_loss": None if base is None else float(base[-1]),
                "real_final_loss": real[-1],
                "seconds": 0.0,
            }
        )
        print(rows[-2], rows[-1], flush=True)
    keys = ["method", "k", "mean_rel_error", "final_loss", "real_final_loss", "seconds", "observed_vs_saved_max_abs"]
    print(write_csv(a.out, rows, keys))


if __name__ == "__main__":
    main()
