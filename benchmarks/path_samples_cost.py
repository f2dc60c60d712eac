"""What averaging weight paths (``PredictConfig.path_samples``) costs, on the quick start's default run.

The quick start's prediction (``trainless predict`` with no arguments: EfficientNet-Lite0, 5-class MNIST-5k at 64 px,
N = 150, full-batch GD, T = 150) is made with one path, then two, then one again (the repeat brackets the machine's
drift), back to back in one process, each from scratch as a user's call makes it (linearization included). Printed
and written to ``benchmarks/results/path_samples_cost.json``: each prediction's wall seconds, its own ``seconds``
and kernel seconds, the real run's estimated seconds (the timed optimizer steps x T) and the two-path cost over the
mean of the two one-path ones.

    python benchmarks/path_samples_cost.py
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import torch

from trainless._io import write_json
from trainless.cli import build_parser
from trainless.cli._predict import PredictJob, job_from_args, predict_config_from_args, run_predict

OUT = Path(__file__).resolve().parent / "results" / "path_samples_cost.json"


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, samples in enumerate((1, 2, 1)):
            args = build_parser().parse_args(
                ["predict", "--no-progress", "--path-samples", str(samples), "--out", f"{tmp}/{i}"]
            )
            job = PredictJob(job_from_args(args), predict_config_from_args(args))
            t0 = time.perf_counter()
            p = run_predict(job).prediction
            wall = time.perf_counter() - t0
            rows.append(
                {
                    "path_samples": p.options.path_samples,
                    "wall_seconds": wall,
                    "seconds": p.seconds,
                    "kernel_seconds": p.kernel_seconds,
                    "estimated_run_seconds": p.estimated_run_seconds,
                    "paths": len(p.path_losses) or 1,
                }
            )
            print(
                f"path_samples={samples}: {wall:.1f} s wall, prediction {p.seconds:.1f} s (kernels "
                f"{p.kernel_seconds:.1f} s), real run estimated {p.estimated_run_seconds:.1f} s",
                flush=True,
            )
    one = (rows[0]["wall_seconds"] + rows[2]["wall_seconds"]) / 2
    ratio = rows[1]["wall_seconds"] / one
    print(f"two paths cost {ratio:.2f}x one path (wall, against the mean of the two one-path runs)")
    write_json(
        OUT,
        {
            "rows": rows,
            "two_over_one": ratio,
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
            "date": time.strftime("%Y-%m-%d"),
        },
    )


if __name__ == "__main__":
    main()
