"""A structured (Kronecker-factored) projection that never forms per-sample weight gradients.

For a weight W (out x in_eff; a conv's in_eff = in/groups * kh * kw) the per-sample gradient is
G_i = sum_p g_ip a_ip^T (output gradients g, inputs or unfolded patches a, at positions p). With
P = P_out (x) P_in, P_out (out x r_o) and P_in (in_eff x r_i) independent with E[P P^T] = I,
vec(G_i)^T P = vec(P_out^T G_i P_in) = sum_p (P_out^T g_ip)(P_in^T a_ip)^T: project the layer's output
gradients and inputs separately, then sum outer products of the small factors. E[(P_o (x) P_i)(P_o (x)
P_i)^T] = E[P_o P_o^T] (x) E[P_i P_i^T] = I, so the Gram is unbiased. For linear layers with one position
this is exactly (A P_in)(A P_in)^T * (G P_out)(G P_out)^T per layer, the projected version of the exact
layer kernel (A A^T) * (G G^T).

A factor whose side is no larger than its share is left exact (identity), and so are 1-D parameters
(biases, BatchNorm and LayerNorm scales), whose per-sample gradients are cheap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._engine import ParamLayout, SampleSums
from ._persample import OpRecord, conv_geometry, per_sample_grads


class KroneckerFormer:
    """Writes, per sample, the projected gradient of every trainable parameter into its own columns.

    dim: the target total D'; each weight matrix gets about dim / (number of weight matrices) columns
    (r_o x r_i), 1-D parameters keep their exact columns on top.
    """

    def __init__(self, layout: ParamLayout, dim: int, seed: int) -> None:
        mats = [k for k, p in enumerate(layout.params) if p.ndim >= 2]
        share = max(1, dim // max(1, len(mats)))
        self.slots: dict[str, tuple[int, int]] = {}
        self.factors: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]] = {}
        width = 0
        g = torch.Generator().manual_seed(seed)
        for k, (name, p) in enumerate(zip(layout.names, layout.params, strict=True)):
            if p.ndim < 2 or p.numel() <= share:
                cols = p.numel()
                self.factors[name] = (None, None)
            else:
                out, in_eff = p.shape[0], p[0].numel()
                r_o = min(out, max(1, math.isqrt(share)))
                r_i = min(in_eff, max(1, share // r_o))
                g.manual_seed(seed * 1_000_003 + k)
                p_out = None if r_o == out else torch.randn(out, r_o, generator=g, dtype=torch.float64) / math.sqrt(r_o)
                p_in = (
                    None
                    if r_i == in_eff
                    else torch.randn(in_eff, r_i, generator=g, dtype=torch.float64) / math.sqrt(r_i)
                )
                self.factors[name] = (
                    None if p_out is None else p_out.to(p.dtype).to(p.device),
                    None if p_in is None else p_in.to(p.dtype).to(p.device),
                )
                cols = r_o * r_i
            self.slots[name] = (width, cols)
            width += cols
        self.width = width

    def new_rows(self, bsz: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.zeros(bsz, k, self.width, dtype=dtype, device=device)

    def finish(self, rows: torch.Tensor) -> None:
        pass

    def wants(self, name: str) -> bool:
        return name in self.slots

    def sample_sums(self, rows0: torch.Tensor) -> SampleSums:
        """As :meth:`~trainless.kernel._engine.ColumnFormer.sample_sums`, in the projected columns: the projection
        is linear, so the summed projected rows must equal the projection P_out^T dW P_in of autograd's gradient."""
        sums = {}
        for name, (dst, cols) in self.slots.items():
            block = rows0[:, dst : dst + cols].double()
            sums[name] = (lambda g, name=name: self._project(name, g), block.sum(0), float(block.norm()))
        return sums

    def _project(self, name: str, g: torch.Tensor) -> torch.Tensor:
        """One gradient (the parameter's shape) in this parameter's projected columns, flattened."""
        p_out, p_in = self.factors[name]
        if p_out is None and p_in is None:
            return g.reshape(-1)
        w = g.reshape(g.shape[0], -1).double()
        if p_out is not None:
            w = p_out.double().T @ w
        if p_in is not None:
            w = w @ p_in.double()
        return w.reshape(-1)

    def write(self, name: str, grad: torch.Tensor, rows: torch.Tensor, c: int = 0) -> None:
        """Project per-sample gradients ``grad`` (B, *param.shape) as :meth:`form` projects an op's: P_out^T
        dW P_in on the (out, in) matrix of a weight, its exact columns otherwise."""
        bsz = grad.shape[0]
        dst, cols = self.slots[name]
        p_out, p_in = self.factors[name]
        if p_out is None and p_in is None:
            rows[:, dst : dst + cols] += grad.reshape(bsz, -1)
            return
        w = grad.reshape(bsz, grad.shape[1], -1)  # (B, out, in_eff)
        if p_out is not None:
            w = torch.einsum("boi,or->bri", w, p_out)
        if p_in is not None:
            w = w @ p_in
        rows[:, dst : dst + cols] += w.reshape(bsz, -1)

    def form(self, op: OpRecord, g: torch.Tensor, rows: torch.Tensor, c: int = 0) -> None:
        bsz = g.shape[0]
        exact = [n for n in (op.weight, op.bias) if n is not None and self.factors.get(n) == (None, None)]
        if exact:
            for name, grad in per_sample_grads(op, g, exact).items():
                if name in exact:
                    dst, cols = self.slots[name]
                    rows[:, dst : dst + cols] += grad.reshape(bsz, -1)
        w = op.weight
        if w is None or self.factors.get(w) == (None, None):
            return
        p_out, p_in = self.factors[w]
        if op.kind == "linear":
            a = op.x.reshape(bsz, -1, op.x.shape[-1])  # (B, P, in)
            gg = g.reshape(bsz, -1, g.shape[-1])  # (B, P, out)
            ap = a if p_in is None else a @ p_in
            gp = gg if p_out is None else gg @ p_out
            proj = torch.bmm(gp.transpose(1, 2), ap)
        elif op.kind == "conv2d":
            geo = conv_geometry(op)
            c_out, c_in_g, groups = geo.c_out, geo.c_in_g, geo.groups
            cols = F.unfold(geo.x, geo.kernel, dilation=geo.dilation, padding=geo.padding, stride=geo.stride)
            npos = cols.shape[-1]
            cols = cols.view(bsz, groups, c_in_g * geo.kernel[0] * geo.kernel[1], npos)
            gg = g.reshape(bsz, groups, c_out // groups, npos)
            ap = cols if p_in is None else torch.einsum("bgip,is->bgsp", cols, p_in)
            if p_out is None:
                # Exact output side: each group's rows are its own output channels.
                proj = torch.einsum("bgop,bgsp->bgos", gg, ap).reshape(bsz, c_out, -1)
            else:
                gp = torch.einsum("bgop,gor->bgrp", gg, p_out.view(groups, c_out // groups, -1))
                proj = torch.einsum("bgrp,bgsp->brs", gp, ap)
        else:  # pragma: no cover - only linear and conv weights are >= 2-D among supported ops
            raise AssertionError(op.kind)
        dst, ncols = self.slots[w]
        rows[:, dst : dst + ncols] += proj.reshape(bsz, -1)
