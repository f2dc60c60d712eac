"""Early-time dynamics of a two-layer network and the linear models that mimic it (Hu, Xiao, Adlam,
Pennington, NeurIPS 2020; seed 004).

The network f(x; W, v) = v^T phi(W x / sqrt(d)) / sqrt(m), symmetric initialization, trained by GD on
L = 1/(2n) sum_i (f(x_i) - y_i)^2 with rates eta_1 (first layer W) and eta_2 (second layer v). Early in
training it follows a linear model on the inputs:

- first layer: f_lin1(x) = beta^T psi_1(x), psi_1(x) = [zeta x; nu] / sqrt(d), kernel
  Theta_lin1 = (zeta^2 X X^T + nu^2 1 1^T) / d;
- second layer: f_lin2(x) = gamma^T psi_2(x), psi_2(x) = [zeta x / sqrt(d); nu / sqrt(2d);
  vartheta_0 + vartheta_1 (|x|/sqrt(d) - 1) + vartheta_2 (|x|/sqrt(d) - 1)^2] (eq. 3);
- both layers: the two linear models trained together (the kernels add, each scaled by its rate),

with zeta = E[phi'(g)], nu = E[g phi'(g)] sqrt(Tr(Sigma^2)/d), vartheta_0 = E[phi(g)], vartheta_1 =
E[g phi'(g)], vartheta_2 = E[(g^3/2 - g) phi'(g)] for g ~ N(0, 1) (eq. 4), all float64. The closeness
theorem: ||u(t) - u_lin(t)|| <~ eta t eps / sqrt(n) up to T = c d log d / eta.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate
from torch import nn

from ..errors import TrainlessError
from ._mnist import binary_mnist_split


@dataclass(frozen=True)
class Activation:
    """An activation phi with its derivative, for the torch network and for the Gaussian constants.

    phi, dphi: elementwise functions, written with torch operations (they are applied to float64 numpy
    arrays through torch for the quadrature). kink_at_zero: phi is only piecewise smooth with a kink at 0
    (ReLU, leaky ReLU); then ``dphi_at_zero`` must say which derivative the theory uses there (Hu et al.
    take phi'(0) = 1), and the constants are integrated on each half-line separately.
    """

    name: str
    phi: Callable[[torch.Tensor], torch.Tensor]
    dphi: Callable[[torch.Tensor], torch.Tensor]
    kink_at_zero: bool = False
    dphi_at_zero: float | None = None

    def __post_init__(self) -> None:
        if self.kink_at_zero and self.dphi_at_zero is None:
            raise TrainlessError(
                f"activation {self.name!r} is not differentiable at 0: state phi'(0) (dphi_at_zero; Hu et al. use 1)"
            )

    @staticmethod
    def builtin(name: str) -> Activation:
        """``relu``, ``leaky-relu`` (slope 0.1 below 0), ``erf``, ``tanh`` or ``linear``."""
        if name == "relu":
            return piecewise_linear(0.0, "relu")
        if name == "leaky-relu":
            return piecewise_linear(0.1, "leaky-relu")
        if name == "erf":
            return Activation("erf", torch.erf, lambda z: 2.0 / math.sqrt(math.pi) * torch.exp(-z * z))
        if name == "tanh":
            return Activation("tanh", torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2)
        if name == "linear":
            return Activation("linear", lambda z: z, torch.ones_like)
        raise TrainlessError(f"unknown activation {name!r}; built in: {', '.join(ACTIVATIONS)}")


ACTIVATIONS = ("relu", "leaky-relu", "erf", "tanh", "linear")


def piecewise_linear(a: float, name: str | None = None) -> Activation:
    """phi(z) = z for z >= 0, a z below (Hu et al. assumption (ii)), with phi'(0) = 1."""
    return Activation(
        name or f"piecewise-linear({a:g})",
        lambda z: torch.where(z >= 0, z, a * z),
        lambda z: torch.where(z >= 0, torch.ones_like(z), torch.full_like(z, a)),
        kink_at_zero=True,
        dphi_at_zero=1.0,
    )


@dataclass(frozen=True)
class EarlyTimeConstants:
    """The Gaussian expectations of eq. (4) and psi_1, float64. nu includes sqrt(Tr(Sigma^2)/d)."""

    activation: str
    zeta: float
    nu: float
    vartheta0: float
    vartheta1: float
    vartheta2: float
    trace_sigma2_over_d: float


_GH_NODES = 160


def gaussian_expectation(h: Callable[[np.ndarray], np.ndarray], *, kink_at_zero: bool = False) -> float:
    """E[h(g)] for g ~ N(0, 1), float64. Smooth h: Gauss-Hermite quadrature (probabilists' weight,
    numpy's hermegauss, 160 nodes: exact for polynomials to degree 319). A kink at 0 spoils its spectral
    convergence, so then each half-line is integrated on its own by adaptive Gauss-Kronrod (scipy's quad)
    against the Gaussian density."""
    if not kink_at_zero:
        nodes, weights = np.polynomial.hermite_e.hermegauss(_GH_NODES)
        return float(np.dot(weights, h(nodes)) / math.sqrt(2.0 * math.pi))

    def dens(g: float) -> float:
        return float(h(np.array([g]))[0]) * math.exp(-0.5 * g * g) / math.sqrt(2.0 * math.pi)

    neg, _ = integrate.quad(dens, -np.inf, 0.0, epsabs=1e-13, epsrel=1e-12, limit=200)
    pos, _ = integrate.quad(dens, 0.0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)
    return neg + pos


def constants(activation: Activation | str, trace_sigma2_over_d: float = 1.0) -> EarlyTimeConstants:
    """zeta, nu, vartheta_0..2 of ``activation`` (eq. 4 and psi_1's), by :func:`gaussian_expectation`.

    trace_sigma2_over_d: Tr(Sigma^2) / d of the input distribution (1 for isotropic inputs with
    Tr(Sigma) = d); nu = E[g phi'(g)] sqrt(Tr(Sigma^2)/d).
    """
    act = Activation.builtin(activation) if isinstance(activation, str) else activation
    if not (math.isfinite(trace_sigma2_over_d) and trace_sigma2_over_d > 0):
        raise TrainlessError(f"trace_sigma2_over_d must be > 0, got {trace_sigma2_over_d}")

    def np_fn(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[np.ndarray], np.ndarray]:
        return lambda g: f(torch.as_tensor(g, dtype=torch.float64)).numpy()

    phi, dphi = np_fn(act.phi), np_fn(act.dphi)
    kink = act.kink_at_zero

    def e(h: Callable[[np.ndarray], np.ndarray]) -> float:
        return gaussian_expectation(h, kink_at_zero=kink)

    zeta = e(dphi)
    g_dphi = e(lambda g: g * dphi(g))
    return EarlyTimeConstants(
        activation=act.name,
        zeta=zeta,
        nu=g_dphi * math.sqrt(trace_sigma2_over_d),
        vartheta0=e(phi),
        vartheta1=g_dphi,
        vartheta2=e(lambda g: (0.5 * g**3 - g) * dphi(g)),
        trace_sigma2_over_d=trace_sigma2_over_d,
    )


def psi1(x: torch.Tensor, c: EarlyTimeConstants) -> torch.Tensor:
    """psi_1(x) = [zeta x; nu] / sqrt(d): (n, d+1) float64 for x (n, d)."""
    x = _rows(x)
    d = x.shape[1]
    return torch.cat([c.zeta * x, torch.full((x.shape[0], 1), c.nu, dtype=torch.float64)], 1) / math.sqrt(d)


def psi2(x: torch.Tensor, c: EarlyTimeConstants) -> torch.Tensor:
    """psi_2(x) of eq. (3): (n, d+2) float64."""
    x = _rows(x)
    n, d = x.shape
    r = x.norm(dim=1, keepdim=True) / math.sqrt(d) - 1.0
    last = c.vartheta0 + c.vartheta1 * r + c.vartheta2 * r * r
    mid = torch.full((n, 1), c.nu / math.sqrt(2.0 * d), dtype=torch.float64)
    return torch.cat([c.zeta * x / math.sqrt(d), mid, last], 1)


def linear_kernels(x: torch.Tensor, c: EarlyTimeConstants) -> tuple[torch.Tensor, torch.Tensor]:
    """(Theta_lin1, Theta_lin2) = (psi_1 psi_1^T, psi_2 psi_2^T), each (n, n) float64. Training both layers
    with rates eta_1, eta_2 follows eta_1 Theta_lin1 + eta_2 Theta_lin2."""
    p1, p2 = psi1(x, c), psi2(x, c)
    return p1 @ p1.T, p2 @ p2.T


def _rows(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x).to(torch.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise TrainlessError(f"x must have shape (n, d) with n, d >= 1, got {tuple(x.shape)}")
    return x


class TwoLayerNet(nn.Module):
    """f(x) = v^T phi(W x / sqrt(d)) / sqrt(m), float64, with the symmetric initialization: w_r ~ N(0, I_d)
    and v_r uniform on {-1, +1} for r < m/2, then w_{r + m/2} = w_r and v_{r + m/2} = -v_r, so f = 0 at
    init (m even)."""

    def __init__(self, d: int, m: int, activation: Activation | str, seed: int = 0) -> None:
        super().__init__()
        for name, v in (("d", d), ("m", m)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TrainlessError(f"{name} must be an integer >= 1, got {v!r}")
        if m % 2:
            raise TrainlessError(f"the symmetric initialization needs an even width m, got {m}")
        self.act = Activation.builtin(activation) if isinstance(activation, str) else activation
        g = torch.Generator().manual_seed(seed)
        half = torch.randn(m // 2, d, generator=g, dtype=torch.float64)
        signs = torch.randint(0, 2, (m // 2,), generator=g).to(torch.float64) * 2 - 1
        self.w = nn.Parameter(torch.cat([half, half]))
        self.v = nn.Parameter(torch.cat([signs, -signs]))
        self.d, self.m = d, m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act.phi(x @ self.w.T / math.sqrt(self.d)) @ self.v / math.sqrt(self.m)

    def ntk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Theta_1(W), Theta_2(W)) at the current weights: the first-layer NTK
        (phi'(X W^T/sqrt d) diag(v^2) phi'(...)^T / m) (.) (X X^T / d) and the second-layer NTK
        phi(X W^T/sqrt d) phi(...)^T / m, each (n, n) float64 (with v = +-1 the first is the slides' form)."""
        with torch.no_grad():
            x = _rows(x)
            z = x @ self.w.T / math.sqrt(self.d)
            dp = self.act.dphi(z) * self.v
            p = self.act.phi(z)
            return (dp @ dp.T / self.m) * (x @ x.T / self.d), p @ p.T / self.m


@dataclass(frozen=True, eq=False)
class EarlyTimeRun:
    """A two-layer network trained by GD next to its linear model, float64. Time in GD steps.

    steps: (S,) recorded steps. train_gap / test_gap: (1/n) sum_i (f_t(x_i) - f_lin_t(x_i))^2 on the
    training / test points (eq. 1). train_loss / test_loss: the network's 1/(2n) sum (f - y)^2;
    train_loss_lin / test_loss_lin: the linear model's. weight_distance: ||W(t) - W(0)||_F (first layer)
    and ||v(t) - v(0)|| (second) in quadrature. kernel_distance: ||Theta(W(0)) - Theta_lin|| /
    ||Theta_lin|| (spectral norms) for the trained layers' rate-weighted kernel at init (the proposition
    "distance kernels"). horizon: the first recorded step whose train gap exceeds ``tolerance`` x
    (1/n) ||y||^2 (None: never within the run). horizon_theory: d log d / max(eta_1, eta_2), the theorem's
    T up to its constant c.
    """

    d: int
    m: int
    n: int
    activation: str
    eta1: float
    eta2: float
    steps: torch.Tensor
    train_gap: torch.Tensor
    test_gap: torch.Tensor
    train_loss: torch.Tensor
    train_loss_lin: torch.Tensor
    test_loss: torch.Tensor
    test_loss_lin: torch.Tensor
    weight_distance: torch.Tensor
    kernel_distance: float
    tolerance: float
    horizon: int | None
    horizon_theory: float
    constants: EarlyTimeConstants


def run_early_time(
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    m: int = 256,
    activation: Activation | str = "erf",
    eta1: float = 1.0,
    eta2: float = 0.0,
    steps: int = 1000,
    record_every: int = 10,
    tolerance: float = 0.01,
    seed: int = 0,
) -> EarlyTimeRun:
    """Train :class:`TwoLayerNet` (width m, symmetric init) by full-batch GD with rates (eta_1, eta_2) on
    the 1/(2n) squared loss, and the matching linear model (features psi_1 when eta_1 > 0, psi_2 when
    eta_2 > 0, weights from 0 so both start at u = 0) with the same rates; record both every
    ``record_every`` steps on the training and test points. x (n, d), y (n,); inputs should have
    E x = 0 and Tr(Sigma) = d (the theorem's scaling; Tr(Sigma^2)/d is estimated from x for nu).
    Warns when n < d (the theorem needs n >> d). Float64."""
    x, x_test = _rows(x), _rows(x_test)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    y_test = torch.as_tensor(y_test, dtype=torch.float64).reshape(-1)
    n, d = x.shape
    if y.shape != (n,) or y_test.shape != (x_test.shape[0],) or x_test.shape[1] != d:
        raise TrainlessError(
            f"shapes do not match: x {tuple(x.shape)}, y {tuple(y.shape)}, x_test {tuple(x_test.shape)}, "
            f"y_test {tuple(y_test.shape)}"
        )
    for name, v in (("eta1", eta1), ("eta2", eta2)):
        if not (math.isfinite(v) and v >= 0):
            raise TrainlessError(f"{name} must be >= 0 (0: that layer is frozen), got {v}")
    if eta1 == 0 and eta2 == 0:
        raise TrainlessError("eta1 and eta2 are both 0: nothing trains; give a positive learning rate")
    for name, v, lo in (("steps", steps, 1), ("record_every", record_every, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise TrainlessError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not tolerance > 0:
        raise TrainlessError(f"tolerance must be > 0, got {tolerance}")
    if n < d:
        warnings.warn(
            f"n = {n} training points for d = {d} inputs: the early-time theorem needs n >> d (n >~ d^(1+alpha)); "
            "expect the linear model to be a poor match",
            stacklevel=2,
        )
    cov = x.T @ x / n
    c = constants(activation, float(torch.trace(cov @ cov)) / d)
    net = TwoLayerNet(d, m, activation, seed)
    k1, k2 = net.ntk(x)
    l1, l2 = linear_kernels(x, c)
    k_net, k_lin = eta1 * k1 + eta2 * k2, eta1 * l1 + eta2 * l2
    kernel_distance = float(torch.linalg.matrix_norm(k_net - k_lin, 2) / torch.linalg.matrix_norm(k_lin, 2))

    feats = [(psi1, eta1), (psi2, eta2)]
    phis = [(f(x, c), f(x_test, c), eta) for f, eta in feats if eta > 0]
    coefs = [torch.zeros(p.shape[1], dtype=torch.float64) for p, _, _ in phis]
    w0, v0 = net.w.detach().clone(), net.v.detach().clone()
    rec: dict[str, list[float]] = {k: [] for k in ("gap", "tgap", "loss", "lin", "tloss", "tlin", "dist")}
    rec_steps = []
    for t in range(steps + 1):
        u = net(x)
        u_lin = sum(p @ b for (p, _, _), b in zip(phis, coefs, strict=True))
        if t % record_every == 0 or t == steps:
            with torch.no_grad():
                ut, ut_lin = net(x_test), sum(pt @ b for (_, pt, _), b in zip(phis, coefs, strict=True))
                rec_steps.append(t)
                rec["gap"].append(float((u - u_lin).pow(2).mean()))
                rec["tgap"].append(float((ut - ut_lin).pow(2).mean()))
                rec["loss"].append(float(0.5 * (u - y).pow(2).mean()))
                rec["lin"].append(float(0.5 * (u_lin - y).pow(2).mean()))
                rec["tloss"].append(float(0.5 * (ut - y_test).pow(2).mean()))
                rec["tlin"].append(float(0.5 * (ut_lin - y_test).pow(2).mean()))
                moved = (net.w - w0).pow(2).sum() + (net.v - v0).pow(2).sum()
                rec["dist"].append(float(moved.sqrt()))
        if t == steps:
            break
        loss = 0.5 * (u - y).pow(2).mean()
        gw, gv = torch.autograd.grad(loss, (net.w, net.v))
        with torch.no_grad():
            net.w -= eta1 * gw
            net.v -= eta2 * gv
            r = (u_lin - y) / n
            for i, (p, _, eta) in enumerate(phis):
                coefs[i] = coefs[i] - eta * (p.T @ r)
    scale = float(y.pow(2).mean())
    horizon = next((s for s, g in zip(rec_steps, rec["gap"], strict=True) if g > tolerance * scale), None)

    def tens(key: str) -> torch.Tensor:
        return torch.tensor(rec[key], dtype=torch.float64)

    return EarlyTimeRun(
        d=d,
        m=m,
        n=n,
        activation=c.activation,
        eta1=eta1,
        eta2=eta2,
        steps=torch.tensor(rec_steps),
        train_gap=tens("gap"),
        test_gap=tens("tgap"),
        train_loss=tens("loss"),
        train_loss_lin=tens("lin"),
        test_loss=tens("tloss"),
        test_loss_lin=tens("tlin"),
        weight_distance=tens("dist"),
        kernel_distance=kernel_distance,
        tolerance=tolerance,
        horizon=horizon,
        horizon_theory=d * math.log(d) / max(eta1, eta2) if d > 1 else math.nan,
        constants=c,
    )


def synthetic_task(n: int, d: int, *, seed: int = 0, task_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Isotropic Gaussian inputs x ~ N(0, I_d) (Tr(Sigma) = d) and a target with a linear and a nonlinear
    part: y = (z_1 + (z_2^2 - 1) / sqrt(2)) / sqrt(2), z_k = u_k . x for two fixed orthonormal directions, so
    E y = 0, E y^2 = 1 and the best linear model explains half of it: the network follows the linear model
    early and leaves it when it starts fitting the quadratic part. ``task_seed`` fixes the two directions (the
    task), ``seed`` the sample: a test set is the same task with another seed. Float64."""
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=torch.Generator().manual_seed(task_seed), dtype=torch.float64))
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(1_000_003 + seed), dtype=torch.float64)
    z = x @ q
    y = (z[:, 0] + (z[:, 1] ** 2 - 1.0) / math.sqrt(2.0)) / math.sqrt(2.0)
    return x, y


def erf_constants_closed_form() -> dict[str, float]:
    """phi = erf: phi'(z) = 2/sqrt(pi) exp(-z^2), so zeta = 2/sqrt(3 pi) (E exp(-g^2) = 1/sqrt(3)); erf is
    odd, so vartheta_0 = vartheta_1 = vartheta_2 = nu = 0."""
    return {"zeta": 2.0 / math.sqrt(3.0 * math.pi), "vartheta0": 0.0, "vartheta1": 0.0, "vartheta2": 0.0}


def piecewise_linear_constants_closed_form(a: float) -> dict[str, float]:
    """phi(z) = z (z >= 0), a z (z < 0): zeta = (1 + a)/2, vartheta_1 = E[g phi'(g)] = (1 - a)/sqrt(2 pi),
    vartheta_0 = E[phi(g)] = (1 - a)/sqrt(2 pi), vartheta_2 = 0 (E[g^3; g > 0] = 2 E[g; g > 0])."""
    s = (1.0 - a) / math.sqrt(2.0 * math.pi)
    return {"zeta": (1.0 + a) / 2.0, "vartheta0": s, "vartheta1": s, "vartheta2": 0.0}


def mnist_task(
    resolution: int = 14, *, n_train: int = 4000, n_test: int = 1000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST-5k as the theorem wants its inputs: images at ``resolution`` px flattened (d = resolution^2),
    centred by the training mean and scaled so that Tr(Sigma) = d on the training split; targets +1 for
    digits 0-4 and -1 for 5-9. A seeded split of the 5000 images into n_train + n_test. Float64."""
    x, y, tr, te = binary_mnist_split(resolution, n_train, n_test, seed)
    mean = x[tr].mean(0)
    scale = math.sqrt(x.shape[1] / float((x[tr] - mean).pow(2).sum(1).mean()))
    return (x[tr] - mean) * scale, y[tr], (x[te] - mean) * scale, y[te]
