"""The exact kernel of a linear or dense-conv layer from its factors, without per-sample gradients.

For a weight used as y_p = W a_p at positions p (a linear layer on (B, P, in) inputs, or a groups=1 conv on
its unfolded patches), the per-sample gradient of output c is G_ic = sum_p g_icp a_ip^T, so

    <G_ic, G_jd> = sum_{p,q} (a_ip . a_jq) (g_icp . g_jdq),

the layer's exact kernel from the inputs A (N, P, in) and the output gradients G (N, C, P, out) alone
((A A^T) * (G G^T) for P = 1). It costs P^2 (in + C^2 out) per pair of samples instead of C^2 in out, a
large saving where P is small and the layer large: EfficientNet's late 1x1 convolutions, which hold
most of its parameters, see 1-16 positions at 32-64 px.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._engine import SampleSums
from ._persample import OpRecord, conv_geometry


@dataclass(frozen=True)
class FactorShape:
    positions: int
    fan_in: int
    fan_out: int


def _inputs(op: OpRecord) -> torch.Tensor:
    """The op's inputs as (B, P, in_eff): linear inputs flattened, or a dense conv's patches."""
    x = op.x
    if op.kind == "linear":
        return x.reshape(x.shape[0], -1, x.shape[-1])
    c = conv_geometry(op)
    if c.kernel == (1, 1) and c.padding == (0, 0):
        return c.x[:, :, :: c.stride[0], :: c.stride[1]].flatten(2).transpose(1, 2)
    return F.unfold(c.x, c.kernel, dilation=c.dilation, padding=c.padding, stride=c.stride).transpose(1, 2)


def _outputs(op: OpRecord, g: torch.Tensor) -> torch.Tensor:
    """Output gradients as (B, P, out)."""
    if op.kind == "linear":
        return g.reshape(g.shape[0], -1, g.shape[-1])
    return g.flatten(2).transpose(1, 2)


def factor_shape(op: OpRecord, g: torch.Tensor) -> FactorShape | None:
    """The factor sizes of ``op``'s weight, or None when it cannot be factored (grouped convs, norms)."""
    if op.weight is None or op.kind not in ("linear", "conv2d"):
        return None
    if op.kind == "conv2d" and op.meta["groups"] != 1:
        return None
    a = _inputs(op)
    return FactorShape(a.shape[1], a.shape[2], _outputs(op, g).shape[2])


def worth_factoring(s: FactorShape, classes: int) -> bool:
    """Factored cost per sample pair P^2 (in + C^2 out) well below the dense C^2 in out."""
    p2 = s.positions**2
    return p2 * (s.fan_in + classes**2 * s.fan_out) * 2 < classes**2 * s.fan_in * s.fan_out


class FactorStore:
    """Inputs A (N, P, in) and output gradients G (N, C, P, out) of the factored weights, for all samples."""

    def __init__(
        self, shapes: dict[str, FactorShape], n: int, classes: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        self.shapes = shapes
        self.a = {w: torch.empty(n, s.positions, s.fan_in, dtype=dtype, device=device) for w, s in shapes.items()}
        self.g = {
            w: torch.empty(n, classes, s.positions, s.fan_out, dtype=dtype, device=device) for w, s in shapes.items()
        }
        self.offset = 0

    @staticmethod
    def numbers(shapes: dict[str, FactorShape], n: int, classes: int) -> int:
        return sum(n * s.positions * (s.fan_in + classes * s.fan_out) for s in shapes.values())

    def collect(self, op: OpRecord, g: torch.Tensor, c: int) -> None:
        w = op.weight
        b = g.shape[0]
        sl = slice(self.offset, self.offset + b)
        if c == 0:
            self.a[w][sl] = _inputs(op)
        self.g[w][sl, c] = _outputs(op, g)

    def add_gram_rows(
        self, gram_rows: torch.Tensor, gather: Callable[[torch.Tensor], torch.Tensor], block: int = 64
    ) -> None:
        """gram_rows (n_mine C, N C) float64 += the factored weights' exact kernel rows of this process's
        samples against all samples, sample-major. ``gather`` concatenates every rank's factors in sample
        order (the identity in one process)."""
        for w in self.shapes:
            mine_a, mine_g = self.a[w], self.g[w]
            a, g = gather(mine_a), gather(mine_g)
            n, c, p, _ = g.shape
            a2 = a.reshape(n * p, -1)
            g2 = g.reshape(n * c * p, -1)
            for i in range(0, mine_a.shape[0], block):
                j = min(mine_a.shape[0], i + block)
                aa = (mine_a[i:j].reshape((j - i) * p, -1) @ a2.T).view(j - i, 1, p, n, 1, p)
                gg = (mine_g[i:j].reshape((j - i) * c * p, -1) @ g2.T).view(j - i, c, p, n, c, p)
                k = (aa * gg).sum((2, 5))  # (bi, C, N, C)
                gram_rows[i * c : j * c] += k.reshape((j - i) * c, n * c).double()


def plan_factors(
    module: torch.nn.Module, ids: dict[int, str], x1: torch.Tensor, classes: int
) -> dict[str, FactorShape]:
    """Which trainable weights to factor, from one sample's forward and backward pass: the linear and dense
    conv weights used by exactly one op for which :func:`worth_factoring` holds."""
    from ._persample import PerSampleCapture

    shapes: dict[str, FactorShape | None] = {}
    uses: dict[str, int] = {}

    def on_grad(op: OpRecord, g: torch.Tensor) -> None:
        if op.weight is None:
            return
        uses[op.weight] = uses.get(op.weight, 0) + 1
        shapes[op.weight] = factor_shape(op, g)

    xin = x1.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        capture = PerSampleCapture(ids, on_grad, samples=xin)
        with capture:
            f = module(xin)
        torch.autograd.grad(f[:, 0].sum(), xin)
    # A weight some other op also uses gets its whole gradient from the engine's fallback, never from factors.
    return {
        w: s
        for w, s in shapes.items()
        if s is not None and uses[w] == 1 and w not in capture.unsupported and worth_factoring(s, classes)
    }


class TileFormer:
    """Exact dense columns through a ColumnFormer, factored weights into a FactorStore (first pass only)."""

    def __init__(self, columns, store: FactorStore | None) -> None:  # type: ignore[no-untyped-def]
        self.columns = columns
        self.store = store
        self.width = columns.width

    def new_rows(self, bsz: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return self.columns.new_rows(bsz, k, dtype, device)

    def wants(self, name: str) -> bool:
        return self.columns.wants(name)

    def write(self, name: str, grad: torch.Tensor, rows: torch.Tensor, c: int = 0) -> None:
        self.columns.write(name, grad, rows, c)

    def sample_sums(self, rows0: torch.Tensor) -> SampleSums:
        """The dense columns' sums (ColumnFormer.sample_sums) and, for the factored weights this tile was collected
        into, sum over samples and positions of G^T A: their per-sample gradients, never formed for the kernel
        (the terms' size bounded by sqrt(sum_i (|G_i| |A_i|)^2))."""
        sums = self.columns.sample_sums(rows0)
        if self.store is not None:
            sl = slice(self.store.offset, self.store.offset + rows0.shape[0])
            for w in self.store.shapes:
                g, a = self.store.g[w][sl, 0].double(), self.store.a[w][sl].double()
                grad = torch.einsum("bpo,bpi->oi", g, a)
                terms = float((g.flatten(1).norm(dim=1) * a.flatten(1).norm(dim=1)).norm())
                sums[w] = (lambda full: full.reshape(-1), grad.reshape(-1), terms)
        return sums

    def form(self, op: OpRecord, g: torch.Tensor, rows: torch.Tensor, c: int = 0) -> None:
        if self.store is not None and op.weight in self.store.shapes:
            self.store.collect(op, g, c)
        self.columns.form(op, g, rows, c)

    def finish(self, rows: torch.Tensor) -> None:
        self.columns.finish(rows)
