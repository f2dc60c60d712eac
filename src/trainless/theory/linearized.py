"""Linearized networks (Lee et al. 2019, "Wide Neural Networks of Any Depth Evolve as Linear Models Under
Gradient Descent"; seed 003): the linearized model as a module, the closed-form gradient-flow solution on
training and test points, the NTK-GP at time t, and the NNGP kernel of a randomly initialised head.

Conventions (DESIGN.md): the loss is the mean L = (1/N) sum_i 1/2 ||f(x_i) - y_i||^2, so gradient flow with
learning rate lr is df/dt = -(1/N) Theta (f - Y) in continuous time t = lr x steps. The paper's sum loss
with rate eta is the same with eta t = t / N. Kernels and closed forms are float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jvp

from ..errors import TrainlessError
from ..kernel import module_of


def _check_frozen_buffers(module: nn.Module) -> None:
    """The linearization is around fixed weights and fixed buffers: a BatchNorm in training mode would
    update its running statistics (and normalise by batch statistics), so its f is not f(w) at all."""
    for name, sub in module.named_modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.training:
            raise TrainlessError(
                f"module {name or type(module).__name__!r} is a BatchNorm in training mode: its buffers change in "
                "training and it normalises by batch statistics; call .eval() on the model first"
            )


class LinearizedModel(nn.Module):
    """f_lin(x; w) = f(x; w0) + J(x; w0) (w - w0): the first-order Taylor model of a network around its
    weights w0 (Lee et al. eq. 10), a module trainable with any torch optimizer.

    Its parameters are copies of the network's trainable parameters (``requires_grad``), starting at w0,
    so an optimizer with weight decay acts on w as it would on the network (grad += wd w). Each forward
    is one torch.func.jvp of the frozen network: the cost of about two forward passes, no Jacobian held.
    Parameters the network does not train, and its buffers, stay fixed. Same dtype and device as the
    network's parameters. The network itself is not modified.
    """

    def __init__(self, model: object) -> None:
        super().__init__()
        module = module_of(model)
        _check_frozen_buffers(module)
        names = [n for n, p in module.named_parameters() if p.requires_grad]
        if not names:
            raise TrainlessError("the model has no trainable parameters (requires_grad): nothing to linearize")
        # Kept out of the module tree so that .parameters() are the linear model's own w only.
        object.__setattr__(self, "_net", module)
        self._names = names
        self._keys = [f"w{i}" for i in range(len(names))]  # ParameterDict keys may not contain '.'
        params = dict(module.named_parameters())
        self.w = nn.ParameterDict(
            {k: nn.Parameter(params[n].detach().clone()) for k, n in zip(self._keys, names, strict=True)}
        )
        for k, n in zip(self._keys, names, strict=True):
            self.register_buffer(f"w0_{k}", params[n].detach().clone(), persistent=False)

    @property
    def network(self) -> nn.Module:
        """The frozen network the model linearizes (not trained by this module's optimizer)."""
        return self._net  # type: ignore[no-any-return]

    def _w0(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, f"w0_{k}") for k, n in zip(self._keys, self._names, strict=True)}

    def delta(self) -> dict[str, torch.Tensor]:
        """w - w0 by parameter name of the network."""
        return {n: self.w[k] - getattr(self, f"w0_{k}") for k, n in zip(self._keys, self._names, strict=True)}

    def distance(self) -> float:
        """||w - w0|| over all linearized parameters."""
        with torch.no_grad():
            return math.sqrt(sum(float(d.double().pow(2).sum()) for d in self.delta().values()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_frozen_buffers(self.network)
        w0 = self._w0()
        out, moved = jvp(lambda p: functional_call(self.network, p, (x,)), (w0,), (self.delta(),))
        return out + moved

    def f0(self, x: torch.Tensor) -> torch.Tensor:
        """The network's outputs at w0 (no gradient)."""
        with torch.no_grad():
            return functional_call(self.network, self._w0(), (x,))


def linearize(model: object) -> LinearizedModel:
    """The linearized model of ``model`` (an ``nn.Module`` or a :class:`~trainless.models.LoadedModel`) around
    its current weights, w.r.t. its trainable parameters: see :class:`LinearizedModel`. The model must be in
    eval mode where it has BatchNorm (frozen statistics)."""
    return LinearizedModel(model)


def _as_matrix(k: torch.Tensor, what: str) -> tuple[torch.Tensor, int, int]:
    """(N, N', C, C) -> (N C, N' C) sample-major; (N, N') stays (the class-diagonal / pseudo-NTK case)."""
    k = torch.as_tensor(k).detach().to(torch.float64).cpu()
    if k.ndim == 4:
        n, n2, c, c2 = k.shape
        if c != c2:
            raise TrainlessError(f"{what} must have shape (N, N', C, C), got {tuple(k.shape)}")
        return k.permute(0, 2, 1, 3).reshape(n * c, n2 * c), n, c
    if k.ndim == 2:
        return k, int(k.shape[0]), 1
    raise TrainlessError(f"{what} must be (N, N', C, C) or (N, N'), got shape {tuple(k.shape)}")


@dataclass(frozen=True, eq=False)
class GradientFlow:
    """Closed-form MSE gradient flow of the linearized model (float64).

    times: (T,) continuous times t = lr x steps. f_train: (T, N, C) the outputs on the training points
    (eq. 15). f_test: (T, M, C) on the test points (eq. 19), or None without test points.
    """

    times: torch.Tensor
    f_train: torch.Tensor
    f_test: torch.Tensor | None


def gradient_flow_mse(
    k_train_train: torch.Tensor,
    f0_train: torch.Tensor,
    y_train: torch.Tensor,
    times: torch.Tensor | list[float],
    *,
    k_test_train: torch.Tensor | None = None,
    f0_test: torch.Tensor | None = None,
) -> GradientFlow:
    """Lee et al. eqs. (15) and (19) with the mean loss, float64, by the eigendecomposition of Theta:

        f_t(X) = Y + exp(-Theta t / N) (f0(X) - Y)
        f_t(x) = f0(x) - Theta(x, X) Theta^+ (I - exp(-Theta t / N)) (f0(X) - Y)

    Theta^+ is the pseudo-inverse on the positive eigenvalues (the paper's Theta^-1 where Theta is
    invertible; the component in Theta's null space never moves). t may be ``inf`` (the kernel regression
    limit, eq. 29's mean).

    k_train_train: (N, N, C, C), or (N, N) for a class-diagonal kernel Theta (x) I_C. f0_train, y_train:
    (N, C) outputs and targets (one-hot for classification). k_test_train: (M, N, C, C) or (M, N), with
    f0_test (M, C). times: (T,) continuous times t = lr x steps.
    """
    mat, n, c = _as_matrix(k_train_train, "k_train_train")
    f0 = torch.as_tensor(f0_train).detach().to(torch.float64).cpu()
    y = torch.as_tensor(y_train).detach().to(torch.float64).cpu()
    if f0.ndim != 2 or f0.shape[0] != n or y.shape != f0.shape:
        raise TrainlessError(
            f"f0_train and y_train must both have shape ({n}, C) to match the kernel, got "
            f"{tuple(f0.shape)} and {tuple(y.shape)}"
        )
    cls = f0.shape[1]
    if c != 1 and cls != c:
        raise TrainlessError(f"f0_train has C = {cls} outputs but the kernel has C = {c}")
    t = torch.as_tensor(times, dtype=torch.float64).reshape(-1)
    if t.numel() == 0 or bool((t < 0).any()) or bool(torch.isnan(t).any()):
        raise TrainlessError(f"times must be a non-empty list of times >= 0 (lr x steps), got {t.tolist()}")
    evals, evecs = torch.linalg.eigh(mat)
    evals = evals.clamp_min(0.0)
    pos = evals > (float(evals.max()) * 1e-12 if evals.numel() else 0.0)
    # Residual in the eigenbasis: (M_eig, C') with C' = C for a class-diagonal kernel (each class alike).
    r0 = (f0 - y).reshape(-1, 1) if c != 1 else (f0 - y)
    q = evecs.T @ r0
    decay = torch.exp(-torch.outer(t, evals) / n)  # (T, M_eig); exp(-inf) = 0
    f_train = y + (evecs @ (decay.unsqueeze(-1) * q)).reshape(t.numel(), n, cls)
    f_test = None
    if k_test_train is not None:
        kt, m, ct = _as_matrix(k_test_train, "k_test_train")
        if f0_test is None:
            raise TrainlessError("k_test_train given without f0_test, the (M, C) outputs on the test points")
        f0t = torch.as_tensor(f0_test).detach().to(torch.float64).cpu()
        if kt.shape[1] != mat.shape[0] or ct != c or f0t.shape != (m, cls):
            raise TrainlessError(
                f"k_test_train {tuple(torch.as_tensor(k_test_train).shape)} and f0_test {tuple(f0t.shape)} do "
                f"not match the training kernel (N = {n}, C = {cls})"
            )
        inv = torch.zeros_like(evals)
        inv[pos] = 1.0 / evals[pos]
        coeff = (1.0 - decay) * inv  # (T, M_eig)
        moved = (kt @ evecs) @ (coeff.unsqueeze(-1) * q)  # (T, M C or M, C')
        f_test = f0t - moved.reshape(t.numel(), m, cls)
    return GradientFlow(t, f_train, f_test)


@dataclass(frozen=True, eq=False)
class GPPrediction:
    """The NTK-GP at time t on test points (Lee et al. Corollary 1), float64, per output (the kernels are
    class-diagonal, so every class shares the covariance).

    mean: (M, C), eq. (27) (t finite) or (29) (t = inf). covariance: (M, M), eq. (28) or (30).
    """

    t: float
    mean: torch.Tensor
    covariance: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        """(M,) the marginal standard deviations (the covariance's diagonal, round-off below 0 clamped)."""
        return self.covariance.diagonal().clamp_min(0.0).sqrt()


def ntk_gp(
    theta_train_train: torch.Tensor,
    theta_test_train: torch.Tensor,
    nngp_train_train: torch.Tensor,
    nngp_test_train: torch.Tensor,
    nngp_test_test: torch.Tensor,
    y_train: torch.Tensor,
    t: float = math.inf,
) -> GPPrediction:
    """The distribution of the linearized network's test outputs after gradient flow for time t, over
    random initializations with f0 ~ GP(0, K) and a deterministic NTK Theta (Lee et al. eqs. 27-30), float64:

        mean(x) = Theta(x, X) Theta^-1 (I - E) Y,                 E = exp(-Theta t / N)
        cov(x, x') = K(x, x') + A K(X, X) A^T - A K(X, x') - K(x, X) A^T,   A = Theta(x, X) Theta^-1 (I - E)

    (eq. 28 expanded; at t = inf, E = 0: eqs. 29, 30). The seed's eq. (28) writes the cross terms with the
    factors in the order Theta(x, X) Theta^-1 (I - E) K(X, x'), which is A K(X, x'); its transpose is the
    other cross term, so the covariance is symmetric. With Theta = K (readout-only training, sec. 5) this
    reduces to K(x, x) - K(x, X) K^-1 (I - E^2) K(X, x): the seed's eq. (47) prints I - E, but its own
    eq. (46) gives -2 (I - E) + (I - 2E + E^2) = E^2 - I; a Monte-Carlo test of eq. (28) over sampled f0
    confirms E^2.

    All kernels are class-diagonal (N, N)-type matrices: theta_train_train (N, N), theta_test_train (M, N),
    nngp_* likewise ((M, M) for nngp_test_test). y_train: (N, C) targets. t: continuous time lr x steps
    (mean loss, DESIGN.md), or inf. Theta must be positive definite (the paper's assumption).
    """
    th = torch.as_tensor(theta_train_train, dtype=torch.float64)
    tx = torch.as_tensor(theta_test_train, dtype=torch.float64)
    kxx = torch.as_tensor(nngp_train_train, dtype=torch.float64)
    ktx = torch.as_tensor(nngp_test_train, dtype=torch.float64)
    ktt = torch.as_tensor(nngp_test_test, dtype=torch.float64)
    y = torch.as_tensor(y_train, dtype=torch.float64)
    n = th.shape[0] if th.ndim == 2 else -1
    m = tx.shape[0] if tx.ndim == 2 else -1
    shapes = {
        "theta_train_train": (th, (n, n)),
        "theta_test_train": (tx, (m, n)),
        "nngp_train_train": (kxx, (n, n)),
        "nngp_test_train": (ktx, (m, n)),
        "nngp_test_test": (ktt, (m, m)),
    }
    for name, (v, want) in shapes.items():
        if n < 1 or m < 1 or tuple(v.shape) != want:
            raise TrainlessError(f"{name} must have shape {want} (class-diagonal kernels), got {tuple(v.shape)}")
    if y.ndim != 2 or y.shape[0] != n:
        raise TrainlessError(f"y_train must have shape ({n}, C), got {tuple(y.shape)}")
    if not (t >= 0):
        raise TrainlessError(f"t must be >= 0 (lr x steps) or inf, got {t}")
    evals, evecs = torch.linalg.eigh(th)
    if float(evals[0]) <= float(evals[-1]) * 1e-12:
        raise TrainlessError(
            f"Theta(X, X) is singular (smallest eigenvalue {float(evals[0]):.3g}, largest {float(evals[-1]):.3g}): "
            "the NTK-GP needs it positive definite; use fewer or distinct training points"
        )
    gain = 1.0 / evals if math.isinf(t) else -torch.expm1(-evals * t / n) / evals  # Theta^-1 (I - E), eigenbasis
    a = tx @ evecs @ torch.diag(gain) @ evecs.T  # (M, N)
    mean = a @ y
    cov = ktt + a @ kxx @ a.T - a @ ktx.T - ktx @ a.T
    return GPPrediction(float(t), mean, 0.5 * (cov + cov.T))


def head_nngp_closed_form(features: torch.Tensor) -> torch.Tensor:
    """K(x, x') = E[f_c(x) f_c(x')] over torch's default init of an nn.Linear head on ``features`` (N, F):
    weights and biases uniform on [-1/sqrt(F), 1/sqrt(F)] (variance 1/(3F) each), so
    K = (phi(x) . phi(x') + 1) / (3 F). (N, N) float64 (the NNGP kernel of the head's outputs, eq. 33 with
    sigma_w^2 = sigma_b^2 = 1/3)."""
    phi = torch.as_tensor(features, dtype=torch.float64)
    if phi.ndim != 2:
        raise TrainlessError(f"features must have shape (N, F), got {tuple(phi.shape)}")
    return (phi @ phi.T + 1.0) / (3.0 * phi.shape[1])


def nngp_ensemble(make: Callable[[int], nn.Module], x: torch.Tensor, *, members: int = 64) -> torch.Tensor:
    """The NNGP kernel K(x, x') = E[f_c(x) f_c(x')] of a network built from scratch, estimated from an
    ensemble: ``make(seed)`` builds one random initialisation (seeds 0..members-1), its outputs (N, C) on
    ``x`` are averaged as f f^T / C over members and classes. (N, N) float64, unbiased, error
    ~ 1/sqrt(members C). Lee et al. eq. (20)."""
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise TrainlessError(f"members must be an integer >= 1, got {members!r}")
    acc = None
    with torch.no_grad():
        for seed in range(members):
            module = make(seed)
            if not isinstance(module, nn.Module):
                raise TrainlessError(f"make(seed) must return an nn.Module, got {type(module).__name__}")
            _check_frozen_buffers(module)
            f = module(x).double()
            prod = f @ f.T / f.shape[1]
            acc = prod if acc is None else acc + prod
    return acc / members  # type: ignore[operator]


def head_nngp(model: object, x: torch.Tensor, *, heads: int = 64, seed: int = 0) -> torch.Tensor:
    """The NNGP kernel K(x, x') = E[f_c(x) f_c(x')] of a network whose C-way head is freshly initialised,
    estimated from an ensemble of ``heads`` random heads (torch's default init, seeds seed..seed+heads-1) on
    the network's fixed body, averaged over the C outputs: (N, N) float64, an unbiased estimate (error
    ~ 1/sqrt(heads C)). ``model``: a :class:`~trainless.models.LoadedModel` (its ``head_module()``); the
    head's weights are restored afterwards."""
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise TrainlessError(f"heads must be an integer >= 1, got {heads!r}")
    head_of = getattr(model, "head_module", None)
    if head_of is None:
        raise TrainlessError("head_nngp needs a LoadedModel (it re-initialises the model's head)")
    module, head = module_of(model), head_of()
    saved = {k: v.detach().clone() for k, v in head.state_dict().items()}

    def fresh_head(h: int) -> nn.Module:
        torch.manual_seed(seed + h)
        head.reset_parameters()
        return module

    try:
        with torch.random.fork_rng(devices=[]):  # the caller's RNG stream is left as it was
            return nngp_ensemble(fresh_head, x, members=heads)
    finally:
        head.load_state_dict(saved)


@dataclass(frozen=True, eq=False)
class LinearityDiagnostics:
    """How linear a real training run stayed (Lee et al. Theorem 2.1 / G.1, eqs. 48, 57), float64.

    steps: the probed steps t (w_t, before step t; the last is T). kernel_drift: ||Theta_t - Theta_0||_F /
    ||Theta_0||_F (eq. 57's quantity, relative). output_gap: ||f_t - f_lin_t|| / ||f_t - f_0|| on the
    training points, f_lin_t the linearized model trained with the same optimizer, learning rates and
    batches (the exact discrete engine on Theta_0; NaN at t = 0). trace_ratio: tr Theta_t / tr Theta_0.
    """

    steps: tuple[int, ...]
    kernel_drift: tuple[float, ...]
    output_gap: tuple[float, ...]
    trace_ratio: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(getattr(self, k)) for k in ("steps", "kernel_drift", "output_gap", "trace_ratio")}

    @property
    def max_kernel_drift(self) -> float:
        return max(self.kernel_drift)

    @property
    def max_output_gap(self) -> float:
        finite = [g for g in self.output_gap if math.isfinite(g)]
        return max(finite) if finite else math.nan


class LinearityProbe:
    """Measures a real training run against its linearization: call it as ``probe(t, module)`` at w_t
    (``finetune(..., observer=probe)`` does, before every step and after the last); every ``stride`` steps
    and at the end it records f_t(X) and Theta_t by ``kernel`` (float64). Then :meth:`diagnostics` with the
    run's optimizer schedule gives :class:`LinearityDiagnostics`. Cost: one kernel per probed step.

    x: (N, ...) the training inputs; stride: steps between probes (>= 1); steps: the run's T (always
    probed at the end).
    """

    def __init__(self, x: torch.Tensor, stride: int, steps: int, kernel: object | None = None) -> None:
        from ..kernel import KernelConfig

        for name, v in (("stride", stride), ("steps", steps)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TrainlessError(f"{name} must be an integer >= 1 (steps), got {v!r}")
        self.x, self.stride, self.total = x, stride, steps
        self.kernel = kernel if kernel is not None else KernelConfig()
        self.steps: list[int] = []
        self.outputs: list[torch.Tensor] = []
        self.kernels: list[torch.Tensor] = []
        self.jw0: torch.Tensor | None = None
        self.w0_sq = 0.0
        self._last = -1

    def __call__(self, t: int, module: nn.Module) -> None:
        from ..kernel import compute_kernel, jacobian_vector_product

        if t == self._last or not (t % self.stride == 0 or t == self.total or not self.steps):
            return
        x = self.x.to(next(module.parameters()).device)
        res = compute_kernel(module, x, self.kernel)  # type: ignore[arg-type]
        if not self.steps:
            self.jw0 = jacobian_vector_product(module, x)
            self.w0_sq = float(
                sum(float(p.detach().double().pow(2).sum()) for p in module.parameters() if p.requires_grad)
            )
        self.steps.append(t)
        self.outputs.append(res.f0)
        self.kernels.append(res.k_train_train)
        self._last = t

    def diagnostics(self, y: torch.Tensor, schedule: object, loss: str) -> LinearityDiagnostics:
        """Compare the probed run with the linearized model trained by ``schedule`` (an
        :class:`~trainless.dynamics.SGDSchedule` of the real run: its lrs, momentum, weight decay and, for
        minibatches, its one batch order) on ``loss`` with labels ``y`` (N,)."""
        from ..dynamics import SGDSchedule, simulate

        if len(self.steps) < 2:
            raise TrainlessError(f"the probe saw {len(self.steps)} step(s); it needs the start and at least one more")
        if not isinstance(schedule, SGDSchedule):
            raise TrainlessError(f"schedule must be an SGDSchedule, got {type(schedule).__name__}")
        k0, f0 = self.kernels[0], self.outputs[0]
        norm0 = float(torch.linalg.vector_norm(k0))
        drift, gap, trace = [], [], []
        for t, f_t, k_t in zip(self.steps, self.outputs, self.kernels, strict=True):
            drift.append(float(torch.linalg.vector_norm(k_t - k0)) / norm0)
            trace.append(float(_trace(k_t) / _trace(k0)))
            if t == 0:
                gap.append(math.nan)
                continue
            part = SGDSchedule(
                lr=schedule.lr[:t],
                momentum=schedule.momentum,
                nesterov=schedule.nesterov,
                weight_decay=schedule.weight_decay,
                batch_size=schedule.batch_size,
                batch_orders=None if schedule.batch_orders is None else (schedule.batch_orders[0][:t],),
            )
            lin = simulate(k0, f0, y, part, loss=loss, jw0=self.jw0, w0_sq_norm=self.w0_sq, distance_stride=t)
            moved = float(torch.linalg.vector_norm(f_t - f0))
            off = float(torch.linalg.vector_norm(f_t - lin.f_final[0]))
            gap.append(off / moved if moved > 0 else math.nan)
        return LinearityDiagnostics(tuple(self.steps), tuple(drift), tuple(gap), tuple(trace))


def diagnose_run(probe: LinearityProbe, record: object, y: torch.Tensor) -> LinearityDiagnostics:
    """:meth:`LinearityProbe.diagnostics` for a :class:`~trainless.finetune.RunRecord` the probe observed:
    the linearized model gets the run's own learning rates, optimizer and batches."""
    from ..dynamics import SGDSchedule

    cfg = record.config  # type: ignore[attr-defined]
    batches = record.batches  # type: ignore[attr-defined]
    orders = None
    if cfg.batch_size is not None:
        orders = (tuple(torch.tensor(b, dtype=torch.int64) for b in batches),)
    schedule = SGDSchedule(
        lr=tuple(record.lr),  # type: ignore[attr-defined]
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size,
        batch_orders=orders,
    )
    return probe.diagnostics(y, schedule, cfg.loss)


def _trace(k: torch.Tensor) -> float:
    if k.ndim == 2:
        return float(torch.diagonal(k).sum())
    return float(torch.einsum("iiaa->", k))


class _Scale(nn.Module):
    """x -> s x: the NTK parameterization's sigma_w / sqrt(fan_in), kept outside the nn.Linear so the
    kernel engine's per-layer factorization sees the scaled input (the gradient is then exactly the NTK
    parameterization's)."""

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s


def ntk_mlp(
    d_in: int, width: int, num_classes: int, *, depth: int = 2, sigma_w: float = math.sqrt(2.0), seed: int = 0
) -> nn.Module:
    """A bias-free ReLU MLP in the NTK parameterization (Lee et al. eq. 1 with sigma_b = 0):
    h^{l+1} = (sigma_w / sqrt(n_l)) x^l W^{l+1}, W entries N(0, 1), ``depth`` hidden layers of ``width``,
    a linear readout of ``num_classes``. Float32, eval mode. As width grows its NTK converges to a fixed
    kernel and training with a fixed lr stays in the linear regime (drift ~ width^-1/2, eq. 57)."""
    for name, v in (("d_in", d_in), ("width", width), ("num_classes", num_classes), ("depth", depth)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise TrainlessError(f"{name} must be an integer >= 1, got {v!r}")
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = d_in
    for i in range(depth + 1):
        out = num_classes if i == depth else width
        lin = nn.Linear(fan_in, out, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(out, fan_in, generator=g))
        layers += [_Scale(sigma_w / math.sqrt(fan_in)) if i < depth else _Scale(1.0 / math.sqrt(fan_in)), lin]
        if i < depth:
            layers.append(nn.ReLU())
        fan_in = out
    return nn.Sequential(*layers).eval()
