"""Where the kernel-updates mode loses accuracy: the predicted path's kernels, or the piecewise model itself?

For each cached GD case, the real run is repeated (same model seed, data and config: the same curve) with an
observer that computes the real network's kernel Theta_real(t) at w_t at the case's update steps (cached in
runs/oracle_cache/). Then the linearized run is simulated in function space four ways, from the same f0 and
Theta_0, the kernel switched at the same steps:
- frozen: Theta_0 throughout (the paper's prediction);
- path: Theta at the weights the updated linearized run reaches (``discrete+updates``, the cached prediction;
  recomputed here, and checked equal);
- frozen-path: Theta at the frozen run's weights w0 + J_0^T alpha_frozen(t) (no feedback from the updated
  kernels into the weights);
- oracle: Theta_real(t) from the real run (what no predictor has: what the piecewise-constant kernel model
  gives with the right kernels).
Each is scored against the real curve (relative T_eps error on the loss over eps {1, 5, 10, 20, 40}%, steps
to 50/20/10% of L0, loss at T), and the kernels are compared at each step: trace and largest eigenvalue over
Theta_0's, relative Frobenius distance from the real kernel, and the rate g Theta g / g Theta_0 g along the real
run's remaining gradient g = dL/df at f_real(t).

    python benchmarks/oracle_kernels.py CASE.json ...   # -> results/oracle_kernels.csv
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import torch
from fidelity_default import (  # the sibling script (benchmarks/ is on sys.path)
    case_arguments,
    eps_errors,
    level_errors,
    load_cached_case,
)

from trainless._io import write_csv
from trainless._losses import loss_grad
from trainless.dynamics import KernelOperator, SGDSchedule, simulate
from trainless.finetune import finetune, learning_rates
from trainless.kernel import compute_kernel
from trainless.models import HeadStart
from trainless.predict._endpoint import WeightPath
from trainless.predict._preserve import preserved

OUT = Path(__file__).resolve().parent / "results" / "oracle_kernels.csv"
CACHE = Path(__file__).resolve().parent.parent / "runs" / "oracle_cache"  # the real runs' kernels (not committed)


def main() -> None:
    a = case_arguments(__doc__, OUT)
    rows = [row for path in a.cases for row in one_case(path, CACHE)]
    write_csv(a.out, rows)
    print(f"wrote {a.out}")


def path_kernels_of(model, data, trainable, kconf, loss, sched, updates) -> dict[int, torch.Tensor]:
    """The kernels ``discrete+updates`` takes along the linearized run's weights (as predict_from does: the
    weights moved by J_k^T of each alpha increment), the model left at w0."""
    out: dict[int, torch.Tensor] = {}
    with preserved(model.module):
        path = WeightPath(model, data, trainable)
        res0 = compute_kernel(model.module, path.x, kconf)

        def update(t, alpha, f, segment):
            path.move_to(alpha)
            out[t] = compute_kernel(model.module, path.x, kconf).k_train_train
            return KernelOperator(out[t])

        simulate(res0.k_train_train, res0.f0, data.y, sched, loss=loss, kernel_updates=updates, update_kernel=update)
    return out


def hooked_curve(theta0, f0, y, sched, loss, steps: tuple[int, ...], hook) -> np.ndarray:
    """The linearized GD loss curve from f0 and Theta_0, simulate's update hook called at each t of steps."""
    return simulate(theta0, f0, y, sched, loss=loss, kernel_updates=steps, update_kernel=hook).loss[0].numpy()


def switched_curve(theta0, f0, y, sched, loss, steps: tuple[int, ...], by_step: dict[int, torch.Tensor]) -> np.ndarray:
    """The linearized GD loss curve from f0 and Theta_0, the kernel switched to by_step[t] at each t of steps."""
    return hooked_curve(theta0, f0, y, sched, loss, steps, lambda t, alpha, f, segment: KernelOperator(by_step[t]))


def frozen_path_kernels_of(model, data, trainable, kconf, loss, sched, updates) -> dict[int, torch.Tensor]:
    """The kernels at the frozen-kernel run's weights w0 + J_0^T alpha_frozen(t) (the paper's prediction's
    own path, with no feedback from updated kernels), the model left at w0."""
    out: dict[int, torch.Tensor] = {}
    with preserved(model.module):
        path = WeightPath(model, data, trainable)
        w0 = path.snapshot()
        res0 = compute_kernel(model.module, path.x, kconf)
        alphas = {}

        def record(t, alpha, f, segment):  # Theta_0 again: the frozen run, its coefficients noted
            alphas[t] = alpha
            return KernelOperator(res0.k_train_train)

        simulate(res0.k_train_train, res0.f0, data.y, sched, loss=loss, kernel_updates=updates, update_kernel=record)
        for t, alpha in alphas.items():
            path.load(w0)
            path.applied = None
            path.move_to(alpha)  # from w0 in one move: w0 + J_0^T alpha
            out[t] = compute_kernel(model.module, path.x, kconf).k_train_train
    return out


def kernel_diagnostics(real, path, frozen_path, f_real, y, loss, updates) -> dict[str, list[float]]:
    """Per update step, the real kernel Theta_real(t) (real run) against the path's Theta_path(t): trace and
    largest eigenvalue over Theta_0's, ||Theta_path - Theta_real||_F / ||Theta_real||_F, and the rate along
    the real run's remaining gradient g_t = dL/df at f_real(t): g Theta g / g Theta_0 g (how fast each kernel
    would drive down what is left to fit)."""
    k0 = real[0]
    flat = lambda k: k.permute(0, 2, 1, 3).reshape(k.shape[0] * k.shape[2], -1)  # noqa: E731
    lam0 = float(torch.linalg.eigvalsh(flat(k0))[-1])
    tr0 = float(torch.einsum("iicc->", k0))
    names = ("real", "path", "frozen-path")
    keys = [f"{q}, {n}" for q in ("trace ratio", "lambda_max ratio", "rate on real residual") for n in names]
    keys += [f"{n} vs real, rel. Frobenius" for n in names[1:]]
    out: dict[str, list[float]] = {key: [] for key in keys}
    for t in updates:
        g = loss_grad(loss, f_real[t], y).reshape(-1)
        base = float(g @ flat(k0) @ g)
        for name, k in (("real", real[t]), ("path", path[t]), ("frozen-path", frozen_path[t])):
            out[f"trace ratio, {name}"].append(float(torch.einsum("iicc->", k)) / tr0)
            out[f"lambda_max ratio, {name}"].append(float(torch.linalg.eigvalsh(flat(k))[-1]) / lam0)
            out[f"rate on real residual, {name}"].append(float(g @ flat(k) @ g) / base)
        out["path vs real, rel. Frobenius"].append(float((path[t] - real[t]).norm() / real[t].norm()))
        out["frozen-path vs real, rel. Frobenius"].append(float((frozen_path[t] - real[t]).norm() / real[t].norm()))
    return out


def real_run_with_kernels(case, config, kconf, model, data, updates):
    """The case's real run again (same seeds: the same curve), the real network's kernel and outputs computed
    at w_t for t = 0 and each of ``updates``: (record, {t: Theta_real(t)}, {t: f_real(t)})."""
    kernels, f_real = {}, {}

    def observe(t: int, module: torch.nn.Module) -> None:
        if t == 0 or t in updates:
            res = compute_kernel(module, data.x, kconf)
            kernels[t], f_real[t] = res.k_train_train, res.f0

    record = finetune(
        model, data, config, trainable=case.trainable, head_start=HeadStart(case.head_start), observer=observe
    )
    return record, kernels, f_real


def one_case(path: Path, a_cache: Path | None) -> list[dict]:
    rows = []
    d = json.loads(path.read_text(encoding="utf-8"))
    case, config, kconf, model, data = load_cached_case(d)
    if config.batch_size is not None or config.momentum:
        raise SystemExit(f"{path}: full-batch GD without momentum only")
    cached = d["predictions"]["discrete+updates"]
    updates = tuple(cached["options"]["kernel_updates"])
    y = data.y
    sched = SGDSchedule(lr=learning_rates(config))
    path_kernels = path_kernels_of(model, data, case.trainable, kconf, config.loss, sched, updates)
    frozen_kernels = frozen_path_kernels_of(model, data, case.trainable, kconf, config.loss, sched, updates)
    cache = a_cache / f"{path.stem}.pt" if a_cache is not None else None
    if cache is not None and cache.exists():
        saved = torch.load(cache)
        kernels, f_real, real = saved["kernels"], saved["f_real"], np.array(saved["loss"])
    else:
        record, kernels, f_real = real_run_with_kernels(case, config, kconf, model, data, updates)
        real = np.array(record.loss)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"kernels": kernels, "f_real": f_real, "loss": record.loss}, cache)
    cached_real = np.array(d["record"]["loss"])
    rerun_gap = float(np.max(np.abs(real - cached_real)))

    def switched(by_step: dict[int, torch.Tensor]) -> np.ndarray:
        return switched_curve(kernels[0], f_real[0], y, sched, config.loss, updates, by_step)

    curves = {
        "frozen": np.array(d["predictions"]["discrete"]["loss"]),
        "path": np.array(cached["loss"]),
        "frozen-path": switched(frozen_kernels),
        "oracle": switched(kernels),
    }
    again = switched(path_kernels)
    print(
        f"{path.stem} path kernels recomputed: largest loss gap to the cached prediction "
        f"{np.max(np.abs(again - curves['path'])):.2e}"
    )
    diag = kernel_diagnostics(kernels, path_kernels, frozen_kernels, f_real, y, config.loss, updates)
    for key, v in diag.items():
        print(f"{path.stem} {key:28s} " + " ".join(f"{x:.2f}" for x in v), flush=True)
    real_traces = " ".join(f"{x:.2f}" for x in diag["trace ratio, real"])
    path_traces = " ".join(f"{x:.2f}" for x in diag["trace ratio, path"])
    for mode, curve in curves.items():
        eps = eps_errors(curve, real)
        lv = level_errors(curve, real)
        row = {
            "case": path.stem,
            "tag": case.tag,
            "data": case.data,
            "lr": config.lr,
            "mode": mode,
            "eps_max": max(eps),
            "eps_median": statistics.median(eps),
            "levels_median": statistics.median(lv) if lv else float("nan"),
            "final_loss_pred": float(curve[-1]),
            "final_loss_real": float(real[-1]),
            "final_loss_error": abs(float(curve[-1]) - float(real[-1])) / float(real[-1]),
            "trace_ratios_real": real_traces,
            "trace_ratios_path": path_traces,
            "rerun_max_loss_gap": rerun_gap,
        } | {key.replace(", ", "_").replace(" ", "_"): " ".join(f"{x:.3f}" for x in v) for key, v in diag.items()}
        rows.append(row)
        print(
            f"{path.stem} {case.tag:8s} {mode:6s} T_eps max {row['eps_max']:.0%} median {row['eps_median']:.0%} "
            f"levels {row['levels_median']:.0%} final {row['final_loss_pred']:.4f} vs {row['final_loss_real']:.4f} "
            f"({row['final_loss_error']:.0%})  traces real [{real_traces}] path [{path_traces}]",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
