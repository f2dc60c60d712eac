"""Time real fine-tuning on this machine: one optimizer step and a whole GD run, with peak memory.

Default: EfficientNet-Lite0 (ImageNet weights), 5-class MNIST-5k subset, N = 150 (30 per class),
full-batch GD, lr 1e-3, cross-entropy, 150 steps, at 32 and 64 px. Each resolution runs in a fresh
subprocess so that its peak RSS is its own. Writes benchmarks/results/finetune_timing.csv and .json and
prints a table.

    .venv/bin/python benchmarks/finetune_timing.py [--steps 150] [--resolutions 32 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def one(resolution: int, steps: int, per_class: int) -> dict:
    import torch

    import trainless as tl

    data = tl.load_dataset("mnist5k", classes=5, per_class=per_class, seed=0, resolution=resolution)
    model = tl.load_model("efficientnet-lite0", data.num_classes, resolution=resolution, seed=0)
    rec = tl.finetune(model, data, tl.FinetuneConfig(lr=1e-3, steps=steps))
    s = sorted(rec.step_seconds)
    return {
        "model": "efficientnet-lite0",
        "resolution_px": resolution,
        "n": rec.n,
        "classes": len(rec.class_labels),
        "steps": rec.steps_run,
        "step_seconds_median": s[len(s) // 2],
        "step_seconds_min": s[0],
        "step_seconds_max": s[-1],
        "gd_run_seconds": sum(rec.step_seconds),
        "eval_seconds": rec.eval_seconds,
        "peak_rss_mib": rec.peak_rss_mib,
        "initial_loss": rec.loss[0],
        "final_loss": rec.final_loss,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--per-class", type=int, default=30)
    ap.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        print(json.dumps(one(a.child, a.steps, a.per_class)))
        return
    rows = []
    for r in a.resolutions:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(r), "--steps", str(a.steps), "--per-class", str(a.per_class)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"{row['resolution_px']:>4} px  N={row['n']}  step median {row['step_seconds_median']:.3f} s "
            f"(min {row['step_seconds_min']:.3f}, max {row['step_seconds_max']:.3f})  "
            f"{row['steps']}-step GD run {row['gd_run_seconds']:.1f} s  peak RSS {row['peak_rss_mib']:.0f} MiB  "
            f"loss {row['initial_loss']:.3f} -> {row['final_loss']:.3f}",
            flush=True,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    from trainless._io import write_csv, write_json

    write_csv(RESULTS / "finetune_timing.csv", rows)
    write_json(RESULTS / "finetune_timing.json", rows)


if __name__ == "__main__":
    main()
