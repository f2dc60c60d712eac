"""Exploration (2026-12-07): what the exact kernel's column groups and a CountSketch cost at N = 250, alone.

A profile taken beside a running suite had the exact kernel of EfficientNet-Lite1 at 64 px, N = 250, C = 5, take 194 s
in two column groups under the 4096 MiB budget against CountSketch's 90 s, and blamed the second group (every
per-sample pass run twice). Timed here back to back in one process, alone on the machine: exact under 4096 MiB (two
groups) and 8192 MiB (one), CountSketch at D' = 16384 and 65536, each kernel's relative Frobenius error against the
first exact one (float64 Gram). Every kernel is one of the network at w0 on 250 MNIST images (seed 0), the config as
the predictor makes it otherwise.

    python benchmarks/explore/kernel_groups_cost.py   # -> benchmarks/results/explore/kernel_groups_cost.txt
"""

import trainless as tl
from trainless.kernel import KernelConfig, compute_kernel

RUNS = [
    ("exact", None, 4096),
    ("countsketch", 16384, 4096),
    ("exact", None, 8192),
    ("countsketch", 65536, 4096),
    ("exact", None, 4096),
    ("countsketch", 16384, 4096),
]


def main() -> None:
    data = tl.load_dataset("mnist5k", classes=5, per_class=50, seed=0, resolution=64)
    model = tl.load_model("efficientnet-lite1", data.num_classes, resolution=64, seed=0)
    ref = None
    for method, dim, budget in RUNS:
        config = KernelConfig(method=method, max_memory_mib=budget, **({"dim": dim} if dim else {}))
        result = compute_kernel(model, data.x, config)
        k = result.matrix()
        ref = k if ref is None else ref
        error = float((k - ref).norm() / ref.norm())
        print(
            f"{method:11s} D'={dim} budget {budget} MiB: {result.seconds:6.1f} s, column groups "
            f"{result.column_groups}, relative Frobenius error against the first exact kernel {error:.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
