"""Small problems with exact answers, shared by the kernel (and later dynamics) tests.

Every model here is float64 and in eval mode, so the kernels can be compared to float64 tolerance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def linear_model(d_in: int = 6, c: int = 3, seed: int = 0) -> nn.Module:
    """f(x) = W x + b: J rows are [x (x) e_c, e_c], so Theta[i, j, a, b] = delta_ab (x_i . x_j + 1)."""
    torch.manual_seed(seed)
    return nn.Linear(d_in, c).double().eval()


def linear_kernel_closed_form(x: torch.Tensor, c: int) -> torch.Tensor:
    """(N, N, C, C) float64: delta_ab (x_i . x_j + 1), the exact NTK of ``linear_model``."""
    k = x @ x.T + 1.0
    return k[:, :, None, None] * torch.eye(c, dtype=torch.float64)


class ConvZoo(nn.Module):
    """Every supported op and conv variant: stride, padding (int and "same"), dilation, groups, depthwise,
    a strided 1x1,
    BatchNorm (eval, with non-trivial statistics), LayerNorm, a linear layer on 3-d input, and a head."""

    def __init__(self, c: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding="same", dilation=2, groups=2, bias=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn2 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 8, 1, stride=2)
        self.tok = nn.Linear(8, 6)
        self.ln = nn.LayerNorm(6)
        self.head = nn.Linear(6, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.tanh(self.conv2(x))
        x = torch.relu(self.bn2(self.dw(x)))
        x = x + torch.tanh(self.pw(x))[..., :1, :1]  # a strided 1x1 conv
        tokens = x.flatten(2).transpose(1, 2)  # (B, P, 8)
        tokens = self.ln(torch.tanh(self.tok(tokens)))
        return self.head(tokens.mean(1))


def conv_zoo(c: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = ConvZoo(c).double()
    with torch.no_grad():
        for bn in (m.bn1, m.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return m.eval()


def images(n: int = 7, size: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g, dtype=torch.float64)


def tanh_mlp(d_in: int = 5, hidden: int = 7, c: int = 3, seed: int = 0) -> nn.Module:
    """A small float64 MLP whose linearization differs from itself (for the dynamics tests)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, c)).double().eval()


def reference_kernel(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Theta (N, N, C, C), f0 (N, C)) by torch.func.jacrev, float64: the reference every engine uses."""
    from torch.func import functional_call, jacrev

    params = {k: v.detach() for k, v in module.named_parameters()}
    jac = jacrev(lambda p: functional_call(module, p, (x,)))(params)
    n, c = module(x).shape
    j = torch.cat([v.reshape(n, c, -1) for v in jac.values()], dim=2)
    return torch.einsum("iap,jbp->ijab", j, j), module(x).detach()


def train_linearized(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    lrs: list[float],
    batches: list[torch.Tensor],
    loss: str,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> tuple[list[float], list[float]]:
    """Train f_lin(w) = f(w0) + jvp(f, w0; w - w0) in weight space with torch.optim.SGD; return the
    whole-set loss before each step and after the last, and ||w_t - w0|| at the same points (float64)."""
    from torch.func import functional_call, jvp

    from trainless._losses import loss_value

    w0 = {k: v.detach().clone() for k, v in module.named_parameters()}
    w = {k: nn.Parameter(v.clone()) for k, v in w0.items()}
    opt = torch.optim.SGD(list(w.values()), lr=lrs[0], momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def f_lin(xb: torch.Tensor) -> torch.Tensor:
        tangent = {k: w[k] - w0[k] for k in w}
        out, jv = jvp(lambda p: functional_call(module, p, (xb,)), (w0,), (tangent,))
        return out + jv

    losses, dists = [], []

    def record() -> None:
        with torch.no_grad():
            losses.append(float(loss_value(loss, f_lin(x), y)))
            dists.append(float(sum((w[k] - w0[k]).pow(2).sum() for k in w)) ** 0.5)

    for lr, b in zip(lrs, batches, strict=True):
        record()
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss_value(loss, f_lin(x[b]), y[b]).backward()
        opt.step()
    record()
    return losses, dists


def power_law_modes(n: int, classes: int, c: float, s: float, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and residual projections (un-normalized) of an N-sample kernel whose normalized spectrum
    and projections are exact power laws: lambda_k / N = c k^-s, (v_k . dy)^2 / N = a k^-b, k = 1..N C."""
    k = np.arange(1, n * classes + 1, dtype=np.float64)
    return n * c * k**-s, n * a * k**-b


def gaussian_power_law_task(n: int, dim: int, s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features x ~ N(0, diag(j^-s)), j = 1..dim, and noise-free targets y = x . beta with
    beta_j ~ N(0, j^-1/2): the kernel x_i . x_j has the limit operator's eigenvalues j^-s exactly (N -> inf),
    so Theta / N's top eigenvalues approach a power law as N grows. Returns X (n, dim), y (n,) float64."""
    rng = np.random.default_rng(seed)
    j = np.arange(1, dim + 1, dtype=np.float64)
    beta = rng.standard_normal(dim) * j**-0.25
    x = rng.standard_normal((n, dim)) * j ** (-s / 2)
    return x, x @ beta


def eig_desc(k: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of a symmetric kernel matrix, descending, and (v_k . y)^2 (float64)."""
    w, v = np.linalg.eigh(k)
    return w[::-1].copy(), ((v[:, ::-1].T @ y) ** 2).copy()


def batch_coefficients(e: torch.Tensor, batch: torch.Tensor | None) -> torch.Tensor:
    """One step's gradient coefficients in the outputs: e / N on every sample (full batch, ``batch`` None) or
    e_B / |B| on the batch's rows and zero elsewhere; e (N, C) the per-sample dl/df."""
    if batch is None:
        return e / e.shape[0]
    g = torch.zeros_like(e)
    g[batch] = e[batch] / len(batch)
    return g
