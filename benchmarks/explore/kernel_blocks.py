"""Exploration: where in the network the kernel grows during fine-tuning (sequel to head_block.py).

The empirical NTK is a sum over parameter groups, Theta = sum_g J_g J_g^T. If its growth lived in a few groups
near the output, a kernel update could recompute only those (per-sample gradients that stop early in the
backward pass: cheaper). For a cached full-batch GD case the real run is repeated (same seeds: the same curve)
and at steps 0, 1, 10, 50 and 100 each group's kernel is computed: the head; the top (1x1 conv to the
penultimate features and its BatchNorm); MBConv blocks 12-15; blocks 6-11; the stem and blocks 0-5. Printed:
each group's trace over the whole Theta_0's, and how far Theta_0 with only that group's block made current is
from the real Theta(t) (relative Frobenius), next to the seconds each group's kernel takes. Kept as run; log in
benchmarks/results/explore/kernel_blocks.txt.

    python benchmarks/explore/kernel_blocks.py CASE.json ...
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import load_cached_case

from trainless.finetune import finetune
from trainless.kernel import compute_kernel
from trainless.models import HeadStart

STEPS = (0, 1, 10, 50, 100)


@contextmanager
def only(model, prefixes: tuple[str, ...]):
    """Only the parameters named with one of ``prefixes`` require grad inside (the kernel is their block)."""
    saved = {n: p.requires_grad for n, p in model.module.named_parameters()}
    for n, p in model.module.named_parameters():
        p.requires_grad_(saved[n] and n.startswith(prefixes))
    try:
        yield
    finally:
        for n, p in model.module.named_parameters():
            p.requires_grad_(saved[n])


def trace(k) -> float:
    return float(k.diagonal(dim1=0, dim2=1).diagonal(dim1=0, dim2=1).sum())


def one_case(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    case, config, kconf, model, data = load_cached_case(d)
    b = model.blocks  # stem, MBConv 0-15, top
    groups = {
        "head": (model.head + ".",),
        "top": b[-1],
        "mb12-15": sum(b[13:17], ()),
        "mb6-11": sum(b[7:13], ()),
        "stem+mb0-5": sum(b[0:7], ()),
    }
    kernels: dict[int, dict] = {}
    seconds: dict[str, float] = {}

    def observe(t: int, module) -> None:
        if t in STEPS:
            kernels[t] = {}
            for g, pre in (*groups.items(), ("all", None)):
                t0 = time.perf_counter()
                if pre is None:
                    kernels[t][g] = compute_kernel(module, data.x, kconf).k_train_train
                else:
                    with only(model, pre):
                        kernels[t][g] = compute_kernel(module, data.x, kconf).k_train_train
                seconds.setdefault(g, time.perf_counter() - t0)

    finetune(model, data, config, trainable=case.trainable, head_start=HeadStart(case.head_start), observer=observe)
    k0 = kernels[0]["all"]
    tr0 = trace(k0)
    gap = float((sum(kernels[0][g] for g in groups) - k0).norm() / k0.norm())
    print(
        f"{path.stem[:8]} N={len(data.y)} lr={config.lr}: groups sum to Theta_0 within {gap:.1e}; seconds per kernel "
        + ", ".join(f"{g} {s:.1f}" for g, s in seconds.items())
    )
    for t in STEPS:
        kt = kernels[t]["all"]
        print(
            f"   step {t:3d} trace / tr Theta_0: "
            + " ".join(f"{g} {trace(kernels[t][g]) / tr0:.2f}" for g in (*groups, "all"))
        )
        if t:
            dist = {g: float((k0 - kernels[0][g] + kernels[t][g] - kt).norm() / kt.norm()) for g in groups}
            print(
                f"            |Theta_0 - Theta(t)| {float((k0 - kt).norm() / kt.norm()):.2f}; only one group current: "
                + " ".join(f"{g} {v:.2f}" for g, v in dist.items()),
                flush=True,
            )


if __name__ == "__main__":
    for p in sys.argv[1:]:
        one_case(Path(p))
