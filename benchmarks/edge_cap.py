"""Kernel updates with and without the edge cap (``PredictConfig.edge_cap``) on cached benchmark cases.

For each case file (a `trainless bench` cases/*.json whose kernel-updates prediction met a kernel past the
linearized stability edge), the model, data and config are rebuilt from the case, the kernel at w0 is
computed once, and the updated prediction is made with the case's own update steps, cap off and on. Each is
scored against the case's cached real run: relative T_eps error on the loss at eps {1, 5, 10, 20, 40}% and
the relative error of the loss at T. Nothing is trained.

    python benchmarks/edge_cap.py bench/results/paper/cases/4166348ad1f3.json ...   # -> results/edge_cap.csv
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fidelity_default import case_arguments, eps_errors  # the sibling script (benchmarks/ is on sys.path)

from trainless import FinetuneConfig
from trainless._io import write_csv
from trainless.finetune import load_model_and_data
from trainless.kernel import KernelConfig
from trainless.predict import PredictConfig, linearize, predict_from

OUT = Path(__file__).resolve().parent / "results" / "edge_cap.csv"


def main() -> None:
    a = case_arguments(__doc__, OUT)
    rows = []
    for path in a.cases:
        d = json.loads(path.read_text(encoding="utf-8"))
        case, rec = d["case"], d["record"]
        cached = d["predictions"]["discrete+updates"]
        config = FinetuneConfig.from_dict(rec["config"])
        real = np.array(rec["loss"])
        model, data, _ = load_model_and_data(
            case["model"],
            case["data"],
            classes=case["classes"],
            per_class=case["per_class"],
            resolution=d["resolution"],
            data_seed=case["data_seed"],
            seed=config.seed,
        )
        kernel = KernelConfig(**cached["options"]["kernel"])
        updates = tuple(cached["options"]["kernel_updates"])
        lin = linearize(model, data, config, PredictConfig(kernel=kernel, timing_steps=0))
        for cap in (False, True):
            # path_stride=None: the plain updates, as measured for docs/fidelity.md (the default now strides).
            opts = PredictConfig(kernel=kernel, kernel_updates=updates, edge_cap=cap, timing_steps=0, path_stride=None)
            pred = predict_from(lin, config, opts, model=model, data=data)
            loss = np.array(pred.loss)
            errs = eps_errors(loss, real)
            row = {
                "case": path.stem,
                "tag": case["tag"],
                "edge_cap": cap,
                "eps_rel_error_median": float(np.median(errs)),
                "eps_rel_error_max": float(np.max(errs)),
                "final_loss_pred": float(loss[-1]),
                "final_loss_real": float(real[-1]),
                "final_loss_rel_error": abs(float(loss[-1]) - float(real[-1])) / float(real[-1]),
                "edge_ratios": " ".join(f"{r['edge_ratio']:.2f}" for r in pred.kernel_path),
                "scales": " ".join(f"{r['scale']:.2f}" for r in pred.kernel_path),
                "flags": " ".join(pred.trust["flags"]),
            }
            rows.append(row)
            print(
                f"{path.stem} {case['tag']:10s} cap={cap!s:5s} T_eps median {row['eps_rel_error_median']:.1%} max "
                f"{row['eps_rel_error_max']:.1%}  final {row['final_loss_pred']:.3f} vs {row['final_loss_real']:.3f} "
                f"({row['final_loss_rel_error']:.0%})  edge ratios [{row['edge_ratios']}] scales [{row['scales']}]",
                flush=True,
            )
    write_csv(a.out, rows)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
