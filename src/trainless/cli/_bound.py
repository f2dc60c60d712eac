"""``trainless bound``: Golikov's a priori generalization bound (Theorem 5.2) for given parameters."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from .._io import ensure_writable_dir, write_csv, write_json
from ..errors import TrainlessError
from ..report import plot_golikov_assumption, plot_golikov_bounds, plot_golikov_optimistic
from ..theory.golikov import (
    PAPER_SETTINGS,
    PROXIES,
    GolikovBound,
    GolikovSetting,
    binary_mnist,
    experiment_rows,
    golikov_bound,
    golikov_experiment,
    optimistic_bound_run,
    t_star,
)
from ._common import add_format_argument, render_json, render_rows


@dataclass(frozen=True)
class BoundReport:
    """The bound's terms, and t*_alpha when the time was given as a fraction alpha of the strongest mode."""

    bound: GolikovBound
    t_star: float | None
    alpha: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.bound.to_dict(), "t_star": self.t_star, "alpha": self.alpha}


@dataclass(frozen=True)
class ExperimentReport:
    """The Sec. 6 sweeps: one row per setting, kappa, p and gamma (the smallest bound along training)."""

    rows: list[dict[str, Any]]
    files: tuple[str, ...]
    skipped: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "files": list(self.files), "skipped": list(self.skipped)}


def run_experiment(out_dir: str, lr: float, quick: bool) -> ExperimentReport:
    """Run the sweeps (``quick``: one short setting, for checks) and write golikov.csv, golikov.json and the
    figures into ``out_dir``."""
    out = ensure_writable_dir(out_dir)
    settings = PAPER_SETTINGS if not quick else (GolikovSetting("beta=0.1", "1", beta=0.1, t_alpha=0.5),)
    skipped: list[tuple[GolikovSetting, str]] = []
    results = golikov_experiment(settings, lr=lr, checkpoints=40 if not quick else 10, skipped=skipped)
    if not results:
        raise TrainlessError("no setting could be run: " + "; ".join(why for _, why in skipped))
    rows = experiment_rows(results)
    write_csv(out / "golikov.csv", rows)
    left_out = [{"setting": st.name, "why": why} for st, why in skipped]
    write_json(out / "golikov.json", {"lr": lr, "rows": rows, "skipped": left_out})
    files = [out / "golikov.csv", out / "golikov.json"]
    files.append(plot_golikov_bounds(results, out / "golikov_bounds.png"))
    files.append(plot_golikov_assumption(results, out / "golikov_assumption.png"))
    return ExperimentReport(rows, tuple(str(f) for f in files), tuple(left_out))


def render_experiment(report: ExperimentReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    rows = []
    for r in report.rows:
        if r["kappa"] != 2 or r["gamma"] != r["beta"] ** 2:
            continue
        rows.append(
            (
                f"{r['setting']} p={r['p']}",
                f"best bound {r['bound']:.3f} at t={r['t_best']:.2f} (Upsilon {r['upsilon']:.3f}, deviation "
                f"{r['deviation']:.3g}, train margin risk {r['train_margin_risk']:.3f}); test risk "
                f"{r['test_risk']:.3f}; with m=60000: {r['bound_at_paper_m']:.3f}; Assumption 5.1 "
                f"{'holds' if r['assumption_5_1_holds'] else 'fails'}",
            )
        )
    rows += [("left out", f"{x['setting']}: {x['why']}") for x in report.skipped]
    rows.append(("wrote", ", ".join(report.files)))
    return render_rows(rows)


def run_optimistic(out_dir: str, lr: float, epsilons: tuple[float, ...], t_max: float) -> ExperimentReport:
    """App. B.1: eq. (41) along training for the three proxies, per eps (7x7 binary MNIST-5k: 14x14 cannot be
    whitened here); rows give, per eps, proxy and gamma, the smallest bound and the risks there."""
    out = ensure_writable_dir(out_dir)
    data = binary_mnist(7)
    runs = [optimistic_bound_run(data, eps=e, lr=lr, t_max=t_max) for e in epsilons]
    rows = []
    for run in runs:
        for name in PROXIES:
            for g, seq in run.bound[name].items():
                i = min(range(len(seq)), key=seq.__getitem__)
                rows.append(
                    {
                        "eps": run.eps,
                        "proxy": name,
                        "gamma": g,
                        "t_best": run.times[i],
                        "bound": seq[i],
                        "generalization_gap": run.gap[name][g][i],
                        "deviation": run.deviation[name][i],
                        "train_risk": run.train_risk[i],
                        "test_risk": run.test_risk[i],
                        "final_bound": seq[-1],
                        "final_test_risk": run.test_risk[-1],
                    }
                )
    write_json(out / "golikov_optimistic.json", {"lr": lr, "t_max": t_max, "rows": rows})
    png = plot_golikov_optimistic(runs, out / "golikov_optimistic.png")
    return ExperimentReport(rows, (str(out / "golikov_optimistic.json"), str(png)))


def render_optimistic(report: ExperimentReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    rows = [
        (
            f"eps={r['eps']:g} {r['proxy']} gamma={r['gamma']:g}",
            f"smallest bound {r['bound']:.3f} at t={r['t_best']:.1f} (proxy gap {r['generalization_gap']:.3f}, "
            f"deviation {r['deviation']:.3g}; test risk {r['test_risk']:.3f}); at the end {r['final_bound']:.3f}",
        )
        for r in report.rows
    ]
    rows.append(("wrote", ", ".join(report.files)))
    return render_rows(rows)


def run_bound(a: argparse.Namespace) -> BoundReport:
    if (a.t is None) == (a.alpha is None):
        raise TrainlessError("give exactly one of --t (gradient-flow time) and --alpha (t = t*_alpha)")
    ts = None if a.alpha is None else t_star(a.alpha, beta=a.beta, s=a.s, L=a.L)
    t = a.t if ts is None else ts
    b = golikov_bound(
        L=a.L,
        d=a.d,
        m=a.m,
        beta=a.beta,
        eps=a.eps,
        kappa=a.kappa,
        p=a.p,
        delta=a.delta,
        rho=a.rho,
        gamma=a.gamma,
        s=a.s,
        t=t,
        train_margin_risk=a.train_margin_risk,
    )
    return BoundReport(b, ts, a.alpha)


def render_bound(report: BoundReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    b = report.bound
    when = f"t = {b.t:.4g}" + ("" if report.t_star is None else f" = t*_alpha for alpha = {report.alpha:g}")
    rows = [
        ("setting", f"L={b.L} layers, d={b.d}, m={b.m}, eps={b.eps:g} (slope 1-eps), beta={b.beta:g}, rho={b.rho:g}"),
        ("", f"kappa={b.kappa}, p={b.p} bits, delta={b.delta:g}, gamma={b.gamma:g}, s={b.s:g}, {when}"),
        ("Upsilon_kappa", f"{b.upsilon:.4g}  (proxy's counting bound, eq. 7)"),
        ("Phi_kappa", f"{b.phi:.4g}"),
        ("u(t), v(t)", f"{b.u:.4g}, {b.v:.4g}  (eqs. 9, 10; exact ODE v {b.v_ode:.4g})"),
        ("Delta(t)", f"{b.delta_kb:.4g}"),
        ("deviation", f"{b.deviation:.4g}  (Delta eps^kappa / gamma)"),
        ("bound - train risk", f"{b.gap:.4g}  (Upsilon + deviation)"),
        (
            "bound",
            f"{b.bound:.4g}  (with train margin risk {b.train_margin_risk:g}; "
            f"{'non-vacuous' if b.bound < 0.5 else 'vacuous for binary classification'})",
        ),
    ]
    return render_rows(rows)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bound",
        help="Golikov's a priori generalization bound for nearly-linear networks (Theorem 5.2)",
        description="Evaluates Theorem 5.2 of Golikov (TMLR 2024) for a Leaky ReLU net of L layers with negative "
        "slope 1 - eps trained by gradient flow on whitened data: every term and the bound, before training.",
    )
    p.add_argument("--L", type=int, default=2, help="layers (>= 2)")
    p.add_argument("--d", type=int, default=49, help="input dimension (49: 7x7 images)")
    p.add_argument("--m", type=int, default=4000, help="training points")
    p.add_argument("--beta", type=float, default=0.01, help="layers' initial spectral norm")
    p.add_argument("--eps", type=float, default=0.001, help="deviation from linearity (negative slope 1 - eps)")
    p.add_argument("--kappa", type=int, default=2, choices=(1, 2), help="proxy model order")
    p.add_argument("--p", type=int, default=32, help="floating point precision, bits")
    p.add_argument("--delta", type=float, default=0.05, help="failure probability")
    p.add_argument("--rho", type=float, default=1.0, help="||W_1(0)||_F / ||W_1(0)|| (1: rank-1 input layer)")
    p.add_argument("--gamma", type=float, default=0.01, help="margin")
    p.add_argument("--s", type=float, default=0.5, help="||Y X~^+||, the strongest mode of the data (<= 1)")
    p.add_argument("--t", type=float, default=None, help="gradient-flow time")
    p.add_argument("--alpha", type=float, default=None, help="evaluate at t*_alpha (eq. 15 / 97) instead of --t")
    p.add_argument("--train-margin-risk", type=float, default=0.0, help="empirical margin risk, if known")
    p.add_argument(
        "--experiment",
        action="store_true",
        help="run the paper's Sec. 6 sweeps on binary MNIST-5k (m = 4000) and write the table and figures",
    )
    p.add_argument("--out", default="runs/bound", help="--experiment: output directory")
    p.add_argument("--lr", type=float, default=0.01, help="--experiment: GD step (gradient-flow approximation)")
    p.add_argument("--quick", action="store_true", help="--experiment: one short setting (a smoke run)")
    p.add_argument(
        "--optimistic",
        type=float,
        nargs="+",
        default=None,
        metavar="EPS",
        help="App. B: the optimistic bound of eq. (41) along training for these eps (e.g. 0.1 0.2 0.4)",
    )
    p.add_argument("--t-max", type=float, default=20.0, help="--optimistic: training time")
    add_format_argument(p)

    def handler(a: argparse.Namespace) -> str:
        if a.experiment:
            return render_experiment(run_experiment(a.out, a.lr, a.quick), a.format)
        if a.optimistic:
            return render_optimistic(run_optimistic(a.out, a.lr, tuple(a.optimistic), a.t_max), a.format)
        return render_bound(run_bound(a), a.format)

    p.set_defaults(handler=handler)
    return p
