"""The exact discrete-time engine: torch.optim.SGD on the linearized model, run in function space.

For f = f0 + J (w - w0) every quantity torch.optim.SGD forms in weight space has an exact image under J:
the minibatch gradient J g_B = Theta[:, B] e_B / |B| (e the per-sample dl/df), the weight decay term
J (wd w) = wd (J w0 + f - f0), the momentum buffer u = J buf. So the outputs follow torch's update rule
step for step with cost O(N |B| C^2) per step, whatever the number of parameters (DESIGN.md,
"Linearized dynamics are exact in discrete time").

The parameter distance is tracked without the weights: w_t - w0 = J^T alpha_t + c_t w0 always (every
update is a combination of Jacobian rows and, with weight decay, of w0), so
||w_t - w0||^2 = alpha . Theta alpha + 2 c alpha . J w0 + c^2 ||w0||^2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from .._losses import Loss, batched_loss_and_error, loss_grad
from ._heldout import HeldOut
from ._operator import KernelOperator
from ._schedule import SGDSchedule
from ._trajectory import EngineOutput, distance_grid, parameter_distance

KernelUpdate = Callable[[int, torch.Tensor, torch.Tensor, "MomentumSegment | None"], KernelOperator]
"""``update_kernel(t, alpha, f, segment) -> KernelOperator``: the kernel at the weights w0 + (J^T alpha so
far); f (N, C) the outputs reached there. segment: the first path's :class:`MomentumSegment` when the
momentum buffer is carried exactly (the weights moved by J_k^T (alpha - alpha_k) - segment.carry B), else
None."""


class MomentumSegment(NamedTuple):
    """The momentum buffer's history over one kernel segment [t_k, t) of one path, as the weights see it.

    With J piecewise constant (J_k from step t_k on), torch's buffer at step s of the segment is
    buf_s = m^(s - t_k + 1) B + J_k^T b_s, B the weight-space buffer at the end of the previous segment and
    b_s the coefficients of the gradients taken since t_k. At the segment's end:

    path: the path (batch order) index. buffer: b (N, C) float64, in J_k's rows. decay: m^(t - t_k), so the
    buffer now is decay B + J_k^T buffer. carry: sum_s lr_s gamma_s over the segment (gamma_s the factor of
    B in step s's update: m^(s - t_k + 1), one more m with Nesterov), so the weights moved by
    J_k^T (alpha_t - alpha_{t_k}) - carry B.
    """

    path: int
    buffer: torch.Tensor
    decay: float
    carry: float


MomentumCarry = Callable[[int, MomentumSegment], torch.Tensor]
"""``carry_momentum(t, segment) -> u`` (N, C) float64: the new kernel's image J_new B of the weight-space
momentum buffer B = decay B_prev + J_k^T segment.buffer, for the path ``segment.path``. Called at each kernel
update, for every path, after ``update_kernel``; its caller keeps B per path."""


def run_discrete(
    op: KernelOperator,
    f0: torch.Tensor,
    y: torch.Tensor,
    schedule: SGDSchedule,
    loss: Loss,
    jw0: torch.Tensor | None,
    w0_sq_norm: float,
    distance_stride: int,
    progress: bool,
    kernel_updates: tuple[int, ...] = (),
    update_kernel: KernelUpdate | None = None,
    held_out: HeldOut | None = None,
    carry_momentum: MomentumCarry | None = None,
    initial_buffer: torch.Tensor | None = None,
) -> EngineOutput:
    """Simulate every batch order (or the one full-batch run). Returns loss, error (P, T+1), distance steps
    (S,), distance (P, S), the final outputs (P, N, C) and weight-space coordinates alpha (P, N, C), c (P,),
    all float64.

    kernel_updates, update_kernel: at each step t in ``kernel_updates`` the kernel is replaced by
    ``update_kernel(t, alpha, f, segment)`` (:data:`KernelUpdate`), alpha and f the first path's (the paired
    run's) accumulated coefficients since w0; the other paths reuse the kernels the first path got. The
    outputs and alpha carry on through the change. The parameter distance is not tracked past the first
    update (NaN): J changed.

    carry_momentum: with momentum, the buffer's image in function space, J B, must follow J. Given, it is
    called at each update for every path (:data:`MomentumCarry`) and its answer replaces the buffer; alpha
    then collects only the current segment's Jacobian rows, and the segment's pull along the previous buffer
    is returned as ``carry_final`` (P,) (0 before any update). The run is then exactly momentum SGD on the
    piecewise-linear model f = f_k + J_k (w - w_k). Without it the function-space buffer keeps J_k B
    (an approximation).

    held_out: test points whose linearized outputs f0_test + Theta(X_test, X) alpha_t + c_t J_test w0 are
    evaluated at every step (test loss and error, (P, T+1)); not with kernel updates (J changes).

    initial_buffer: with momentum, J B (N, C) float64 for a run that starts with torch's buffer B already
    filled (a run continued from w_k after k real steps): every path's first step is then u = m J B + J g,
    as torch's ``buf = m buf + g``, instead of u = J g. B is not in J's row space, so the weights move by
    J^T alpha + c w0 - carry B, ``carry_final`` (P,) (without weight decay sum_t lr_t gamma_t over the run,
    gamma_t = m^(t+1), one more m with Nesterov; weight decay shrinks B's part too), and the parameter distance
    is NaN (it would need ||B||). Not with ``carry_momentum``."""
    n = op.n
    steps = schedule.steps
    orders: list[tuple[torch.Tensor, ...] | None] = (
        list(schedule.batch_orders) if schedule.batch_orders is not None else [None]
    )
    grid = distance_grid(steps, distance_stride)
    on_grid = set(grid.tolist())
    p = len(orders)
    losses = torch.full((p, steps + 1), float("nan"), dtype=torch.float64)
    errors = torch.full((p, steps + 1), float("nan"), dtype=torch.float64)
    dists = torch.full((p, grid.numel()), float("nan"), dtype=torch.float64)
    finals = torch.empty((p, *f0.shape), dtype=torch.float64)
    alphas = torch.zeros((p, *f0.shape), dtype=torch.float64)
    cs = torch.zeros(p, dtype=torch.float64)
    carries = torch.zeros(p, dtype=torch.float64)
    exact_carry = carry_momentum is not None and schedule.momentum > 0
    filled = initial_buffer is not None and schedule.momentum > 0
    # The pull along a weight-space buffer that J does not hold (carried at an update, or filled at the start).
    track_carry = exact_carry or filled
    test_losses = test_errors = None
    if held_out is not None:
        test_losses = torch.full((p, steps + 1), float("nan"), dtype=torch.float64)
        test_errors = torch.full((p, steps + 1), float("nan"), dtype=torch.float64)
    m, wd, nesterov = schedule.momentum, schedule.weight_decay, schedule.nesterov
    jw = jw0 if jw0 is not None else torch.zeros_like(f0)
    bar = tqdm(total=p * steps, desc="linearized dynamics", unit="step", disable=not progress, leave=False)

    updated: dict[int, KernelOperator] = {}
    base = op
    for k, order in enumerate(orders):
        op = base
        f = f0.clone()
        alpha = torch.zeros_like(f0)
        c = 0.0
        u = ua = None
        uc = 0.0
        if filled:
            u, ua = initial_buffer.clone(), torch.zeros_like(alpha)  # type: ignore[union-attr]
        # The weight-space buffer B that J does not hold (carried at an update, or filled at the start): the buffer is
        # J^T ua + uc w0 + ub B and the weights moved by J^T alpha + c w0 + sb B. ub = m^(steps since the update)
        # and sb = -(sum of lr_s gamma_s since then) without weight decay (MomentumSegment's decay and carry);
        # weight decay (a filled buffer only: updates refuse it) adds wd sb to B's gradient coefficient.
        ub, sb = 1.0, 0.0
        di = 0
        for t in range(steps + 1):
            lv, ev = batched_loss_and_error(loss, f.unsqueeze(0), y)
            losses[k, t], errors[k, t] = lv[0], ev[0]
            if held_out is not None:
                tl, te = batched_loss_and_error(loss, held_out.outputs(alpha, c).unsqueeze(0), held_out.y_test)
                test_losses[k, t], test_errors[k, t] = tl[0], te[0]  # type: ignore[index]
            if t in on_grid:
                if op is base and not filled:
                    dists[k, di] = parameter_distance(op, alpha, c, jw, w0_sq_norm)
                di += 1
            if t == steps:
                break
            if not bool(torch.isfinite(lv).all()):
                break
            if t in kernel_updates and update_kernel is not None:
                segment = MomentumSegment(k, ua.clone(), ub, -sb) if exact_carry and ua is not None else None
                if t not in updated:
                    updated[t] = update_kernel(t, alpha.clone(), f.clone(), segment)
                op = updated[t]
                if segment is not None and ua is not None:
                    u = carry_momentum(t, segment).to(f)  # type: ignore[misc]
                    ua = torch.zeros_like(ua)
                    ub, sb = 1.0, 0.0
            if order is None:
                # Full batch: every column, so the product needs no gathered copy of Theta.
                g_a = loss_grad(loss, f, y) / n
                g_f = op.matvec(g_a)
            else:
                batch = order[t]
                e_b = loss_grad(loss, f[batch], y[batch]) / batch.numel()
                g_f = op.matvec_cols(batch, e_b)
                g_a = torch.zeros_like(alpha).index_add_(0, batch, e_b)
            g_c = 0.0
            if wd:
                g_f = g_f + wd * (jw + f - f0)
                g_a = g_a + wd * alpha
                g_c = wd * (1.0 + c)
            if m:
                if u is None:
                    u, ua, uc = g_f.clone(), g_a.clone(), g_c
                else:
                    u, ua, uc = m * u + g_f, m * ua + g_a, m * uc + g_c
                if nesterov:
                    g_f, g_a, g_c = g_f + m * u, g_a + m * ua, g_c + m * uc
                else:
                    g_f, g_a, g_c = u, ua, uc
            lr = schedule.lr[t]
            if track_carry:
                ub = m * ub + wd * sb
                sb -= lr * (wd * sb + m * ub if nesterov else ub)
            f = f - lr * g_f
            alpha = alpha - lr * g_a
            c = c - lr * g_c
            bar.update(1)
        finals[k], alphas[k], cs[k], carries[k] = f, alpha, c, -sb
    bar.close()
    return EngineOutput(
        losses, errors, grid, dists, finals, alphas, cs, test_losses, test_errors, carries if track_carry else None
    )
