"""The width experiment of Lee et al. (2019): how linear does gradient descent stay as a network widens?

NTK-parameterised ReLU MLPs (``trainless.theory.ntk_mlp``, 2 hidden layers) of widths 64..4096 are trained
by full-batch GD on the mean MSE (one-hot targets) on MNIST-5k (10 classes x 10 images, 14 px, standardised
and flattened), all widths with the same lr: half the MSE stability edge 2N / lambda_max of the widest
network's kernel at init. Along each run a ``LinearityProbe`` measures, every STRIDE steps, the kernel drift
||Theta_t - Theta_0||_F / ||Theta_0||_F and the output gap ||f_t - f_lin_t|| / ||f_t - f_0|` (f_lin_t: the
linearized model under the same GD, exact discrete engine). The theory (eqs. 48, 57) says both fall like
width^(-1/2); the script fits the log-log slope of their maxima over the run (median over seeds).

    python benchmarks/width.py                     # -> benchmarks/results/width.csv, width.png, width.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from trainless import load_dataset
from trainless._io import write_csv, write_json
from trainless._losses import loss_value
from trainless.dynamics import KernelOperator, constant_schedule
from trainless.kernel import compute_kernel
from trainless.theory import LinearityProbe, ntk_mlp

OUT = Path(__file__).resolve().parent / "results"


def inputs(per_class: int, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("mnist5k", classes=10, per_class=per_class, resolution=resolution, normalize=False)
    x = data.x[:, 0].reshape(data.n, -1).double()
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(x.shape[1])  # ||x||^2 = d, as the NTK papers scale inputs
    return x.float(), data.y


def run(width: int, seed: int, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, stride: int) -> dict:
    module = ntk_mlp(x.shape[1], width, 10, seed=seed)
    probe = LinearityProbe(x, stride, steps)
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    t0 = time.perf_counter()
    losses = []
    for t in range(steps):
        probe(t, module)
        opt.zero_grad(set_to_none=True)
        value = loss_value("mse", module(x), y)
        value.backward()
        opt.step()
        losses.append(float(value.detach()))
    probe(steps, module)
    with torch.no_grad():
        losses.append(float(loss_value("mse", module(x), y)))
    diag = probe.diagnostics(y, constant_schedule(lr, steps), "mse")
    return {
        "width": width,
        "seed": seed,
        "params": sum(p.numel() for p in module.parameters()),
        "max_kernel_drift": diag.max_kernel_drift,
        "max_output_gap": diag.max_output_gap,
        "final_kernel_drift": diag.kernel_drift[-1],
        "final_output_gap": diag.output_gap[-1],
        "loss_initial": losses[0],
        "loss_final": losses[-1],
        "seconds": time.perf_counter() - t0,
    }


def slope(widths: list[int], values: list[float]) -> float:
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def plot(rows: list[dict], widths: list[int], med: dict[str, list[float]], n: int, steps: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for color, key, label in (("C1", "max_kernel_drift", "kernel drift"), ("C3", "max_output_gap", "output gap")):
        ax.loglog([r["width"] for r in rows], [r[key] for r in rows], ".", color=color, alpha=0.4)
        ax.loglog(widths, med[key], "-o", color=color, label=f"{label} (slope {slope(widths, med[key]):.2f})")
    ref = [med["max_kernel_drift"][0] * (wd / widths[0]) ** -0.5 for wd in widths]
    ax.loglog(widths, ref, "k--", lw=1, label="width^-1/2")
    ax.set_xlabel("width")
    ax.set_ylabel("max over the run")
    ax.set_title(f"NTK MLP, GD on MNIST-5k (N={n}), {steps} steps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = out / "width.png.tmp"
    fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    tmp.replace(out / "width.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--resolution", type=int, default=14)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--stride", type=int, default=50)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--plot-only", action="store_true", help="redraw width.png from width.csv and width.json")
    a = ap.parse_args()
    if a.plot_only:
        summary = json.loads((a.out / "width.json").read_text())
        with (a.out / "width.csv").open() as fh:
            rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        med = {k: summary[f"median_{k}"] for k in ("max_kernel_drift", "max_output_gap")}
        plot(rows, summary["widths"], med, summary["n"], summary["steps"], a.out)
        return
    torch.manual_seed(0)
    x, y = inputs(a.per_class, a.resolution)
    n = x.shape[0]
    widest = ntk_mlp(x.shape[1], max(a.widths), 10, seed=0)
    lam = float(KernelOperator(compute_kernel(widest, x).k_train_train).spectrum().eigenvalues[0])
    lr = 0.5 * 2.0 * n / lam
    print(f"N={n}, d={x.shape[1]}, lambda_max={lam:.4g} at width {max(a.widths)}: lr = {lr:.4g} for every width")
    rows = []
    for width in a.widths:
        for seed in range(a.seeds):
            r = run(width, seed, x, y, lr, a.steps, a.stride)
            rows.append(r)
            print(
                f"width {width:5d} seed {seed}: drift {r['max_kernel_drift']:.4f} gap {r['max_output_gap']:.4f} "
                f"loss {r['loss_initial']:.3f} -> {r['loss_final']:.4f} ({r['seconds']:.1f} s)"
            )
    med = {
        key: [statistics.median(r[key] for r in rows if r["width"] == w) for w in a.widths]
        for key in ("max_kernel_drift", "max_output_gap")
    }
    summary = {
        "n": n,
        "d": int(x.shape[1]),
        "lr": lr,
        "steps": a.steps,
        "stride": a.stride,
        "seeds": a.seeds,
        "widths": a.widths,
        "median_max_kernel_drift": med["max_kernel_drift"],
        "median_max_output_gap": med["max_output_gap"],
        "slope_kernel_drift": slope(a.widths, med["max_kernel_drift"]),
        "slope_output_gap": slope(a.widths, med["max_output_gap"]),
        "theory_slope": -0.5,
    }
    print(
        f"log-log slopes vs width: kernel drift {summary['slope_kernel_drift']:.3f}, output gap "
        f"{summary['slope_output_gap']:.3f} (theory -0.5)"
    )
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "width.csv", rows)
    write_json(a.out / "width.json", summary)
    plot(rows, a.widths, med, n, a.steps, a.out)


if __name__ == "__main__":
    main()
