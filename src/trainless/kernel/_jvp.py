"""Jacobian-vector products J v of the stacked outputs, by torch.func.jvp (forward mode), in tiles."""

from __future__ import annotations

import torch

from ..errors import TrainlessError
from ._engine import ParamLayout, module_of


def jacobian_vector_product(
    model: object, x: torch.Tensor, v: dict[str, torch.Tensor] | None = None, *, tile: int = 64
) -> torch.Tensor:
    """J v as an (N, C) float64 tensor: the change of f(x_i) along the parameter direction v.

    v: tangents by parameter name for the trainable parameters (missing names count as zero); None means
    v = w0, the trainable parameters themselves, so the result is J w0 (what weight decay needs).
    One forward-mode pass per tile of samples: cost about 2-3 forward passes.
    """
    from torch.func import functional_call, jvp

    module = module_of(model)
    layout = ParamLayout.of(module)
    primals = {n: p.detach() for n, p in zip(layout.names, layout.params, strict=True)}
    if v is None:
        tangents = dict(primals)
    else:
        unknown = set(v) - set(primals)
        if unknown:
            raise TrainlessError(f"v names parameters that are not trained: {sorted(unknown)[:3]}")
        tangents = {}
        for n, p in primals.items():
            t = v.get(n)
            if t is None:
                t = torch.zeros_like(p)
            elif tuple(t.shape) != tuple(p.shape):
                raise TrainlessError(f"v[{n!r}] must have shape {tuple(p.shape)}, got {tuple(t.shape)}")
            tangents[n] = t.to(dtype=p.dtype, device=p.device)
    x = x.to(device=layout.params[0].device, dtype=layout.dtype)
    out = []
    for i in range(0, x.shape[0], tile):
        xb = x[i : i + tile]
        _, jv = jvp(lambda pr, xb=xb: functional_call(module, pr, (xb,)), (primals,), (tangents,))
        out.append(jv.detach())
    return torch.cat(out).double().cpu()
