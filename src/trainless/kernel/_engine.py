"""Tiles of Jacobian rows of the stacked outputs w.r.t. the trained parameters, from batched passes."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TrainlessError
from ._persample import OpRecord, PerSampleCapture, per_sample_grads

SampleSums = dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, float]]
"""A former's check of one tile: parameter name -> (project, summed rows, size of the per-sample terms)."""


def module_of(model: object) -> nn.Module:
    """The ``nn.Module`` of ``model`` (an ``nn.Module`` or a :class:`~trainless.models.LoadedModel`)."""
    module = getattr(model, "module", model)
    if not isinstance(module, nn.Module):
        raise TrainlessError(f"model must be an nn.Module or a LoadedModel, got {type(model).__name__}")
    return module


@dataclass(frozen=True)
class ParamLayout:
    """The trained parameters in ``named_parameters()`` order and their column ranges in J.

    names[k] occupies columns offsets[k] .. offsets[k] + sizes[k] of J (D = sum of sizes).
    """

    names: tuple[str, ...]
    params: tuple[nn.Parameter, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]

    @property
    def d(self) -> int:
        return sum(self.sizes)

    @property
    def dtype(self) -> torch.dtype:
        return self.params[0].dtype

    def ids(self) -> dict[int, str]:
        return {id(p): n for n, p in zip(self.names, self.params, strict=True)}

    def without(self, names: object) -> ParamLayout:
        """The same layout less the parameters in ``names`` (columns renumbered)."""
        kept = [(n, p) for n, p in zip(self.names, self.params, strict=True) if n not in names]
        sizes = tuple(p.numel() for _, p in kept)
        offsets = tuple(int(sum(sizes[:k])) for k in range(len(sizes)))
        return ParamLayout(tuple(n for n, _ in kept), tuple(p for _, p in kept), sizes, offsets)

    @classmethod
    def of(cls, module: nn.Module) -> ParamLayout:
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise TrainlessError("the model has no trainable parameters (none has requires_grad=True)")
        sizes = tuple(p.numel() for _, p in named)
        offsets = tuple(int(sum(sizes[:k])) for k in range(len(sizes)))
        return cls(tuple(n for n, _ in named), tuple(p for _, p in named), sizes, offsets)

    def column_groups(self, width: int) -> list[tuple[int, int]]:
        """Consecutive column ranges [lo, hi) of at most ``width`` columns covering 0..D ([(0, 0)] if D = 0)."""
        if self.d == 0:
            return [(0, 0)]
        return [(lo, min(lo + width, self.d)) for lo in range(0, self.d, width)]


class ColumnFormer:
    """Writes the exact per-sample gradients of the parameters in columns [lo, hi) of J into rows."""

    def __init__(self, layout: ParamLayout, cols: tuple[int, int] | None = None) -> None:
        lo, hi = cols if cols is not None else (0, layout.d)
        self.width = hi - lo
        self.wanted: dict[str, tuple[int, int, int]] = {}
        for name, off, size in zip(layout.names, layout.offsets, layout.sizes, strict=True):
            a, b = max(lo, off), min(hi, off + size)
            if a < b:
                self.wanted[name] = (a - off, b - off, a - lo)

        self.written: set[tuple[int, str]] = set()

    def new_rows(self, bsz: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        # Not zero-filled: every slot is overwritten by its first write, and finish() zeroes the rest.
        self.written = set()
        return torch.empty(bsz, k, self.width, dtype=dtype, device=device)

    def wants(self, name: str) -> bool:
        """Whether parameter ``name`` has columns in this former's range."""
        return name in self.wanted

    def sample_sums(self, rows0: torch.Tensor) -> SampleSums:
        """name -> (project, s, m): s float64 the first output class's rows of the parameter's columns summed over
        the tile's samples, which must equal ``project`` of autograd's gradient of that output's sum (here its
        elements a..b, flattened), and m the per-sample terms' size, sqrt(sum_i |row_i|^2), against which rounding
        is judged."""
        sums = {}
        for name, (a, b, dst) in self.wanted.items():
            block = rows0[:, dst : dst + (b - a)].double()
            sums[name] = (lambda g, a=a, b=b: g.reshape(-1)[a:b], block.sum(0), float(block.norm()))
        return sums

    def form(self, op: OpRecord, g: torch.Tensor, rows: torch.Tensor, c: int = 0) -> None:
        """Write this op's contribution to the sample rows of output class c: rows (B, width)."""
        if not any(n is not None and n in self.wanted for n in (op.weight, op.bias)):
            return
        for name, grad in per_sample_grads(op, g, self.wanted).items():
            self.write(name, grad, rows, c)

    def write(self, name: str, grad: torch.Tensor, rows: torch.Tensor, c: int = 0) -> None:
        """Write per-sample gradients ``grad`` (B, *param.shape) of parameter ``name`` for output class c."""
        if name not in self.wanted:
            return
        a, b, dst = self.wanted[name]
        src = grad.reshape(grad.shape[0], -1)[:, a:b]
        if (c, name) in self.written:  # a parameter used by several ops: gradients add up
            rows[:, dst : dst + (b - a)] += src
        else:
            rows[:, dst : dst + (b - a)].copy_(src)
            self.written.add((c, name))

    def finish(self, rows: torch.Tensor) -> None:
        """Zero the slots of parameters the forward pass never used (their gradient is zero)."""
        for c in range(rows.shape[1]):
            for name, (a, b, dst) in self.wanted.items():
                if (c, name) not in self.written:
                    rows[:, c, dst : dst + (b - a)] = 0


def jacobian_tile(
    module: nn.Module,
    layout: ParamLayout,
    xb: torch.Tensor,
    cols: tuple[int, int] | None = None,
    *,
    pseudo: bool = False,
    former: object | None = None,
    verify: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobian rows of a tile of B samples, restricted to columns ``cols`` = [lo, hi) of J.

    Returns (rows, f): rows (B, C, hi - lo) in the parameters' dtype, rows[i, c] = d f_c(x_i) / d w[lo:hi];
    with ``pseudo`` rows is (B, 1, hi - lo), the gradient of sum_c f_c(x_i) / sqrt(C) (the pseudo-NTK's
    row); f (B, C) the outputs, detached. Cost: one forward and C backward passes (1 for pseudo) of the
    batch, plus forming the per-sample gradients of the parameters in ``cols``; the weight gradients of
    backward itself are skipped (gradients are taken w.r.t. the input only, and the hooks see every layer).
    ``former`` replaces the exact column writer (e.g. a structured projection writing its own columns).
    verify: check that the rows of the first output class, summed over the tile's samples, equal autograd's
    gradient of that output's sum (one more backward pass with weight gradients), for every parameter whose exact
    columns the former writes; raise TrainlessError naming the parameter where they do not (an op whose per-sample
    gradients the engine cannot form, which would otherwise make the kernel silently wrong).
    """
    former = former if former is not None else ColumnFormer(layout, cols)
    ids = {id(p): n for n, p in zip(layout.names, layout.params, strict=True)}
    bsz = xb.shape[0]
    state: dict = {"c": 0, "rows": None, "skip": frozenset(), "mute": False}

    def on_grad(op: OpRecord, g: torch.Tensor) -> None:
        if state["mute"]:
            return
        skip = state["skip"]
        if skip and (op.weight in skip or op.bias in skip):
            # Also used by an op the hooks do not know: all of its gradient comes from the fallback below.
            op = OpRecord(
                op.kind, op.x, None if op.weight in skip else op.weight, None if op.bias in skip else op.bias, op.meta
            )
        former.form(op, g, state["rows"][:, state["c"]], state["c"])

    xin = xb.detach().clone().requires_grad_(True)
    capture = PerSampleCapture(ids, on_grad, samples=xin)
    with torch.enable_grad(), capture:
        f = module(xin)
    if f.ndim != 2:
        raise TrainlessError(f"the model must output (N, C) logits, got shape {tuple(f.shape)}")
    state["skip"] = frozenset(capture.unsupported)
    other = set(capture.unsupported)
    params = dict(zip(layout.names, layout.params, strict=True))
    # Parameters no watched op saw, e.g. inside a custom autograd.Function (invisible to the function mode):
    # the first backward asks autograd whether the output depends on them at all.
    unseen = [n for n in layout.names if n not in capture.seen and n not in other]
    n_out = f.shape[1]
    k = 1 if pseudo else n_out
    state["rows"] = former.new_rows(bsz, k, layout.dtype, xb.device)
    sample_sums = getattr(former, "sample_sums", None)
    verify = verify and sample_sums is not None
    for c in range(k):
        state["c"] = c
        out = f.sum() / math.sqrt(n_out) if pseudo else f[:, c].sum()
        inputs = [xin, *(params[n] for n in unseen)] if c == 0 else [xin]
        grads = torch.autograd.grad(out, inputs, retain_graph=c < k - 1 or verify, allow_unused=True)
        if c == 0:
            other.update(n for n, g in zip(unseen, grads[1:], strict=True) if g is not None)
    fallback = tuple(n for n in layout.names if n in other and former.wants(n))
    if fallback:
        grads = fallback_grads(module, layout.without(set(layout.names) - set(fallback)), xb)
        for name, grad in grads.items():  # (B, C, *shape)
            if pseudo:
                grad = grad.sum(1, keepdim=True) / math.sqrt(n_out)
            for c in range(k):
                former.write(name, grad[:, c], state["rows"][:, c], c)
    former.finish(state["rows"])
    if verify:
        state["mute"] = True  # the hooks fire on this backward too: it must not write rows again
        _verify_rows(f, pseudo, params, sample_sums(state["rows"][:, 0]), layout.dtype)
    return state["rows"], f.detach()


def _verify_rows(
    f: torch.Tensor,
    pseudo: bool,
    params: dict[str, torch.Tensor],
    sums: SampleSums,
    dtype: torch.dtype,
) -> None:
    """Raise TrainlessError where a parameter's per-sample gradients of the first output class, summed over the
    tile (``sums``: name -> (project, sum, size of the terms), the former's :meth:`ColumnFormer.sample_sums`),
    differ from ``project`` of autograd's gradient of that output's sum. float64 sums; tolerance 1e-3 in float32,
    1e-8 in float64, of the larger of the gradient's norm and the terms' size (the per-sample contractions and
    autograd's summed one round differently, and a sum that cancels keeps its terms' rounding)."""
    if not sums:
        return
    names = list(sums)
    out = f.sum() / math.sqrt(f.shape[1]) if pseudo else f[:, 0].sum()
    grads = torch.autograd.grad(out, [params[n] for n in names], allow_unused=True)
    tol = 1e-8 if dtype == torch.float64 else 1e-3
    for name, g in zip(names, grads, strict=True):
        project, summed, terms = sums[name]
        want = torch.zeros_like(summed) if g is None else project(g).double()
        gap, scale = float((summed - want).norm()), max(float(want.norm()), terms)
        if gap > tol * scale and gap > 1e-12:
            raise TrainlessError(
                f"the per-sample gradients of parameter {name!r} do not add up to its gradient (relative gap "
                f"{gap / max(scale, 1e-30):.2g}): the model uses it in a way the batched engine cannot split per "
                "sample; use KernelMethod.NAIVE, and please report the model"
            )


def _one_sample(module: nn.Module):  # type: ignore[no-untyped-def]
    """f(params, x_i) -> (C,): the module on one sample with the given parameters replaced (torch.func style)."""
    from torch.func import functional_call

    def f_single(pr: dict, xi: torch.Tensor) -> torch.Tensor:
        return functional_call(module, pr, (xi.unsqueeze(0),)).squeeze(0)

    return f_single


def fallback_grads(module: nn.Module, layout: ParamLayout, xb: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample gradients (B, C, *shape) of the outputs w.r.t. the parameters of ``layout``, ones used by ops the
    hooks form no per-sample gradient for: torch.func's vmap(jacrev) over the tile's samples w.r.t. those
    parameters only, the others held; the per-sample autograd loop (:func:`naive_rows`) where the module cannot be
    vmapped (an op without a batching rule, ``.item()``). Cost: one more (vectorized) forward and C backward passes
    of the tile."""
    from torch.func import jacrev, vmap

    held = {n: p.detach() for n, p in zip(layout.names, layout.params, strict=True)}
    try:
        # The outer no_grad keeps autograd from recording the other (trainable) parameters' use; jacrev, a
        # function transform, still differentiates w.r.t. ``held``. An op without a batching rule (CPU flash
        # attention) runs per sample inside vmap, correct but slower: torch's notice of it, once per tile and
        # pass, would bury the user's output, and the route is the one chosen here.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
            return vmap(jacrev(_one_sample(module)), (None, 0))(held, xb.detach())
    except Exception:  # an op without a batching rule: the loop below handles any autograd op
        pass
    j, f = naive_rows(module, layout, xb)
    rows = j.view(xb.shape[0], f.shape[1], layout.d)
    return {
        n: rows[:, :, off : off + size].reshape(xb.shape[0], f.shape[1], *p.shape)
        for n, p, off, size in zip(layout.names, layout.params, layout.offsets, layout.sizes, strict=True)
    }


def naive_rows(module: nn.Module, layout: ParamLayout, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """J (N * C, D) and f (N, C) by the per-sample autograd loop: batch 1, one backward per output.

    The baseline every faster path is measured against; memory N * C * D numbers (J filled in place).
    """
    j: torch.Tensor | None = None
    outs = []
    for i in range(x.shape[0]):
        with torch.enable_grad():
            f = module(x[i : i + 1])
            c_out = f.shape[1]
            if j is None:
                j = torch.empty(x.shape[0] * c_out, layout.d, dtype=layout.dtype, device=x.device)
            for c in range(c_out):
                grads = torch.autograd.grad(f[0, c], layout.params, retain_graph=c < c_out - 1, allow_unused=True)
                row = j[i * c_out + c]
                for g, off, size in zip(grads, layout.offsets, layout.sizes, strict=True):
                    row[off : off + size] = 0 if g is None else g.reshape(-1)
        outs.append(f.detach())
    assert j is not None
    return j, torch.cat(outs)


def vmap_rows(module: nn.Module, layout: ParamLayout, x: torch.Tensor, tile: int) -> tuple[torch.Tensor, torch.Tensor]:
    """J (N * C, D) and f (N, C) by torch.func's vmap(jacrev) over samples (the NTK tutorial's route)."""
    from torch.func import jacrev, vmap

    params = dict(zip(layout.names, (p.detach() for p in layout.params), strict=True))
    f_single = _one_sample(module)

    j: torch.Tensor | None = None
    outs = []
    for i in range(0, x.shape[0], tile):
        xb = x[i : i + tile]
        jac = vmap(jacrev(f_single), (None, 0))(params, xb)
        b, c_out = jac[layout.names[0]].shape[:2]
        if j is None:
            j = torch.empty(x.shape[0] * c_out, layout.d, dtype=layout.dtype, device=x.device)
        for name, off, size in zip(layout.names, layout.offsets, layout.sizes, strict=True):
            j[i * c_out : (i + b) * c_out, off : off + size] = jac[name].reshape(b * c_out, size)
        del jac
        with torch.no_grad():
            outs.append(module(xb))
    assert j is not None
    return j, torch.cat(outs)
