"""The a priori generalization bound for nearly-linear networks (Golikov, TMLR 12/2024; seed 002),
Theorem 5.2, and the linear network's learning time t*_alpha (eqs. 13-15, 96-97). Float64.

Setting (Sec. 5.1): an L-layer bias-free fully-connected net with Leaky ReLU of negative slope 1 - eps,
scalar output, trained by gradient flow on the square loss 1/(2m) ||Y - f(X~)||^2 on whitened inputs
X~ = Sigma_X^(-1/2) X, every layer initialised with spectral norm at most beta. With probability 1 - delta
over the m training points,

    R(t) <= R^_gamma(t) + Upsilon_kappa + Delta_{kappa,beta}(t) eps^kappa / gamma        (eq. 6)

R^_gamma the empirical margin risk (known only after training: this module takes it as an input, 0 by
default, and reports the a priori part Upsilon + deviation on its own).

Readings of the extracted text, each checked in the tests:
- s = ||Y X^T Sigma_X^(-1/2)|| / m = ||Y X~^+|| (Sec. 5.3 writes the latter and notes s <= 1; the 1/m of the
  theorem's line was lost in extraction; the gradient flow of eq. 4 has the 1/m).
- beta_bar = beta s_bar_rho / s_bar_1 (a product, as eq. 16 and eq. 36 show).
- v(t) (eq. 10 / 93) integrates the linear ODE of eq. 40 (L = 2) / eq. 88 (L >= 3) from the lower limit
  beta: v = (L-1)/L s_hat^((2-L)/L) u^(L-1) [w(u(t)) - w(beta)] exp(u^L / s_hat). The ODE starts at
  u(0) = beta_bar >= beta, so its exact solution has w(beta_bar) in place of w(beta); w increases, so the
  printed v is an upper bound of the exact one (equal when beta_bar = beta, e.g. eps = 0 or rho = 1). The
  bound uses the printed (theorem's) v; ``v_ode`` is the exact solution, tested against scipy's solve_ivp.
- Gamma(a, x) is the upper incomplete gamma function; for a = (2-L)/L in (-1, 0) (L >= 3) it comes from
  Gamma(a, x) = (Gamma(a+1, x) - x^a e^(-x)) / a, and Gamma(0, x) = E_1(x) (scipy's exp1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from ..errors import TrainlessError


def upper_gamma(a: float, x: float) -> float:
    """Gamma(a, x) = int_x^inf t^(a-1) e^(-t) dt for x > 0 and a > -1 (float64): scipy's gammaincc for a > 0,
    exp1 for a = 0, and one step of the recurrence Gamma(a, x) = (Gamma(a+1, x) - x^a e^(-x)) / a below."""
    if not x > 0:
        raise TrainlessError(f"upper_gamma needs x > 0, got {x}")
    if a > 0:
        return float(special.gamma(a) * special.gammaincc(a, x))
    if a == 0:
        return float(special.exp1(x))
    if a <= -1:
        raise TrainlessError(f"upper_gamma is implemented for a > -1, got {a}")
    return (upper_gamma(a + 1.0, x) - math.exp(a * math.log(x) - x)) / a


@dataclass(frozen=True)
class GolikovBound:
    """Theorem 5.2's terms for one setting (float64; inf where a term overflows: the bound is vacuous there).

    Inputs: L, d, m, beta, eps, kappa, p, delta, rho, gamma, s, t, train_margin_risk.
    upsilon: Upsilon_kappa = sqrt((kappa p d ln 2 + ln(1/delta)) / (2m)) (eq. 7), the proxy's counting bound.
    phi: Phi_kappa (eq. 8). one_bar, s_bar, s_bar_rho, s_hat, beta_bar: the theorem's constants.
    u, v: u_beta(t) (eq. 9) and v_beta(t) (eq. 10, printed form); v_ode: the exact solution of eq. 40 / 88.
    w_u, w_beta: w(u_beta(t)) and w(beta) (eq. 11).
    delta_kb: Delta_{kappa,beta}(t) = Phi_kappa v u^(L-1) (eq. 7). deviation: Delta eps^kappa / gamma.
    gap: upsilon + deviation, the a priori bound on R - R^_gamma. bound: train_margin_risk + gap (eq. 6).
    """

    L: int
    d: int
    m: int
    beta: float
    eps: float
    kappa: int
    p: int
    delta: float
    rho: float
    gamma: float
    s: float
    t: float
    train_margin_risk: float
    upsilon: float
    phi: float
    one_bar: float
    s_bar: float
    s_bar_rho: float
    s_hat: float
    beta_bar: float
    u: float
    v: float
    v_ode: float
    w_u: float
    w_beta: float
    delta_kb: float
    deviation: float
    gap: float
    bound: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, ok: bool, value: object, want: str) -> None:
    if not ok:
        raise TrainlessError(f"{name} must be {want}, got {value!r}")


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def s_bar_r(r: float, *, L: int, eps: float, s: float, rho: float, beta: float) -> float:
    """s_bar_r = (1 - eps)(s + rho beta^L) + eps sqrt(r) (L - 1)(1 + rho beta^L) (Theorem 5.2)."""
    return (1.0 - eps) * (s + rho * beta**L) + eps * math.sqrt(r) * (L - 1) * (1.0 + rho * beta**L)


def u_of_t(t: float, *, L: int, beta_bar: float, s_bar: float) -> float:
    """u_beta(t) (eq. 9): beta_bar e^(s_bar t) for L = 2; (beta_bar^(2-L) - (L-2) s_bar t)^(1/(2-L)) for L >= 3,
    the solution of du/dt = s_bar u^(L-1), u(0) = beta_bar (inf past its blow-up time)."""
    if L == 2:
        x = s_bar * t
        return math.inf if x > 700 else beta_bar * math.exp(x)
    base = beta_bar ** (2 - L) - (L - 2) * s_bar * t
    return math.inf if base <= 0 else base ** (1.0 / (2 - L))


def golikov_bound(
    *,
    L: int,
    d: int,
    m: int,
    beta: float,
    eps: float,
    kappa: int,
    rho: float,
    gamma: float,
    s: float,
    t: float,
    p: int = 32,
    delta: float = 0.05,
    train_margin_risk: float = 0.0,
) -> GolikovBound:
    """Theorem 5.2 of Golikov (2024) for one setting; see :class:`GolikovBound` and the module docstring for
    every reading. rho = ||W_1(0)||_F / ||W_1(0)|| (>= 1, <= sqrt of the input layer's rank); t in the
    gradient flow's time units (eq. 4: rate 1, loss 1/(2m) ||.||^2)."""
    _check("L", _int(L) and L >= 2, L, "an integer >= 2 (layers)")
    for name, v in (("d", d), ("m", m), ("p", p)):
        _check(name, _int(v) and v >= 1, v, "an integer >= 1")
    _check("kappa", kappa in (1, 2) and _int(kappa), kappa, "1 or 2")
    _check("eps", 0.0 <= eps <= 1.0, eps, "in [0, 1] (the Leaky ReLU's negative slope is 1 - eps)")
    _check("beta", beta > 0 and math.isfinite(beta), beta, "> 0 (the layers' initial spectral norm)")
    _check("delta", 0.0 < delta < 1.0, delta, "in (0, 1)")
    _check("rho", rho >= 1.0 and math.isfinite(rho), rho, ">= 1 (||W_1||_F / ||W_1||)")
    _check("gamma", gamma > 0 and math.isfinite(gamma), gamma, "> 0 (the margin)")
    _check("s", s >= 0 and math.isfinite(s), s, ">= 0 (||Y X~^+||)")
    _check("t", t >= 0, t, ">= 0 (gradient-flow time)")
    _check("train_margin_risk", 0.0 <= train_margin_risk <= 1.0, train_margin_risk, "in [0, 1]")

    upsilon = math.sqrt((kappa * p * d * math.log(2.0) + math.log(1.0 / delta)) / (2.0 * m))
    if kappa == 1:
        phi = L * math.sqrt(d) + 1.0 + (L - 1) * rho
    else:
        phi = (L - 1) * ((L + 1 + (L - 1) * rho) * math.sqrt(d) + 2.0 * (1.0 + (L - 1) * rho))
    common = {"L": L, "eps": eps, "s": s, "rho": rho, "beta": beta}
    one_bar = 1.0 + rho * beta**L
    s_bar = s_bar_r(1.0, **common)
    s_rho = s_bar_r(rho, **common)
    s_hat = L / (1.0 + (L - 1) * rho) * s_bar
    beta_bar = beta * s_rho / s_bar
    u = u_of_t(t, L=L, beta_bar=beta_bar, s_bar=s_bar)

    def w(x: float) -> float:
        y = x**L / s_hat
        return -one_bar / s_bar * upper_gamma((2.0 - L) / L, y) - rho * s_hat / s_bar * upper_gamma(2.0 / L, y)

    def v_from(lower: float) -> tuple[float, float]:
        if not math.isfinite(u):
            return math.inf, math.nan
        wu = w(u)
        with np.errstate(over="ignore"):
            growth = float(np.exp(u**L / s_hat))
        lead = (L - 1) / L * s_hat ** ((2.0 - L) / L) * u ** (L - 1)
        return lead * (wu - w(lower)) * growth, wu

    v, w_u = v_from(beta)
    v_ode, _ = v_from(beta_bar)
    delta_kb = phi * v * u ** (L - 1) if math.isfinite(v) else math.inf
    deviation = delta_kb * eps**kappa / gamma if eps > 0 else 0.0
    gap = upsilon + deviation
    return GolikovBound(
        L=L,
        d=d,
        m=m,
        beta=beta,
        eps=eps,
        kappa=kappa,
        p=p,
        delta=delta,
        rho=rho,
        gamma=gamma,
        s=s,
        t=t,
        train_margin_risk=train_margin_risk,
        upsilon=upsilon,
        phi=phi,
        one_bar=one_bar,
        s_bar=s_bar,
        s_bar_rho=s_rho,
        s_hat=s_hat,
        beta_bar=beta_bar,
        u=u,
        v=v,
        v_ode=v_ode,
        w_u=w_u,
        w_beta=w(beta),
        delta_kb=delta_kb,
        deviation=deviation,
        gap=gap,
        bound=train_margin_risk + gap,
    )


def t_star(alpha: float, *, beta: float, s: float, L: int = 2) -> float:
    """The time a linear network (eps = 0) initialised at norm beta needs to learn the fraction alpha of its
    strongest mode, u_bar^L = alpha s (Saxe et al. dynamics du/dt = u^(L-1)(s - u^L), eq. 12 / 95):

        L = 2:  t* = ln(alpha (s - beta^2) / ((1 - alpha) beta^2)) / (2 s)                          (eq. 15)
        L >= 3: t* = [beta^(2-L) F(beta^L / s) - (alpha s)^(2/L - 1) F(alpha)] / (s (L - 2)),
                F(z) = 2F1(1, 2/L - 1; 2/L; z)                                                       (eq. 97)

    (the hypergeometric series of eq. 96, checked against quadrature). Needs beta^L / s < alpha < 1."""
    _check("L", _int(L) and L >= 2, L, "an integer >= 2")
    _check("beta", beta > 0, beta, "> 0")
    _check("s", 0 < s, s, "> 0")
    _check("alpha", beta**L / s < alpha < 1.0, alpha, f"in (beta^L / s, 1) = ({beta**L / s:.3g}, 1)")
    if L == 2:
        return math.log(alpha * (s - beta**2) / ((1.0 - alpha) * beta**2)) / (2.0 * s)
    b = 2.0 / L - 1.0

    def f(z: float) -> float:
        return float(special.hyp2f1(1.0, b, b + 1.0, z))

    return (beta ** (2 - L) * f(beta**L / s) - (alpha * s) ** b * f(alpha)) / (s * (L - 2))
