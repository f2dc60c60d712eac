"""App. D of Zancato et al. (2020): predict training on N samples from the kernel of an N0-sample subset.

Setting (the paper's Fig. 7 and 11 sizes): EfficientNet-Lite0 (ImageNet weights, fresh 10-way head, all
parameters), MNIST-5k, 10 classes, 64 px; N = 1000 and 4000, N0 = 100, 250, 1000; MSE (App. D's loss) and
cross-entropy (the time-warp approximation); full-batch GD, T steps, lr a fixed fraction of the MSE stability
edge 2 / (lambda_max / N) of the largest set. Kernel: the pseudo-NTK Theta_p (x) I_C (the exact (N C)^2
kernel at N = 4000, C = 10 has 1.6e9 entries, out of reach of this machine). The 4000-sample kernel is
computed once (cached); every smaller set's kernel is its principal submatrix, so the sets are nested
(N0 inside N inside 4000, seeded per-class subsets, as ``trainless.extrapolate`` draws them).

For each (N, N0) it compares, against the linearized prediction computed on all N (its exact spectrum):
- the extrapolation with the defaults (alpha 0.15, the subset's top k0 eigenvalues kept, tail anchor
  averaged over k0 -+ 25%), the paper's exact rule (the power law at every rank, the single projection at
  k0), no slope correction (alpha 0), and the naive baseline "the subset's own curve";
- the eigenvalue error over the top half of the subset's ranks and over all N C ranks (median relative),
  the curve error (max over steps of |log L_ext / L_N|), the T_eps relative errors (eps 1-40%), the loss at
  T, and the cost (kernel seconds on N0 vs on N, measured here for N0 and N = 1000).
Optionally (``--real-steps K``) a real fine-tuning run on N = 1000 (MSE, same lr, K steps, the loss on all N
every 5 steps) to set both predictions against.

    python benchmarks/extrapolate.py --cache runs/extrap_cache [--edge-fraction 0.5] [--real-steps K] [--time-kernels]
    # -> benchmarks/results/extrapolate/edge0.5/extrapolate.{json,csv,png}
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from trainless import FinetuneConfig, finetune, load_dataset, load_model
from trainless._io import write_json, write_text
from trainless.data import ImageData, subset_per_class
from trainless.dynamics import KernelOperator, SGDSchedule, epsilon_times, mse_mode_curve, simulate
from trainless.extrapolate import extrapolate_spectrum, time_warp, warp_curve
from trainless.kernel import KernelConfig, compute_kernel

OUT = Path(__file__).resolve().parent / "results" / "extrapolate"
EPS = (0.01, 0.05, 0.1, 0.2, 0.4)
RES, CLASSES, SEED = 64, 10, 0
VARIANTS = {
    "default": {"alpha": 0.15, "anchor_window": 0.25, "keep_head": True},
    "paper": {"alpha": 0.15, "anchor_window": 0.0, "keep_head": False},
    "no-correction": {"alpha": 0.0, "anchor_window": 0.25, "keep_head": True},
}


def full_kernel(cache: Path) -> dict:
    path = cache / f"pseudo_{RES}px_n4000.pt"
    if path.exists():
        return torch.load(path)
    cache.mkdir(parents=True, exist_ok=True)
    data = load_dataset("mnist5k", classes=CLASSES, per_class=400, resolution=RES, seed=SEED)
    model = load_model("efficientnet-lite0", CLASSES, resolution=RES, seed=SEED)
    t = time.perf_counter()
    k = compute_kernel(model, data.x, KernelConfig(method="pseudo"), progress=True)
    out = {"k": k.k_train_train, "f0": k.f0, "y": data.y, "seconds": time.perf_counter() - t}
    torch.save(out, path)
    return out


def modes(k: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of Theta_p (x) I_C, each repeated per class, descending, and (v_k . dy_c)^2 in the same
    order (``KernelOperator.spectrum_for``'s): un-normalized, float64. Done here in numpy because
    ``spectrum_for`` materialises the repeated eigenvectors, (N, N C) = 1.3 GB at N = 4000, C = 10."""
    w, v = np.linalg.eigh(k)
    w, v = w[::-1], v[:, ::-1]
    proj = (v.T @ dy) ** 2  # (N, C)
    return np.repeat(w, dy.shape[1]), proj.reshape(-1)


def continuous_curve(mu: np.ndarray, pi: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """The paper's gradient-flow form L_t = 1/2 sum_k pi_k exp(-2 lr mu_k t) (its eq. 4 in the mean-loss
    scaling) at t = 0..steps: how App. D evaluates its extrapolated spectrum."""
    t = np.arange(steps + 1, dtype=np.float64)
    return 0.5 * np.exp(-2.0 * lr * np.outer(t, mu)) @ pi


def t_eps(curve: np.ndarray) -> list[int | None]:
    return [e.steps for e in epsilon_times(torch.as_tensor(curve), EPS)]


def rel_errors(pred: list[int | None], true: list[int | None]) -> list[float]:
    return [
        abs(p - t) / t if (p is not None and t is not None and t > 0) else math.nan
        for p, t in zip(pred, true, strict=True)
    ]


def curve_errors(mse: np.ndarray, ce: np.ndarray, truth: np.ndarray, ce_truth: np.ndarray) -> dict:
    """A predicted MSE and CE curve against the linearized ones on all N: the largest |log ratio| over the
    steps, the relative T_eps errors and the relative error of the loss at T."""
    return {
        "mse_curve_max_log_err": float(np.max(np.abs(np.log(mse / truth)))),
        "mse_teps_err": rel_errors(t_eps(mse), t_eps(truth)),
        "mse_final_rel_err": float(abs(mse[-1] / truth[-1] - 1)),
        "ce_curve_max_log_err": float(np.max(np.abs(np.log(ce / ce_truth)))),
        "ce_teps_err": rel_errors(t_eps(ce), t_eps(ce_truth)),
        "ce_final_rel_err": float(abs(ce[-1] / ce_truth[-1] - 1)),
    }


def ce_curve(k: np.ndarray, f0: np.ndarray, y: np.ndarray, lrs: list[float]) -> np.ndarray:
    """The linearized cross-entropy GD curve on these samples (exact discrete engine, pseudo-NTK)."""
    traj = simulate(
        KernelOperator(torch.from_numpy(k)), torch.from_numpy(f0), torch.from_numpy(y), SGDSchedule(tuple(lrs))
    )
    return traj.loss[0].numpy()


def kernel_seconds(per_class: int, model_seed: int = SEED) -> float:
    data = load_dataset("mnist5k", classes=CLASSES, per_class=per_class, resolution=RES, seed=SEED)
    model = load_model("efficientnet-lite0", CLASSES, resolution=RES, seed=model_seed)
    return compute_kernel(model, data.x, KernelConfig(method="pseudo")).seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("runs/extrap_cache"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--edge-fraction", type=float, default=0.5, help="lr as a fraction of the MSE edge at N=4000")
    ap.add_argument(
        "--real-steps", type=int, default=0, help="also fine-tune on N = 1000 (MSE, same lr) for real, this many steps"
    )
    ap.add_argument("--time-kernels", action="store_true", help="time the kernels on N0 and N = 1000 here")
    a = ap.parse_args()
    a.out = a.out / f"edge{a.edge_fraction:g}"
    a.out.mkdir(parents=True, exist_ok=True)

    cached = full_kernel(a.cache)
    k_all = cached["k"].numpy()
    f0_all = cached["f0"].numpy()
    y_all = cached["y"]
    data4000 = ImageData(torch.zeros(len(y_all), 1), y_all, "mnist5k", tuple(range(CLASSES)), tuple(range(len(y_all))))
    onehot_all = np.eye(CLASSES)[y_all.numpy()]
    mu_max = float(np.linalg.eigvalsh(k_all)[-1]) / len(y_all)
    lr = a.edge_fraction * 2.0 / mu_max
    lrs = [lr] * a.steps
    print(f"lr = {lr:.4g} ({a.edge_fraction} x the MSE edge at N = 4000), T = {a.steps}", flush=True)

    rows, curves = [], {}
    for n in (1000, 4000):
        data_n, pos_n = subset_per_class(data4000, n // CLASSES, seed=SEED) if n < 4000 else (data4000, np.arange(4000))
        k_n = k_all[np.ix_(pos_n, pos_n)]
        dy_n = onehot_all[pos_n] - f0_all[pos_n]
        lam_n, p_n = modes(k_n, dy_n)
        truth = mse_mode_curve(lam_n / n, p_n / n, lrs)
        ce_truth = ce_curve(k_n, f0_all[pos_n], y_all.numpy()[pos_n], lrs)
        curves[f"N{n}"] = {"mse": truth.tolist(), "ce": ce_truth.tolist()}
        total = float((dy_n**2).sum())
        for n0 in (100, 250, 1000):
            if n0 >= n:
                continue
            _, pos0 = subset_per_class(data_n, n0 // CLASSES, seed=SEED)
            k_0 = k_n[np.ix_(pos0, pos0)]
            lam0, p0 = modes(k_0, dy_n[pos0])
            ce_sub = ce_curve(k_0, f0_all[pos_n][pos0], y_all.numpy()[pos_n][pos0], lrs)
            base = {"N": n, "N0": n0}
            sub_curve = mse_mode_curve(lam0 / n0, p0 / n0, lrs)
            top = slice(0, len(lam0) // 2)

            for name, kw in VARIANTS.items():
                r = extrapolate_spectrum(lam0, p0, n0, n, total, lrs, **kw)
                mu = np.asarray(r.eigenvalues)
                if name == "paper":  # the paper's own form: gradient flow, also on the subset for the warp
                    ext = continuous_curve(mu, np.asarray(r.projections), lr, a.steps)
                    ref = continuous_curve(lam0 / n0, p0 / n0, lr, a.steps)
                    name = "paper (gradient flow)"
                else:
                    ext, ref = np.asarray(r.mse_loss), sub_curve
                rel = np.abs(mu / (lam_n / n) - 1)
                ce_ext = warp_curve(ce_sub, time_warp(ref, ext)) * (ce_truth[0] / ce_sub[0])
                rows.append(
                    {
                        **base,
                        "method": name,
                        "s": r.s,
                        "exponent": r.exponent,
                        "tail_b": r.tail_b,
                        "eig_err_top_median": float(np.median(rel[top])),
                        "eig_err_all_median": float(np.median(rel)),
                        **curve_errors(ext, ce_ext, truth, ce_truth),
                    }
                )
                curves[f"N{n}_N0{n0}_{name}"] = {"mse": ext.tolist(), "ce": ce_ext.tolist()}
            rows.append(
                {
                    **base,
                    "method": "subset-curve",
                    "s": math.nan,
                    "exponent": math.nan,
                    "tail_b": math.nan,
                    "eig_err_top_median": float(np.median(np.abs((lam0 / n0)[top] / (lam_n / n)[top] - 1))),
                    "eig_err_all_median": math.nan,
                    **curve_errors(sub_curve, ce_sub, truth, ce_truth),
                }
            )
            curves[f"N{n}_N0{n0}_subset"] = {"mse": sub_curve.tolist(), "ce": ce_sub.tolist()}
            print(f"N={n} N0={n0}: " + "; ".join(_brief(r) for r in rows[-4:]), flush=True)

    timing = {"kernel_seconds_n4000_cached": float(cached["seconds"])}
    if a.time_kernels:
        for per in (10, 25, 100):
            timing[f"kernel_seconds_n{per * CLASSES}"] = kernel_seconds(per)
            print(timing, flush=True)

    real = None
    if a.real_steps:
        data = load_dataset("mnist5k", classes=CLASSES, per_class=400, resolution=RES, seed=SEED)
        data_1000, _ = subset_per_class(data, 100, seed=SEED)
        model = load_model("efficientnet-lite0", CLASSES, resolution=RES, seed=SEED)
        cfg = FinetuneConfig(lr=lr, steps=a.real_steps, loss="mse", seed=SEED, eval_stride=5)
        rec = finetune(model, data_1000, cfg, progress=True)
        real = {
            "steps": list(rec.eval_steps),
            "loss": list(rec.loss),
            "seconds": rec.total_seconds,
            "step_seconds": rec.step_seconds,
            "status": rec.status.value,
        }
        at = list(rec.eval_steps)
        real["compare"] = {
            name: [curves[key]["mse"][t] for t in at]
            for name, key in (
                ("linearized on all N", "N1000"),
                ("extrapolated from N0 = 250", "N1000_N0250_default"),
                ("extrapolated from N0 = 100", "N1000_N0100_default"),
                ("N0 = 250's own curve", "N1000_N0250_subset"),
            )
        }
        print("real N = 1000 at steps", at, "\n real", [round(v, 4) for v in rec.loss])
        for name, vals in real["compare"].items():
            print(f" {name}", [round(v, 4) for v in vals])

    summary = _summarize(rows)
    write_json(
        a.out / "extrapolate.json",
        {
            "lr": lr,
            "steps": a.steps,
            "eps": EPS,
            "rows": rows,
            "summary": summary,
            "timing": timing,
            "real_n1000": real,
            "curves": curves,
        },
    )
    write_text(a.out / "extrapolate.csv", _csv(rows))
    write_text(a.out / "extrapolate.md", _table(rows, lr, a.steps, a.edge_fraction))
    _plot(curves, real, a.out / "extrapolate.png", a.steps)
    print(_table(rows, lr, a.steps, a.edge_fraction))


def _pct(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.0%}" if v < 100 else "diverges"


def _med_max(errs: list[float]) -> tuple[float | None, float | None]:
    te = [v for v in errs if math.isfinite(v)]
    return (statistics.median(te), max(te)) if te else (None, None)


def _brief(r: dict) -> str:
    med, _ = _med_max(r["mse_teps_err"])
    return f"{r['method']} T_eps med {_pct(med)} final {_pct(r['mse_final_rel_err'])}"


def _table(rows: list[dict], lr: float, steps: int, fraction: float) -> str:
    lines = [
        f"lr = {lr:.4g} ({fraction:g} x the MSE edge at N = 4000), T = {steps} full-batch steps; errors relative to "
        "the linearized prediction on all N; T_eps over eps 1/5/10/20/40%",
        "",
        "| N | N0 | method | eigenvalue err (top half, median) | MSE T_eps err median / max | MSE loss at T err "
        "| CE T_eps err median / max | CE loss at T err |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        m_med, m_max = _med_max(r["mse_teps_err"])
        c_med, c_max = _med_max(r["ce_teps_err"])
        lines.append(
            f"| {r['N']} | {r['N0']} | {r['method']} | {_pct(r['eig_err_top_median'])} | {_pct(m_med)} / "
            f"{_pct(m_max)} | {_pct(r['mse_final_rel_err'])} | {_pct(c_med)} / {_pct(c_max)} | "
            f"{_pct(r['ce_final_rel_err'])} |"
        )
    return "\n".join(lines) + "\n"


def _summarize(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        key = f"N{r['N']}<-N0{r['N0']}:{r['method']}"
        out[key] = {}
        for loss in ("mse", "ce"):
            te = [v for v in r[f"{loss}_teps_err"] if math.isfinite(v)]
            out[key][loss] = {
                "teps_err_median": statistics.median(te) if te else None,
                "teps_err_max": max(te) if te else None,
                "final_rel_err": r[f"{loss}_final_rel_err"],
                "curve_max_log_err": r[f"{loss}_curve_max_log_err"],
            }
        out[key]["eig_err_top_median"] = r["eig_err_top_median"]
    return out


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = [c for c in rows[0] if not c.endswith("teps_err")]
    w.writerow(cols + [f"mse_teps_err_{e}" for e in EPS] + [f"ce_teps_err_{e}" for e in EPS])
    for r in rows:
        w.writerow([r[c] for c in cols] + r["mse_teps_err"] + r["ce_teps_err"])
    return buf.getvalue()


def _plot(curves: dict, real: dict | None, path: Path, steps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trainless.report._plots import save_png

    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    t = np.arange(steps + 1)
    for col, n in enumerate((1000, 4000)):
        for row, loss in enumerate(("mse", "ce")):
            ax = axes[row, col]
            ax.plot(t, curves[f"N{n}"][loss], color="k", lw=2, label=f"linearized on all N = {n}")
            for i, n0 in enumerate((100, 250, 1000)):
                if f"N{n}_N0{n0}_default" not in curves:
                    continue
                ax.plot(t, curves[f"N{n}_N0{n0}_default"][loss], color=f"C{i}", label=f"extrapolated from N0 = {n0}")
                ax.plot(t, curves[f"N{n}_N0{n0}_subset"][loss], color=f"C{i}", ls=":", label=f"N0 = {n0}'s own curve")
            if real is not None and n == 1000 and loss == "mse":
                ax.plot(
                    np.arange(len(real["loss"])), real["loss"], color="C3", lw=1.5, label="real fine-tuning, N = 1000"
                )
            ax.set_yscale("log")
            ax.set_xlabel("optimizer step")
            ax.set_ylabel(f"training loss ({loss})")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("App. D: training on N predicted from N0 (EfficientNet-Lite0, MNIST-5k 10 classes, 64 px, pseudo-NTK)")
    save_png(fig, path)


if __name__ == "__main__":
    main()
