"""The trust signals: is the predicted run still in the regime where the linearization at w0 holds?

Two kinds, both computed at init without training:
- the linearized loss's sharpness at w0 against the learning rate (how close the run is to the edge of
  stability, where real networks and their linearizations part ways);
- the endpoint check: the weights the linearized model predicts at T, w_T = w0 + J^T alpha_T + c_T w0
  (one vector-Jacobian product, :class:`~trainless.dynamics.Trajectory`), put into the real network. If the
  real network there gives other outputs than the linearized one, or its piecewise-linear units switch
  region (the activation patterns a frozen kernel cannot follow), the prediction is outside the
  linearization's validity along its own path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .._losses import Loss, loss_value
from ..data import ImageData
from ..errors import TrainlessError
from ..kernel import jacobian_vector_product
from ..models import LoadedModel, select_trainable
from ._preserve import preserved


@dataclass(frozen=True)
class EndpointCheck:
    """The real network evaluated at the linearized model's predicted final weights (paired path).

    loss_linear: the linearized model's loss at T (the prediction); loss_real: the real network's loss at
        the same weights. output_gap: ||f(w_T) - f_lin_T|| / ||f_lin_T - f0||, the share of the predicted
        output change that the linearization gets wrong at its own endpoint (0: exact).
    units: the number of (sample, unit) activations of piecewise-linear units (ReLU, ReLU6, Hardtanh,
        LeakyReLU, Hardswish, Hardsigmoid) on the training set, 0 when the model has none.
    flip_fraction: the fraction of them whose linear piece differs between w0 and w_T (NaN when units = 0).
    inactive_fraction: the fraction in a flat piece at w0 (zero gradient: ReLU off, ReLU6 off or saturated)
        (NaN when units = 0).
    seconds: the cost of the check.
    """

    loss_linear: float
    loss_real: float
    output_gap: float
    units: int
    flip_fraction: float
    inactive_fraction: float
    seconds: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _pieces(module: nn.Module) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    """A piecewise-linear activation's breakpoints (a piece is (b_{i-1}, b_i]) and its flat pieces (zero
    gradient); None for other modules. ReLU6 subclasses Hardtanh, so it is matched by Hardtanh's bounds."""
    if isinstance(module, nn.Hardtanh):
        return (float(module.min_val), float(module.max_val)), (0, 2)
    if isinstance(module, nn.ReLU):
        return (0.0,), (0,)
    if isinstance(module, nn.LeakyReLU):
        return (0.0,), ()
    if isinstance(module, nn.Hardswish):
        return (-3.0, 3.0), (0,)
    if isinstance(module, nn.Hardsigmoid):
        return (-3.0, 3.0), (0, 2)
    return None


@contextmanager
def _activation_regions(module: nn.Module, out: list[torch.Tensor]) -> Iterator[None]:
    """Record, for every call of a piecewise-linear activation, the piece each input entry lies in, as
    int8 with -1 marking a flat piece's entries negated (-1 - piece); a module reused within a forward is
    recorded once per call, in call order."""

    def hook(points: tuple[float, ...], flat: tuple[int, ...]):
        bounds = torch.tensor(points)
        flat_t = torch.tensor(flat, dtype=torch.int64)

        def fn(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            z = args[0].detach()
            piece = torch.bucketize(z, bounds.to(z.device, z.dtype))
            is_flat = torch.isin(piece, flat_t.to(z.device))
            out.append(torch.where(is_flat, -1 - piece, piece).to(torch.int8))

        return fn

    handles = []
    for sub in module.modules():
        spec = _pieces(sub)
        if spec is not None:
            handles.append(sub.register_forward_pre_hook(hook(*spec)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _regions_and_outputs(module: nn.Module, x: torch.Tensor, chunk: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    outs, regions = [], []
    for i in range(0, x.shape[0], chunk):
        calls: list[torch.Tensor] = []
        with torch.no_grad(), _activation_regions(module, calls):
            outs.append(module(x[i : i + chunk]).double())
        regions.append(torch.cat([r.flatten() for r in calls]) if calls else torch.zeros(0, dtype=torch.int8))
    return torch.cat(outs), regions


class WeightPath:
    """The real network moved along the linearized model's weight path, inside :func:`preserved` (the caller
    restores the weights). Construction records w0 (the trainable parameters as they are now), the outputs
    and the activation pieces there.

    ``move_to(alpha, c)`` sets w = w0 + sum_k J_k^T (alpha_k - alpha_{k-1}) + c w0: each increment of the
    coefficients is mapped through the Jacobian at the weights reached so far (one vector-Jacobian product
    of the stacked outputs with the increment as cotangent). With one move from w0 this is exactly
    w0 + J^T alpha + c w0, the linearized model's weights.
    """

    def __init__(self, model: LoadedModel, data: ImageData, trainable: str, *, chunk: int = 256) -> None:
        self.model, self.chunk = model, chunk
        module = model.module
        module.eval()
        self.device = next(module.parameters()).device
        self.x = data.x.to(self.device)
        self.y = data.y.cpu()
        select_trainable(model, trainable)
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.w0 = [p.detach().clone() for p in self.params]
        self.f0, self.regions0 = _regions_and_outputs(module, self.x, chunk)
        self.applied: torch.Tensor | None = None

    def move_to(self, alpha: torch.Tensor, c: float = 0.0, shift: list[torch.Tensor] | None = None) -> bool:
        """Move the weights; returns whether they are all finite there (a diverging linearized run can
        take them past float32's range). shift: a further weight-space step added as it is (the momentum
        buffer's pull, :class:`~trainless.dynamics.MomentumSegment`), one tensor per trained parameter."""
        delta = alpha if self.applied is None else alpha - self.applied
        self.applied = alpha.clone()
        step = self.vjp(delta)
        with torch.no_grad():
            for k, (p, s, w) in enumerate(zip(self.params, step, self.w0, strict=True)):
                p.add_(s)
                if c:
                    p.add_(c * w)
                if shift is not None:
                    p.add_(shift[k])
        return all(bool(torch.isfinite(p).all()) for p in self.params)

    def vjp(self, cotangent: torch.Tensor) -> list[torch.Tensor]:
        """J^T a at the current weights, one tensor per trained parameter (float32, as the weights); a: (N, C)."""
        step = [torch.zeros_like(p) for p in self.params]
        a = cotangent.to(self.device, torch.float32)
        module = self.model.module
        for i in range(0, self.x.shape[0], self.chunk):
            out = module(self.x[i : i + self.chunk])
            grads = torch.autograd.grad(out, self.params, grad_outputs=a[i : i + self.chunk])
            for s, g in zip(step, grads, strict=True):
                s.add_(g)
        return step

    def jvp(self, tangent: list[torch.Tensor]) -> torch.Tensor:
        """J v at the current weights, (N, C) float64; v one tensor per trained parameter."""
        names = [n for n, p in self.model.module.named_parameters() if p.requires_grad]
        return jacobian_vector_product(
            self.model.module, self.x, dict(zip(names, tangent, strict=True)), tile=self.chunk
        )

    def snapshot(self) -> list[torch.Tensor]:
        """The trained parameters' current values (copies)."""
        return [p.detach().clone() for p in self.params]

    def load(self, weights: list[torch.Tensor]) -> None:
        """Set the trained parameters to a :meth:`snapshot`."""
        with torch.no_grad():
            for p, w in zip(self.params, weights, strict=True):
                p.copy_(w)

    def distance(self) -> float:
        """||w - w0|| of the trained parameters (float64)."""
        return math.sqrt(
            sum(
                float((p.detach().double() - w.double()).pow(2).sum())
                for p, w in zip(self.params, self.w0, strict=True)
            )
        )

    def check(self, loss: Loss | str, f_linear: torch.Tensor, seconds: float = 0.0) -> EndpointCheck:
        """Compare the real network at the current weights with the linearized outputs ``f_linear``."""
        t0 = time.perf_counter()
        f_end, regions_end = _regions_and_outputs(self.model.module, self.x, self.chunk)
        f_lin = f_linear.to(torch.float64).cpu()
        f_end, f0 = f_end.cpu(), self.f0.cpu()
        moved = float((f_lin - f0).norm())
        gap = float((f_end - f_lin).norm()) / moved if moved > 0 else math.inf
        units = sum(int(r.numel()) for r in self.regions0)
        flips = sum(int((a != b).sum()) for a, b in zip(self.regions0, regions_end, strict=True))
        inactive = sum(int((r < 0).sum()) for r in self.regions0)
        return EndpointCheck(
            loss_linear=float(loss_value(loss, f_lin, self.y)),
            loss_real=float(loss_value(loss, f_end, self.y)),
            output_gap=gap,
            units=units,
            flip_fraction=flips / units if units else math.nan,
            inactive_fraction=inactive / units if units else math.nan,
            seconds=seconds + time.perf_counter() - t0,
        )


def endpoint_check(
    model: LoadedModel,
    data: ImageData,
    trainable: str,
    loss: Loss | str,
    f_linear: torch.Tensor,
    alpha: torch.Tensor,
    c: float,
    *,
    chunk: int = 256,
) -> EndpointCheck:
    """Evaluate the real network at w_T = w0 + J^T alpha + c w0 (the parameters ``trainable`` selects,
    with the model's current weights as w0, e.g. the head already started) and compare with the
    linearized outputs ``f_linear`` (N, C). alpha: (N, C) float64. The model is restored on return.

    J^T alpha is one vector-Jacobian product of the stacked outputs with cotangent alpha; float32 as the
    model computes, the comparison in float64.
    """
    t0 = time.perf_counter()
    with preserved(model.module):
        path = WeightPath(model, data, trainable, chunk=chunk)
        if not path.move_to(alpha, c):
            raise TrainlessError("the predicted final weights are not finite: the linearized run diverges")
        return path.check(loss, f_linear, seconds=time.perf_counter() - t0)
