"""One entry point for every engine: ``simulate(kernel, f0, y, schedule) -> Trajectory``."""

from __future__ import annotations

import torch

from .._enums import DocEnum
from .._losses import Loss
from ..errors import TrainlessError
from ._continuous import run_closed_form, run_ode, run_sde
from ._discrete import KernelUpdate, MomentumCarry, run_discrete
from ._heldout import HeldOut
from ._operator import KernelOperator
from ._schedule import SGDSchedule
from ._trajectory import Trajectory, TrajectoryStatus


class Engine(DocEnum):
    """How the linearized training is run in function space. Each member's docstring states its trade-off.

    Cost per step depends on N, C and the batch size only, never on the number of parameters.
    """

    DISCRETE = (
        "discrete",
        """Exact: torch.optim.SGD's update rule applied to the linearized model, step by step, in function
        space (minibatches as the loader draws them, momentum and Nesterov, weight decay, any lr schedule).
        Cost O(N |B| C^2) per step and batch order; K batch orders give a mean curve and a band. Any loss.""",
    )
    ODE = (
        "ode",
        """The paper's deterministic part of eq. (1) by LSODA, momentum through the effective learning rate
        lr / (1 - m) (App. E). Ignores SGD noise; exact only as lr -> 0. Cost: a few evaluations of
        Theta e per step (more when stiff). Any loss.""",
    )
    SDE = (
        "sde",
        """The paper's SDE of eq. (1) by Euler-Maruyama, the noise estimated at the start and rescaled by
        ||grad_f L_t|| (Sec. 4), momentum through the effective lr. Approximate (small-lr limit, Gaussian
        noise); paths give a mean and a band. Cost O(N^2 C^2) per step and path. Any loss.""",
    )
    CLOSED_FORM = (
        "closed-form",
        """MSE under gradient flow in closed form via the eigen-decomposition of Theta (eq. 4, Prop. 2),
        float64; momentum through the effective lr, no SGD noise, no weight decay. Cost: one eigh of the
        (N C)^2 kernel. MSE only.""",
    )

    def supports(self, loss: Loss | str) -> bool:
        return self is not Engine.CLOSED_FORM or Loss(loss) is Loss.MSE


class SDENoise(DocEnum):
    """The SDE engine's noise estimate (Sec. 4, App. C; details in ``run_sde``)."""

    RESCALED = ("rescaled", "The paper's: the covariance at the start, rescaled by ||grad_f L_t|| / ||grad_f L_0||.")
    CONSTANT = ("constant", "The covariance at the start throughout (the paper's ablation: wrong asymptotics).")
    CURRENT = ("current", "The covariance Sigma(f_t) of eq. (3) at every step (exact second moments).")
    DIAGONAL = ("diagonal", "Only the diagonal of the start covariance in function space, rescaled; no distance.")


def simulate(
    kernel: torch.Tensor | KernelOperator,
    f0: torch.Tensor,
    y: torch.Tensor,
    schedule: SGDSchedule,
    *,
    loss: Loss | str = Loss.CE,
    engine: Engine | str = Engine.DISCRETE,
    jw0: torch.Tensor | None = None,
    w0_sq_norm: float | None = None,
    paths: int = 16,
    noise: SDENoise | str = SDENoise.RESCALED,
    substeps: int = 1,
    seed: int = 0,
    distance_stride: int = 1,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    progress: bool = False,
    kernel_updates: tuple[int, ...] = (),
    update_kernel: KernelUpdate | None = None,
    held_out: HeldOut | None = None,
    carry_momentum: MomentumCarry | None = None,
    initial_buffer: torch.Tensor | None = None,
) -> Trajectory:
    """Train the linearized model f = f0 + J (w - w0) in function space and record its curves.

    kernel: Theta, (N, N, C, C) float64 or (N, N) for the pseudo-NTK (or a :class:`KernelOperator`).
    f0: (N, C) outputs at w0; y: (N,) int64 labels. schedule: the optimizer, step by step (time in steps).
    loss: ``ce`` or ``mse`` (DESIGN.md's mean losses). engine: an :class:`Engine`.
    jw0: (N, C) = J w0, needed when ``schedule.weight_decay`` > 0 (see
        :func:`~trainless.kernel.jacobian_vector_product`); w0_sq_norm: ||w0||^2 of the trained parameters,
        needed then for the parameter distance.
    paths, noise, substeps, seed: the SDE engine's number of paths, noise estimate, Euler-Maruyama substeps
        per optimizer step and random seed. distance_stride: ||w_t - w0|| every this many steps (it costs
        O(N^2 C^2) each). rtol, atol: LSODA's tolerances.
    kernel_updates, update_kernel: discrete engine only, no weight decay: at each step t of
        ``kernel_updates`` (1 <= t < T) the kernel becomes ``update_kernel(t, alpha, f, segment)``
        (:data:`~trainless.dynamics.KernelUpdate`), alpha (N, C) the paired path's accumulated coefficients
        (w_t - w0 = J^T alpha while J is the first kernel's; the caller that moves the weights tracks the
        increments). The outputs carry on in function space: df = -lr Theta_t dl/df with Theta_t piecewise
        constant. ||w_t - w0|| is NaN after the first update.
    carry_momentum: with kernel updates and momentum, the hook that maps each path's momentum buffer onto
        the new Jacobian (:data:`~trainless.dynamics.MomentumCarry`); the trajectory's ``carry_final`` then
        completes the final weights. Without it the function-space buffer carries over unchanged.
    initial_buffer: discrete engine, momentum > 0: J B (N, C), the image of torch's momentum buffer B for a run
        continued from weights reached by real steps (the closed loop), so the first step is
        buf = m B + grad as torch's; the trajectory's ``carry_final`` then gives the pull along B, the weights
        at T being w_start + J^T alpha_final + c_final w_start - carry_final B. Not with ``carry_momentum``.
    held_out: test points (:class:`HeldOut`: Theta(X_test, X), f0_test, y_test): the trajectory's
        ``test_loss`` / ``test_error`` are the linearized model's curves there (Lee et al. eq. 10; eq. 19 for
        the closed form). Discrete and closed-form engines, without kernel updates.
    Returns a :class:`Trajectory` (float64).
    """
    engine = Engine(engine)
    loss = Loss(loss)
    noise = SDENoise(noise)
    if not engine.supports(loss):
        ok = ", ".join(repr(e.value) for e in Engine if e.supports(loss))
        raise TrainlessError(f"engine {engine.value!r} does not support loss {loss.value!r}; use {ok}")
    op = kernel if isinstance(kernel, KernelOperator) else KernelOperator(kernel)
    f0 = torch.as_tensor(f0).to(torch.float64).cpu()
    op.check_outputs(f0, "f0")
    n, c = f0.shape
    y = torch.as_tensor(y).to(torch.int64).cpu()
    if y.shape != (n,):
        raise TrainlessError(f"y must have shape ({n},) to match f0, got {tuple(y.shape)}")
    if n and (int(y.min()) < 0 or int(y.max()) >= c):
        raise TrainlessError(
            f"labels must lie in [0, {c - 1}] for C = {c} outputs, got [{int(y.min())}, {int(y.max())}]"
        )
    if not bool(torch.isfinite(f0).all()):
        raise TrainlessError("f0 contains NaN or inf")
    schedule.check_against(n)
    if schedule.weight_decay > 0:
        if jw0 is None:
            raise TrainlessError("weight_decay > 0 needs jw0 = J w0, shape (N, C) (kernel.jacobian_vector_product)")
        if engine is Engine.CLOSED_FORM:
            raise TrainlessError("engine 'closed-form' has no weight decay; use 'discrete', 'ode' or 'sde'")
    if jw0 is not None:
        jw0 = torch.as_tensor(jw0).to(torch.float64).cpu()
        op.check_outputs(jw0, "jw0")
    if w0_sq_norm is None:
        if schedule.weight_decay > 0:
            raise TrainlessError("weight_decay > 0 needs w0_sq_norm = ||w0||^2 of the trained parameters")
        w0_sq_norm = 0.0
    if kernel_updates:
        if engine is not Engine.DISCRETE:
            raise TrainlessError(f"kernel updates need the discrete engine, got engine {engine.value!r}")
        if schedule.weight_decay > 0:
            raise TrainlessError("kernel updates do not support weight decay (its J w0 term changes with J)")
        if update_kernel is None:
            raise TrainlessError("kernel_updates given without update_kernel")
        bad = [
            t for t in kernel_updates if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t < schedule.steps
        ]
        if bad:
            raise TrainlessError(f"kernel update steps must be integers in [1, {schedule.steps - 1}], got {bad}")
    elif carry_momentum is not None:
        raise TrainlessError("carry_momentum given without kernel_updates")
    if initial_buffer is not None:
        if engine is not Engine.DISCRETE:
            raise TrainlessError(
                f"a filled momentum buffer (initial_buffer) needs the discrete engine, got engine {engine.value!r}"
            )
        if schedule.momentum <= 0:
            raise TrainlessError(f"initial_buffer needs momentum > 0, got momentum={schedule.momentum:g}")
        if carry_momentum is not None:
            raise TrainlessError("initial_buffer cannot be combined with carry_momentum (the exact buffer carry)")
        if held_out is not None:
            # The test outputs would need J_test B, which the engine does not have.
            raise TrainlessError("initial_buffer cannot be combined with held-out (test) points")
        initial_buffer = torch.as_tensor(initial_buffer).to(torch.float64).cpu()
        if initial_buffer.shape != f0.shape:
            raise TrainlessError(
                f"initial_buffer must have the outputs' shape {tuple(f0.shape)}, got {tuple(initial_buffer.shape)}"
            )
        if not bool(torch.isfinite(initial_buffer).all()):
            raise TrainlessError("initial_buffer contains NaN or inf")
    if held_out is not None:
        if not isinstance(held_out, HeldOut):
            raise TrainlessError(f"held_out must be a HeldOut, got {type(held_out).__name__}")
        if engine not in (Engine.DISCRETE, Engine.CLOSED_FORM):
            raise TrainlessError(
                f"held-out (test) points need the 'discrete' or 'closed-form' engine, got {engine.value!r}"
            )
        if kernel_updates:
            raise TrainlessError("held-out (test) points do not support kernel updates (the test kernel changes too)")
        held_out.check_against(n, c)
        if schedule.weight_decay > 0 and held_out.jw0_test is None:
            raise TrainlessError("weight_decay > 0 with held-out points needs held_out.jw0_test = J_test w0")
    for name, v, lo in (("paths", paths, 1), ("substeps", substeps, 1), ("distance_stride", distance_stride, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise TrainlessError(f"{name} must be an integer >= {lo}, got {v!r}")

    if engine is Engine.DISCRETE:
        out = run_discrete(
            op,
            f0,
            y,
            schedule,
            loss,
            jw0,
            w0_sq_norm,
            distance_stride,
            progress,
            kernel_updates=tuple(sorted(set(kernel_updates))),
            update_kernel=update_kernel,
            held_out=held_out,
            carry_momentum=carry_momentum,
            initial_buffer=initial_buffer,
        )
    elif engine is Engine.ODE:
        out = run_ode(op, f0, y, schedule, loss, jw0, w0_sq_norm, rtol, atol)
    elif engine is Engine.SDE:
        out = run_sde(
            op, f0, y, schedule, loss, jw0, w0_sq_norm, noise.value, paths, substeps, seed, distance_stride, progress
        )
    else:
        out = run_closed_form(op, f0, y, schedule, held_out)
    finite = torch.isfinite(out.loss)
    if bool(finite.all()):
        status, message = TrajectoryStatus.COMPLETED, f"{schedule.steps} steps simulated"
    else:
        first = int(torch.nonzero(~finite.all(dim=0)).flatten()[0])
        status = TrajectoryStatus.DIVERGED
        message = f"the linearized run diverges by step {first} at lr={max(schedule.lr):g}: lower the learning rate"
    return Trajectory(engine=engine.value, **out._asdict(), times=schedule.times(), status=status, message=message)
