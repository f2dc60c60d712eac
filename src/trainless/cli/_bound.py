"""``trainless bound``: Golikov's a priori generalization bound (Theorem 5.2) for given parameters."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from ..errors import TrainlessError
from ..theory.golikov import GolikovBound, golikov_bound, t_star
from ._common import add_format_argument, render_json, render_rows


@dataclass(frozen=True)
class BoundReport:
    """The bound's terms, and t*_alpha when the time was given as a fraction alpha of the strongest mode."""

    bound: GolikovBound
    t_star: float | None
    alpha: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.bound.to_dict(), "t_star": self.t_star, "alpha": self.alpha}


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
    add_format_argument(p)
    p.set_defaults(handler=lambda a: render_bound(run_bound(a), a.format))
    return p
