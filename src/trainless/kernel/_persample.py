"""Per-sample gradients from batched forward/backward passes, for any module built of known ops.

A ``TorchFunctionMode`` watches every torch function the forward pass calls. When a trainable parameter
enters one of the ops below, the op's input is kept and a hook on its output catches the output gradient
during backward; from the two, the per-sample gradient of that op's parameters is formed in one batched
contraction (the same contraction backward does for the summed gradient, kept per sample):

- ``linear``:     dW_i = sum_pos g_i^T x_i, db_i = sum_pos g_i
- ``conv2d``:     dW_i = g_i unfold(x_i)^T per group (any stride, padding incl. 'same', dilation, groups)
- ``batch_norm``  (eval mode only): dgamma_i = sum_pos g_i * xhat_i, dbeta_i = sum_pos g_i
- ``layer_norm``: dgamma_i = sum_pos g_i * xhat_i, dbeta_i = sum_pos g_i

Because it hooks the functions, not the modules, it sees the real arguments whatever the module's Python
code does (EfficientNet's static 'same' padding, functional calls). Samples must not interact (BatchNorm in
eval mode): this is what makes the gradient of sum_i f_c(x_i) split into per-sample gradients. A trainable
parameter used by any other op (group_norm, prelu, attention, an elementwise scale) is reported, and the engine
takes that parameter's per-sample gradients from torch.func instead (``_engine.fallback_grads``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..errors import TrainlessError


@dataclass
class OpRecord:
    """One call of a supported op that involves trainable parameters."""

    kind: str
    x: torch.Tensor
    weight: str | None
    bias: str | None
    meta: dict[str, Any]


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _tensors(items: Iterable[Any]) -> Iterable[torch.Tensor]:
    """The tensors among ``items``, one level into lists and tuples (torch.cat's list, a module's tuple output)."""
    for a in items:
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (t for t in a if isinstance(t, torch.Tensor))


class PerSampleCapture(TorchFunctionMode):
    """Record supported ops that use the watched parameters; call ``on_grad(op, g)`` in backward.

    params: id(parameter) -> name for the parameters whose per-sample gradients are wanted.
    samples: the batched input of the forward pass. The hooks' formulas hold only where an op's input carries
    the samples along its first dimension, derived from this input; every tensor computed from it is tracked, and
    the parameters of an op whose input is not (a learned query through a linear layer, its output shared by all
    samples) are reported as unsupported, so the engine forms their gradients another way.
    """

    def __init__(
        self,
        params: dict[int, str],
        on_grad: Callable[[OpRecord, torch.Tensor], None],
        samples: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.params = params
        self.on_grad = on_grad
        self.unsupported: dict[str, str] = {}
        self.seen: set[str] = set()
        # ids of the tensors derived from the samples; the tensors themselves are kept so that no id is reused
        # by another tensor while the forward pass runs.
        self._derived: dict[int, torch.Tensor] = {} if samples is None else {id(samples): samples}
        self._track = samples is not None

    def __exit__(self, *exc: Any) -> Any:
        # The kept tensors reach the output hooks, whose closures reach this capture: a cycle that would hold every
        # activation of the pass until the cyclic collector ran (an out-of-memory kill on the quick start). The
        # tracking is needed during the forward pass only.
        self._derived.clear()
        return super().__exit__(*exc)

    def _name(self, t: Any) -> str | None:
        return self.params.get(id(t)) if isinstance(t, torch.Tensor) else None

    def _flag_unsupported(self, func: Any, args: Iterable[Any], kwargs: dict, why: str = "") -> None:
        for t in _tensors((*args, *kwargs.values())):
            name = self._name(t)
            if name is not None:
                self.unsupported.setdefault(name, getattr(func, "__name__", str(func)) + why)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._track and any(id(t) in self._derived for t in _tensors((*args, *kwargs.values()))):
            for t in _tensors(out if isinstance(out, (tuple, list)) else (out,)):
                self._derived[id(t)] = t
        op = self._match(func, args, kwargs)
        if op is None:
            # Only ops through which gradient flows matter (not .size() or .dtype on a parameter).
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if any(isinstance(o, torch.Tensor) and o.requires_grad for o in outs):
                self._flag_unsupported(func, args, kwargs)
            return out
        if self._track and id(args[0]) not in self._derived:
            # The op's input does not carry the samples (a parameter, or computed from parameters alone): the
            # output is shared by every sample and the per-sample formulas do not apply to any of its parameters.
            self._flag_unsupported(func, args, kwargs, " (on an input without the samples)")
            return out
        if op.weight is None and op.bias is None:
            return out
        self.seen.update(n for n in (op.weight, op.bias) if n is not None)
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda g, op=op: self.on_grad(op, g))
        return out

    def _match(self, func: Any, args: tuple, kwargs: dict) -> OpRecord | None:
        if func is F.linear:
            x, w, b = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
            return OpRecord("linear", x.detach(), self._name(w), self._name(b), {})
        if func is F.conv2d:
            x, w, b = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
            meta = {
                "weight_shape": tuple(w.shape),
                "stride": _arg(args, kwargs, 3, "stride", 1),
                "padding": _arg(args, kwargs, 4, "padding", 0),
                "dilation": _arg(args, kwargs, 5, "dilation", 1),
                "groups": _arg(args, kwargs, 6, "groups", 1),
            }
            return OpRecord("conv2d", x.detach(), self._name(w), self._name(b), meta)
        if func is F.batch_norm:
            w, b = _arg(args, kwargs, 3, "weight"), _arg(args, kwargs, 4, "bias")
            if self._name(w) is None and self._name(b) is None:
                return OpRecord("batch_norm", args[0], None, None, {})
            if _arg(args, kwargs, 5, "training", False):
                raise TrainlessError(
                    "BatchNorm in training mode couples the samples of a batch: put the model in eval() "
                    "(trainless freezes BN statistics, as the paper's protocol)"
                )
            meta = {
                "running_mean": _arg(args, kwargs, 1, "running_mean"),
                "running_var": _arg(args, kwargs, 2, "running_var"),
                "eps": _arg(args, kwargs, 7, "eps", 1e-5),
            }
            return OpRecord("batch_norm", args[0].detach(), self._name(w), self._name(b), meta)
        if func is F.layer_norm:
            w, b = _arg(args, kwargs, 2, "weight"), _arg(args, kwargs, 3, "bias")
            meta = {
                "normalized_shape": tuple(_arg(args, kwargs, 1, "normalized_shape")),
                "eps": _arg(args, kwargs, 4, "eps", 1e-5),
            }
            return OpRecord("layer_norm", args[0].detach(), self._name(w), self._name(b), meta)
        return None


def _same_padding(x: torch.Tensor, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[torch.Tensor, int]:
    """Apply 'same' padding as torch does (extra pad on the right/bottom when odd); return x, 0."""
    pads = []
    for k, d in zip(reversed(kernel), reversed(dilation), strict=True):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads), 0


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class ConvGeometry:
    """A conv2d call's input and arguments in one form: string padding ('same'/'valid') already applied
    to ``x``, every size a pair."""

    x: torch.Tensor
    c_out: int
    c_in_g: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


def conv_geometry(op: OpRecord) -> ConvGeometry:
    m = op.meta
    c_out, c_in_g, kh, kw = m["weight_shape"]
    dilation = _pair(m["dilation"])
    x, padding = op.x, m["padding"]
    if isinstance(padding, str):
        x, padding = _same_padding(x, (kh, kw), dilation) if padding == "same" else (x, 0)
    return ConvGeometry(x, c_out, c_in_g, (kh, kw), _pair(m["stride"]), _pair(padding), dilation, m["groups"])


def _conv2d_weight_per_sample(
    x: torch.Tensor,
    g: torch.Tensor,
    shape: tuple[int, int, int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> torch.Tensor:
    """Per-sample conv weight gradients (B, out, in/groups, kh, kw).

    1x1 convolutions: a batched matmul of the output gradients with the (strided) inputs. Grouped and
    depthwise convolutions: the samples become groups of one convolution (input (1, B in, H, W), groups
    B groups), whose weight gradient -- torch's own convolution backward kernel -- is the per-sample
    gradient. Other dense convolutions: unfold the patches and batch-multiply.
    """
    b = x.shape[0]
    c_out, c_in_g, kh, kw = shape
    if (kh, kw) == (1, 1) and padding == (0, 0) and groups == 1:
        a = x[:, :, :: stride[0], :: stride[1]].flatten(2)  # (B, in, P)
        w = torch.bmm(g.flatten(2), a.transpose(1, 2))
        return w.view(b, c_out, c_in_g, 1, 1)
    if groups > 1 and c_in_g == 1 and c_out == groups and g.shape[2] * g.shape[3] <= 4:
        # Depthwise at 1-4 output positions (late layers): torch's grouped backward with B x C groups of a
        # tiny image is slower than multiplying the patches by the output gradients (measured 2-7x).
        cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride).view(b, c_out, kh * kw, -1)
        return (cols * g.flatten(2).unsqueeze(2)).sum(-1).view(b, c_out, 1, kh, kw)
    if groups > 1:
        w = torch.nn.grad.conv2d_weight(
            x.reshape(1, b * x.shape[1], *x.shape[2:]),
            (b * c_out, c_in_g, kh, kw),
            g.reshape(1, b * c_out, *g.shape[2:]),
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=b * groups,
        )
        return w.view(b, c_out, c_in_g, kh, kw)
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    w = torch.bmm(g.flatten(2), cols.transpose(1, 2))
    return w.view(b, c_out, c_in_g, kh, kw)


def per_sample_grads(op: OpRecord, g: torch.Tensor, want: object | None = None) -> dict[str, torch.Tensor]:
    """Per-sample gradients of ``op``'s trainable parameters, each (B, *param.shape), same dtype as g.

    want: a container of parameter names; the others are not formed (None: all)."""
    if want is not None:
        op = OpRecord(
            op.kind, op.x, op.weight if op.weight in want else None, op.bias if op.bias in want else None, op.meta
        )
    out: dict[str, torch.Tensor] = {}
    x = op.x
    b = x.shape[0]
    if op.kind == "linear":
        x3 = x.reshape(b, -1, x.shape[-1])
        g3 = g.reshape(b, -1, g.shape[-1])
        if op.weight is not None:
            out[op.weight] = torch.bmm(g3.transpose(1, 2), x3)
        if op.bias is not None:
            out[op.bias] = g3.sum(1)
    elif op.kind == "conv2d":
        if op.weight is not None:
            c = conv_geometry(op)
            out[op.weight] = _conv2d_weight_per_sample(
                c.x, g, (c.c_out, c.c_in_g, *c.kernel), c.stride, c.padding, c.dilation, c.groups
            )
        if op.bias is not None:
            out[op.bias] = g.sum((2, 3))
    elif op.kind == "batch_norm":
        m = op.meta
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if op.weight is not None:
            # xhat is the same for the C backward passes of a tile: compute it once.
            xhat = m.get("xhat")
            if xhat is None:
                xhat = (x - m["running_mean"].view(shape)) / torch.sqrt(m["running_var"].view(shape) + m["eps"])
                m["xhat"] = xhat
            out[op.weight] = (g * xhat).flatten(2).sum(2) if x.ndim > 2 else g * xhat
        if op.bias is not None:
            out[op.bias] = g.flatten(2).sum(2) if x.ndim > 2 else g
    elif op.kind == "layer_norm":
        m = op.meta
        k = len(m["normalized_shape"])
        lead = tuple(range(1, x.ndim - k))
        if op.weight is not None:
            xhat = F.layer_norm(x, m["normalized_shape"], None, None, m["eps"])
            prod = g * xhat
            out[op.weight] = prod.sum(lead) if lead else prod
        if op.bias is not None:
            out[op.bias] = g.sum(lead) if lead else g
    else:  # pragma: no cover
        raise AssertionError(op.kind)
    return out
