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
import torch
from scipy import special

from ..errors import TrainlessError
from ._mnist import binary_mnist_split


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


# ---------------------------------------------------------------------------------------------------------
# The experiment of Sec. 6: binary MNIST (0-4 vs 5-9), downsampled, whitened; an L-layer bias-free Leaky ReLU
# net of width 64 trained by GD with a small lr (approximating the gradient flow of eq. 4).


@dataclass(frozen=True, eq=False)
class WhitenedData:
    """Inputs as columns (the paper's X in R^(d x m)), scaled into the unit ball by the training set's
    largest norm, then whitened by the training set's Sigma_X^(-1/2) (also applied to the test set, the
    paper's substitute for Sigma). y: +1 for digits 0-4, -1 for 5-9. s = ||Y X~^T|| / m. Float64."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    s: float
    resolution: int

    @property
    def d(self) -> int:
        return int(self.x.shape[0])

    @property
    def m(self) -> int:
        return int(self.x.shape[1])


def binary_mnist(resolution: int = 7, *, n_train: int = 4000, n_test: int = 1000, seed: int = 0) -> WhitenedData:
    """MNIST-5k at ``resolution`` px, a seeded n_train / n_test split, unit-ball scaled and whitened.
    Raises when Sigma_X is not full rank (pixels constant over the training set: whitening impossible)."""
    x, y, tr, te = binary_mnist_split(resolution, n_train, n_test, seed)
    x = x / float(x[tr].norm(dim=1).max())
    xt = x[tr].T  # (d, m)
    sigma = xt @ xt.T / n_train
    evals, evecs = torch.linalg.eigh(sigma)
    if float(evals[0]) <= 1e-10 * float(evals[-1]):
        raise TrainlessError(
            f"MNIST at {resolution} px is not full rank over the {n_train} training images (smallest eigenvalue of "
            f"Sigma_X {float(evals[0]):.3g}, largest {float(evals[-1]):.3g}): whitening is impossible; use a "
            "lower resolution"
        )
    inv_root = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    xw, xw_test = inv_root @ xt, inv_root @ x[te].T
    s = float(torch.linalg.vector_norm(y[tr] @ xw.T)) / n_train
    return WhitenedData(xw, y[tr], xw_test, y[te], s, resolution)


def leaky_net_weights(
    d: int, *, L: int, width: int, beta: float, rank_one_input: bool = False, seed: int = 0
) -> list[torch.Tensor]:
    """Torch's default init of bias-free nn.Linear layers d -> width -> ... -> 1 (seeded), each rescaled to
    spectral norm beta; ``rank_one_input``: the input layer is beta u v^T instead (rho = 1). Float64."""
    g = torch.Generator().manual_seed(seed)
    dims = [d] + [width] * (L - 1) + [1]
    ws = []
    for i in range(L):
        bound = 1.0 / math.sqrt(dims[i])
        w = (torch.rand(dims[i + 1], dims[i], generator=g, dtype=torch.float64) * 2 - 1) * bound
        if i == 0 and rank_one_input:
            u = torch.randn(dims[1], 1, generator=g, dtype=torch.float64)
            v = torch.randn(1, dims[0], generator=g, dtype=torch.float64)
            w = u @ v
        ws.append(w * (beta / float(torch.linalg.matrix_norm(w, 2))))
    return ws


def leaky_forward(ws: list[torch.Tensor], x: torch.Tensor, eps: float) -> torch.Tensor:
    """f(x) = W_L phi(W_{L-1} ... phi(W_1 x)), phi(z) = z - eps min(0, z) (eq. 2-3); x (d, k) -> (k,)."""
    h = x
    for w in ws[:-1]:
        z = w @ h
        h = z - eps * torch.clamp(z, max=0.0)
    return (ws[-1] @ h).reshape(-1)


@dataclass(frozen=True, eq=False)
class GolikovRun:
    """One training run of the Sec. 6 experiment and the bound along it (float64).

    times: gradient-flow times t = lr x steps at the checkpoints. train_loss: 1/(2m) ||Y - f||^2;
    projected_loss: 1/(2m) ||(Y - f) X~^T||^2 (Assumption 5.1 asks it never exceeds its start);
    train_margin_risk: fraction with y f < gamma (per gamma); test_risk: fraction with y f < 0 on the test
    split. rho: ||W_1(0)||_F / ||W_1(0)||. bounds[gamma][kappa][p]: Theorem 5.2 at each checkpoint.
    """

    L: int
    eps: float
    beta: float
    rho: float
    s: float
    d: int
    m: int
    times: tuple[float, ...]
    train_loss: tuple[float, ...]
    projected_loss: tuple[float, ...]
    test_risk: tuple[float, ...]
    train_margin_risk: dict[float, tuple[float, ...]]
    bounds: dict[float, dict[int, dict[int, tuple[GolikovBound, ...]]]]


def _checkpoint_steps(t_max: float, lr: float, checkpoints: int) -> tuple[int, set[int]]:
    """The GD steps reaching gradient-flow time t_max at rate lr, and the steps of ``checkpoints`` evenly
    spaced evaluations (0 and the last included)."""
    steps = max(1, round(t_max / lr))
    return steps, {round(k * steps / checkpoints) for k in range(checkpoints + 1)}


def _square_loss(params: list[torch.Tensor], data: WhitenedData, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """f(X~) and the loss 1/(2m) ||Y - f(X~)||^2 of eq. (4)."""
    f = leaky_forward(params, data.x, eps)
    return f, 0.5 * (data.y - f).pow(2).sum() / data.m


def _gd_step(params: list[torch.Tensor], loss: torch.Tensor, lr: float) -> None:
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p_, g_ in zip(params, grads, strict=True):
            p_ -= lr * g_


def train_and_bound(
    data: WhitenedData,
    *,
    L: int = 2,
    eps: float = 0.001,
    beta: float = 0.001,
    width: int = 64,
    lr: float = 0.001,
    t_max: float = 15.0,
    checkpoints: int = 60,
    gammas: tuple[float, ...] = (1e-6,),
    kappas: tuple[int, ...] = (1, 2),
    precisions: tuple[int, ...] = (16, 32),
    delta: float = 0.05,
    rank_one_input: bool = False,
    seed: int = 0,
) -> GolikovRun:
    """Train the Sec. 6 network by GD (lr small: gradient flow of eq. 4, time t = lr x steps) up to t_max and
    evaluate, at ``checkpoints`` evenly spaced times, the risks and Theorem 5.2 for every gamma, kappa, p."""
    ws = leaky_net_weights(data.d, L=L, width=width, beta=beta, rank_one_input=rank_one_input, seed=seed)
    # ||W||_F >= ||W||; a rank-one layer gives 1 up to round-off, which must not fail the rho >= 1 check.
    rho = max(1.0, float(torch.linalg.matrix_norm(ws[0]) / torch.linalg.matrix_norm(ws[0], 2)))
    params = [w.clone().requires_grad_(True) for w in ws]
    steps, marks = _checkpoint_steps(t_max, lr, checkpoints)
    times: list[float] = []
    loss_c: list[float] = []
    proj_c: list[float] = []
    test_c: list[float] = []
    margins: dict[float, list[float]] = {g: [] for g in gammas}
    m = data.m
    for step in range(steps + 1):
        f, loss = _square_loss(params, data, eps)
        r = data.y - f
        if step in marks:
            with torch.no_grad():
                times.append(step * lr)
                loss_c.append(float(loss))
                proj_c.append(float(0.5 * (r @ data.x.T).pow(2).sum() / m))
                test_c.append(float((data.y_test * leaky_forward(params, data.x_test, eps) < 0).double().mean()))
                for g in gammas:
                    margins[g].append(float((data.y * f < g).double().mean()))
        if step == steps:
            break
        _gd_step(params, loss, lr)
    bounds: dict[float, dict[int, dict[int, tuple[GolikovBound, ...]]]] = {}
    for g in gammas:
        bounds[g] = {}
        for kappa in kappas:
            bounds[g][kappa] = {}
            for p in precisions:
                bounds[g][kappa][p] = tuple(
                    golikov_bound(
                        L=L,
                        d=data.d,
                        m=m,
                        beta=beta,
                        eps=eps,
                        kappa=kappa,
                        p=p,
                        delta=delta,
                        rho=rho,
                        gamma=g,
                        s=data.s,
                        t=t,
                        train_margin_risk=risk,
                    )
                    for t, risk in zip(times, margins[g], strict=True)
                )
    return GolikovRun(
        L=L,
        eps=eps,
        beta=beta,
        rho=rho,
        s=data.s,
        d=data.d,
        m=m,
        times=tuple(times),
        train_loss=tuple(loss_c),
        projected_loss=tuple(proj_c),
        test_risk=tuple(test_c),
        train_margin_risk={g: tuple(v) for g, v in margins.items()},
        bounds=bounds,
    )


@dataclass(frozen=True)
class GolikovSetting:
    """One setting of the Sec. 6 sweeps (the figure it stands for in ``figure``)."""

    name: str
    figure: str
    L: int = 2
    resolution: int = 7
    beta: float = 0.001
    eps: float = 0.001
    rank_one_input: bool = False
    t_alpha: float = 0.9  # train up to 1.3 t*_alpha of the linear net


PAPER_SETTINGS = (
    GolikovSetting("beta=0.001", "1, 2"),
    GolikovSetting("beta=0.01", "1", beta=0.01),
    GolikovSetting("beta=0.1", "1", beta=0.1),
    GolikovSetting("eps=0.01", "3, 4", eps=0.01),
    GolikovSetting("eps=0.01 rho=1", "3", eps=0.01, rank_one_input=True),
    GolikovSetting("rho=1", "5, 6", rank_one_input=True),
    GolikovSetting("9x9 rho=1", "5", resolution=9, rank_one_input=True),
    GolikovSetting("14x14 rho=1", "5", resolution=14, rank_one_input=True),
    GolikovSetting("L=3 beta=0.1 rho=1", "6", L=3, beta=0.1, rank_one_input=True),
    GolikovSetting("eps=1 (ReLU)", "7", eps=1.0),
    GolikovSetting("eps=1 beta=0.1", "7", eps=1.0, beta=0.1),
)
"""The sweeps of Sec. 6 on this machine (m = 4000): beta (Fig. 1), kappa (Fig. 2, every run), rho = 1 and
precision (Fig. 3, p every run), the terms (Fig. 4), image size (Fig. 5: 7, 9 and 14 px; MNIST-5k is full rank
up to 9 px only, so 14 px is left out and named), depth (Fig. 6; L = 3 at beta = 0.1, as
at beta = 0.001 the deep linear net needs about beta^(2-L) / s time units to leave its saddle), and
Assumption 5.1 along training (Fig. 7)."""


def golikov_experiment(
    settings: tuple[GolikovSetting, ...] = PAPER_SETTINGS,
    *,
    lr: float = 0.01,
    checkpoints: int = 40,
    qs: tuple[float, ...] = (1.0, 10.0, 100.0),
    seed: int = 0,
    skipped: list[tuple[GolikovSetting, str]] | None = None,
) -> list[tuple[GolikovSetting, GolikovRun]]:
    """Run every setting (gamma = beta^2 / q for each q, as Fig. 1; kappa 1 and 2; p 16 and 32). A setting
    whose data cannot be whitened (not full rank at its resolution) is left out and named in ``skipped``."""
    cache: dict[int, WhitenedData | str] = {}
    skipped = skipped if skipped is not None else []
    out = []
    for st in settings:
        if st.resolution not in cache:
            try:
                cache[st.resolution] = binary_mnist(st.resolution, seed=seed)
            except TrainlessError as exc:
                cache[st.resolution] = str(exc)
        data = cache[st.resolution]
        if isinstance(data, str):
            skipped.append((st, data))
            continue
        t_end = 1.3 * t_star(st.t_alpha, beta=st.beta, s=data.s, L=st.L)
        run = train_and_bound(
            data,
            L=st.L,
            eps=st.eps,
            beta=st.beta,
            lr=lr,
            t_max=t_end,
            checkpoints=checkpoints,
            gammas=tuple(st.beta**2 / q for q in qs),
            rank_one_input=st.rank_one_input,
            seed=seed,
        )
        out.append((st, run))
    return out


def experiment_rows(results: list[tuple[GolikovSetting, GolikovRun]], paper_m: int = 60000) -> list[dict[str, Any]]:
    """Per setting, kappa, p and gamma: the smallest bound along training and the risks there; and what the
    bound would be with the paper's m (only Upsilon depends on m)."""
    rows = []
    for st, run in results:
        holds = all(v <= run.projected_loss[0] * (1 + 1e-9) for v in run.projected_loss)
        for g, by_kappa in run.bounds.items():
            for kappa, by_p in by_kappa.items():
                for p, seq in by_p.items():
                    i = min(range(len(seq)), key=lambda k: seq[k].bound)
                    b = seq[i]
                    ups_paper = math.sqrt((kappa * p * run.d * math.log(2.0) + math.log(1.0 / b.delta)) / (2 * paper_m))
                    rows.append(
                        {
                            "setting": st.name,
                            "figure": st.figure,
                            "L": run.L,
                            "d": run.d,
                            "m": run.m,
                            "beta": run.beta,
                            "eps": run.eps,
                            "rho": run.rho,
                            "s": run.s,
                            "kappa": kappa,
                            "p": p,
                            "gamma": g,
                            "t_best": run.times[i],
                            "bound": b.bound,
                            "upsilon": b.upsilon,
                            "deviation": b.deviation,
                            "train_margin_risk": b.train_margin_risk,
                            "test_risk": run.test_risk[i],
                            "non_vacuous": b.bound < 0.5,
                            "bound_at_paper_m": b.train_margin_risk + ups_paper + b.deviation,
                            "assumption_5_1_holds": holds,
                        }
                    )
    return rows


def continuous_margin_risk(y: torch.Tensor, f: torch.Tensor, gamma: float) -> float:
    """The continuous margin risk r^C_gamma (Sec. 4), averaged: 1 where y f < 0, 1 - y f / gamma where
    0 <= y f <= gamma, 0 above; 1/gamma-Lipschitz in f, between the 0-1 risk and the margin risk."""
    z = y * f
    return float(torch.where(z < 0, torch.ones_like(z), torch.clamp(1.0 - z / gamma, min=0.0)).mean())


@dataclass(frozen=True, eq=False)
class OptimisticRun:
    """App. B's "optimistic" bound (eq. 41) along training, float64: for each proxy g (``kappa1`` =
    f^eps at the linear net's weights, ``kappa2`` = that plus the linear correction (f(X~) - g1(X~)) X~^+ x of
    eq. 25, ``linear`` = the linear net itself) and each gamma,

        R^_gamma[f] + (R^C_gamma[g] (test) - R^^C_gamma[g] (train)) + (E_test |f - g| + E^_train |f - g|) / gamma,

    with the test split standing in for the distribution. times: gradient-flow times; train_risk / test_risk /
    train_loss: of the trained net f; gap[proxy][gamma], deviation[proxy] (E_test + E^_train of |f - g|) and
    bound[proxy][gamma] at each time."""

    eps: float
    times: tuple[float, ...]
    train_risk: tuple[float, ...]
    test_risk: tuple[float, ...]
    train_loss: tuple[float, ...]
    gap: dict[str, dict[float, tuple[float, ...]]]
    deviation: dict[str, tuple[float, ...]]
    bound: dict[str, dict[float, tuple[float, ...]]]


PROXIES = ("kappa1", "kappa2", "linear")


def optimistic_bound_run(
    data: WhitenedData,
    *,
    eps: float = 0.1,
    L: int = 2,
    beta: float = 0.001,
    width: int = 64,
    lr: float = 0.01,
    t_max: float = 20.0,
    checkpoints: int = 40,
    gammas: tuple[float, ...] = (0.01, 0.1),
    seed: int = 0,
) -> OptimisticRun:
    """Train the Leaky ReLU net (negative slope 1 - eps) and the linear net (eps = 0) from the same weights by
    the same GD, and evaluate eq. (41) for the three proxies at ``checkpoints`` times (App. B.1)."""
    _check("eps", 0.0 <= eps <= 1.0, eps, "in [0, 1]")
    ws = leaky_net_weights(data.d, L=L, width=width, beta=beta, seed=seed)
    nets = {"f": [w.clone().requires_grad_(True) for w in ws], "lin": [w.clone().requires_grad_(True) for w in ws]}
    slopes = {"f": eps, "lin": 0.0}
    steps, marks = _checkpoint_steps(t_max, lr, checkpoints)
    m = data.m
    rec: dict[str, Any] = {"t": [], "risk": [], "test": [], "loss": []}
    gap = {p: {g: [] for g in gammas} for p in PROXIES}
    dev: dict[str, list[float]] = {p: [] for p in PROXIES}
    bound = {p: {g: [] for g in gammas} for p in PROXIES}
    for step in range(steps + 1):
        if step in marks:
            with torch.no_grad():
                f_tr, f_te = leaky_forward(nets["f"], data.x, eps), leaky_forward(nets["f"], data.x_test, eps)
                g1_tr = leaky_forward(nets["lin"], data.x, eps)
                g1_te = leaky_forward(nets["lin"], data.x_test, eps)
                corr = (f_tr - g1_tr) @ data.x.T / m  # (f(X~) - g1(X~)) X~^+, X~^+ = X~^T / m (X~ X~^T = m I)
                proxies = {
                    "kappa1": (g1_tr, g1_te),
                    "kappa2": (g1_tr + corr @ data.x, g1_te + corr @ data.x_test),
                    "linear": (leaky_forward(nets["lin"], data.x, 0.0), leaky_forward(nets["lin"], data.x_test, 0.0)),
                }
                rec["t"].append(step * lr)
                rec["risk"].append(float((data.y * f_tr < 0).double().mean()))
                rec["test"].append(float((data.y_test * f_te < 0).double().mean()))
                rec["loss"].append(float(0.5 * (data.y - f_tr).pow(2).mean()))
                margins = {g: float((data.y * f_tr < g).double().mean()) for g in gammas}
                for name, (g_tr, g_te) in proxies.items():
                    d = float((f_te - g_te).abs().mean() + (f_tr - g_tr).abs().mean())
                    dev[name].append(d)
                    for g in gammas:
                        gp = continuous_margin_risk(data.y_test, g_te, g) - continuous_margin_risk(data.y, g_tr, g)
                        gap[name][g].append(gp)
                        bound[name][g].append(margins[g] + gp + d / g)
        if step == steps:
            break
        for key, params in nets.items():
            _gd_step(params, _square_loss(params, data, slopes[key])[1], lr)

    def tup(v: dict) -> dict:
        return {k: tuple(x) if isinstance(x, list) else tup(x) for k, x in v.items()}

    return OptimisticRun(
        eps=eps,
        times=tuple(rec["t"]),
        train_risk=tuple(rec["risk"]),
        test_risk=tuple(rec["test"]),
        train_loss=tuple(rec["loss"]),
        gap=tup(gap),
        deviation=tup(dev),
        bound=tup(bound),
    )
