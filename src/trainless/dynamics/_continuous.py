"""The paper's continuous-time engines (Zancato et al. 2020, eq. 1 and 4, Prop. 1-2, Sec. 4, App. A, C, E).

Continuous time t relates to optimizer steps by t_s = sum_{k<s} lr_k / (1 - m): the effective learning
rate lr / (1 - m) carries momentum (App. E), and a learning-rate schedule is absorbed into the time
variable. With the mean loss of DESIGN.md the flow is df/dt = -(1/N) Theta e(f) - wd (J w0 + f - f0),
e the per-sample dl/df.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import solve_ivp
from tqdm.auto import tqdm

from .._losses import Loss, batched_loss_and_error, loss_grad
from ..errors import TrainlessError
from ._heldout import HeldOut
from ._operator import KernelOperator
from ._schedule import SGDSchedule
from ._trajectory import EngineOutput, distance_grid, parameter_distance


def run_ode(
    op: KernelOperator,
    f0: torch.Tensor,
    y: torch.Tensor,
    schedule: SGDSchedule,
    loss: Loss,
    jw0: torch.Tensor | None,
    w0_sq_norm: float,
    rtol: float,
    atol: float,
) -> EngineOutput:
    """The deterministic part of eq. (1), df/dt = -(1/N) Theta grad_f l (+ weight decay), by LSODA
    (scipy.integrate.solve_ivp(method="LSODA"), the paper's integrator), evaluated at every step boundary.

    The state carries alpha and c (w_t - w0 = J^T alpha + c w0) next to f, so ||w_t - w0|| is tracked.
    Returns loss, error (1, T+1), distance steps, distance (1, T+1) and the final outputs (1, N, C).
    """
    n, c_out = f0.shape
    m = n * c_out
    wd = schedule.weight_decay
    jw = jw0 if jw0 is not None else torch.zeros_like(f0)
    times = schedule.times().numpy()

    def rhs(_t: float, state: np.ndarray) -> np.ndarray:
        s = torch.from_numpy(state)
        f = s[:m].view(n, c_out)
        alpha = s[m : 2 * m].view(n, c_out)
        c = float(s[-1])
        e = loss_grad(loss, f, y) / n
        df = -op.matvec(e)
        da = -e
        dc = 0.0
        if wd:
            df = df - wd * (jw + f - f0)
            da = da - wd * alpha
            dc = -wd * (1.0 + c)
        return torch.cat([df.reshape(-1), da.reshape(-1), torch.tensor([dc], dtype=torch.float64)]).numpy()

    y0 = torch.cat([f0.reshape(-1), torch.zeros(m + 1, dtype=torch.float64)]).numpy()
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, method="LSODA", t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise TrainlessError(f"the ODE solver failed: {sol.message}; try the discrete engine")
    states = torch.from_numpy(sol.y.T.copy())  # (T+1, 2m+1)
    fs = states[:, :m].view(-1, n, c_out)
    alphas = states[:, m : 2 * m].view(-1, n, c_out)
    cs = states[:, -1]
    lv, ev = batched_loss_and_error(loss, fs, y)
    dist = parameter_distance(op, alphas, cs, jw, w0_sq_norm)
    grid = torch.arange(schedule.steps + 1)
    return EngineOutput(
        lv.unsqueeze(0), ev.unsqueeze(0), grid, dist.unsqueeze(0), fs[-1:].clone(), alphas[-1:].clone(), cs[-1:].clone()
    )


def _population_factor(n: int, b: int) -> float:
    # The covariance of a mean of b samples drawn without replacement from n: (Sigma / b) (n - b) / (n - 1).
    # The real loader draws without replacement, so a full batch has no noise.
    return 0.0 if n == 1 else (n - b) / (n - 1)


def run_sde(
    op: KernelOperator,
    f0: torch.Tensor,
    y: torch.Tensor,
    schedule: SGDSchedule,
    loss: Loss,
    jw0: torch.Tensor | None,
    w0_sq_norm: float,
    noise: str,
    paths: int,
    substeps: int,
    seed: int,
    distance_stride: int,
    progress: bool,
) -> EngineOutput:
    """Eq. (1) with its stochastic part, by Euler-Maruyama (App. A), ``paths`` independent paths.

    Over one optimizer step (time h = lr / (1 - m)), split into ``substeps`` steps dt = h / substeps:
        f += -dt [(1/N) Theta e + wd (J w0 + f - f0)] + sqrt(dt h q / (|B| N)) Theta a,
    a_j = e_ref_j (xi_j - mean(xi)), xi ~ N(0, I_N), q = (N - |B|) / (N - 1).
    The noise J Sigma^(1/2) dn of eq. (1) has covariance J Sigma J^T in function space, and with
    z_i = Theta[:, i] e_i (the image of sample i's loss gradient) J Sigma J^T = (1/N) sum_i (z_i - z)(z_i - z)^T
    (eq. 3) = the covariance of sqrt(1/N) Theta a: it is sampled exactly from Theta, with no D x D matrix.
    The paper approximates Sigma by its diagonal in weight space only to avoid storing D x D; here that is
    not needed. ``noise`` says which e_ref (Sec. 4, App. C):
      - ``rescaled`` (the paper's): e(f0), estimated at the start, times ||grad_f L_t|| / ||grad_f L_0||;
      - ``constant``: e(f0) throughout (the paper's ablation, Fig. 8: wrong asymptotics);
      - ``current``: e(f_t), Sigma(f_t) of eq. (3) at every step;
      - ``diagonal``: only the diagonal of J Sigma J^T at the start (independent noise per output), rescaled
        as ``rescaled``; ||w_t - w0|| is not tracked (NaN) since that noise leaves the span of J^T.
    q is the finite-population factor of sampling without replacement (the paper's derivation assumes
    replacement, App. F.1; the real loader does not, and q makes a full batch noiseless).
    """
    n, c_out = f0.shape
    steps = schedule.steps
    b = schedule.batch_size if schedule.batch_size is not None else n
    q = _population_factor(n, b)
    wd = schedule.weight_decay
    jw = jw0 if jw0 is not None else torch.zeros_like(f0)
    gen = torch.Generator().manual_seed(seed)
    e0 = loss_grad(loss, f0, y)
    e0_norm = float(e0.norm())
    sigma = None
    if noise == "diagonal":
        z = op.column_images(e0)  # (N_i, N_j, C)
        sigma = (z.pow(2).mean(0) - z.mean(0).pow(2)).clamp_min(0.0).sqrt()
    f = f0.expand(paths, n, c_out).clone()
    alpha = torch.zeros_like(f)
    c = torch.zeros(paths, dtype=torch.float64)
    grid = distance_grid(steps, distance_stride)
    losses = torch.empty((paths, steps + 1), dtype=torch.float64)
    errors = torch.empty_like(losses)
    dists = torch.empty((paths, grid.numel()), dtype=torch.float64)
    gi = 0
    bar = tqdm(total=steps, desc="SDE (Euler-Maruyama)", unit="step", disable=not progress, leave=False)
    for t in range(steps + 1):
        losses[:, t], errors[:, t] = batched_loss_and_error(loss, f, y)
        if gi < grid.numel() and int(grid[gi]) == t:
            dists[:, gi] = float("nan") if noise == "diagonal" else parameter_distance(op, alpha, c, jw, w0_sq_norm)
            gi += 1
        if t == steps:
            break
        h = schedule.effective_lr[t]
        dt = h / substeps
        scale = math.sqrt(dt * h * q / (b * n)) if q > 0 else 0.0
        for _ in range(substeps):
            e = loss_grad(loss, f, y)
            drift_f = op.matvec(e / n)
            drift_a = e / n
            if wd:
                drift_f = drift_f + wd * (jw + f - f0)
                drift_a = drift_a + wd * alpha
                c = c - dt * wd * (1.0 + c)
            f_new = f - dt * drift_f
            alpha = alpha - dt * drift_a
            if scale:
                ratio = e.flatten(1).norm(dim=1) / e0_norm if e0_norm > 0 else torch.zeros(paths)
                xi = torch.randn((paths, n), generator=gen, dtype=torch.float64)
                if noise == "diagonal":
                    assert sigma is not None
                    zeta = torch.randn((paths, n, c_out), generator=gen, dtype=torch.float64)
                    f_new = f_new + math.sqrt(dt * h * q / b) * ratio.view(-1, 1, 1) * sigma * zeta
                else:
                    if noise == "current":
                        e_ref = e
                    elif noise == "constant":
                        e_ref = e0.expand_as(e)
                    else:
                        e_ref = e0 * ratio.view(-1, 1, 1)
                    a = e_ref * (xi - xi.mean(dim=1, keepdim=True)).unsqueeze(-1)
                    f_new = f_new + scale * op.matvec(a)
                    alpha = alpha + scale * a
            f = f_new
        bar.update(1)
    bar.close()
    if noise == "diagonal":  # its noise has no weight-space image: the weights are not tracked
        alpha = torch.full_like(alpha, float("nan"))
    return EngineOutput(losses, errors, grid, dists, f.clone(), alpha.clone(), c.clone())


def run_closed_form(
    op: KernelOperator, f0: torch.Tensor, y: torch.Tensor, schedule: SGDSchedule, held_out: HeldOut | None = None
) -> EngineOutput:
    """MSE under gradient flow in closed form (eq. 4, Prop. 2), float64, via the eigen-decomposition of
    Theta = sum_k lambda_k v_k v_k^T:

        f_t - Y = sum_k exp(-lambda_k t / N) q_k v_k,  q_k = v_k . (f0 - Y),
        L_t = 1/(2N) sum_k exp(-2 lambda_k t / N) q_k^2          (Prop. 2 with the mean 1/2-MSE),
        ||w_t - w0||^2 = sum_{lambda_k > 0} (1 - exp(-lambda_k t / N))^2 q_k^2 / lambda_k.

    The paper's L_t = (Y - f0)^T exp(-2 eta Theta t) (Y - f0) is the same with the sum-loss scaling (no 1/N,
    no 1/2). Eigenvalues below 0 (round-off in projected kernels) are treated as 0.

    held_out: test points, f_test_t = f0_test + Theta(X_test, X) alpha_t with
    alpha_t = -sum_{lambda_k > 0} (1 - exp(-lambda_k t / N)) q_k / lambda_k v_k: Lee et al. (2019) eq. (19),
    f_t(x) = f0(x) - Theta(x, X) Theta^-1 (I - exp(-eta Theta t)) (f0(X) - Y), with eta t = t / N for the
    mean loss and Theta^-1 the pseudo-inverse on the positive eigenvalues.
    """
    n, c_out = f0.shape
    onehot = torch.nn.functional.one_hot(y, c_out).to(torch.float64)
    spec = op.spectrum_for(c_out)
    lam = spec.eigenvalues.clamp_min(0.0)
    qk = spec.project(f0 - onehot)
    times = schedule.times()
    decay = torch.exp(-torch.outer(times, lam) / n)  # (T+1, M)
    if spec.classes is None:
        fs = onehot + ((decay * qk) @ spec.vectors.T).view(-1, n, c_out)
    else:
        fs = torch.stack([onehot + spec.combine(d * qk, n, c_out) for d in decay])
    lv, ev = batched_loss_and_error(Loss.MSE, fs, y)
    pos = lam > lam.max() * 1e-12 if lam.numel() and float(lam.max()) > 0 else torch.zeros_like(lam, dtype=torch.bool)
    sq = ((1.0 - decay[:, pos]).pow(2) * (qk[pos].pow(2) / lam[pos])).sum(dim=1)
    grid = torch.arange(schedule.steps + 1)
    # w_t - w0 = J^T alpha_t with alpha_t = -sum_{lambda_k > 0} (1 - exp(-lambda_k t / N)) q_k / lambda_k v_k.
    coeff = torch.zeros_like(decay)
    coeff[:, pos] = -(1.0 - decay[:, pos]) * qk[pos] / lam[pos]
    if spec.classes is None:
        alphas = (coeff @ spec.vectors.T).view(-1, n, c_out)
    else:
        alphas = torch.stack([spec.combine(row, n, c_out) for row in coeff])
    test_loss = test_error = None
    if held_out is not None:
        tl, te = batched_loss_and_error(Loss.MSE, held_out.outputs(alphas), held_out.y_test)
        test_loss, test_error = tl.unsqueeze(0), te.unsqueeze(0)
    zero = torch.zeros(1, dtype=torch.float64)
    return EngineOutput(
        lv.unsqueeze(0),
        ev.unsqueeze(0),
        grid,
        sq.sqrt().unsqueeze(0),
        fs[-1:].clone(),
        alphas[-1:].clone(),
        zero,
        test_loss,
        test_error,
    )
