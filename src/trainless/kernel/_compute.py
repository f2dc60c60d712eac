"""The empirical NTK Theta = J J^T (DESIGN.md "Kernel"): one entry point, one enum of implementations."""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from tqdm.auto import tqdm

from .._constraints import Interval, OneOf, validate
from .._enums import DocEnum
from .._memory import PeakMemory
from ..data import check_finite_data
from ..errors import TrainlessError
from ..models import check_finite_parameters
from ._engine import ColumnFormer, ParamLayout, jacobian_tile, module_of, naive_rows, vmap_rows
from ._factored import FactorStore, TileFormer, plan_factors
from ._projections import CountSketch, DenseProjection
from ._shard import Shard
from ._structured import KroneckerFormer


class KernelMethod(DocEnum):
    """How Theta is computed. D trained parameters, N samples, C outputs, D' projection dimension.

    Each member's docstring states its cost, memory and bias.
    """

    EXACT = (
        "exact",
        """Exact. Rows from batched passes (per-sample gradients formed by per-layer hooks on linear, conv2d,
        batch_norm and layer_norm; parameters of any other op from torch.func's vmap(jacrev), one more
        vectorized pass of the tile w.r.t. those parameters alone; the first kernel of a module checks one tile's
        per-sample gradients against autograd's summed gradient), streamed in column groups that fit the
        memory budget; each group's Gram in the parameters' dtype (sgemm for
        float32: relative error ~1e-7 sqrt(D)), summed in float64. Cost: per column group, one forward and
        C backward passes of the data in tiles, plus (NC)^2 D Gram flops in all. Memory: max_memory_mib.""",
    )
    NAIVE = (
        "naive",
        """Exact baseline: a per-sample autograd loop (batch 1, C backward passes per sample), then one
        dense Gram. Cost: N C batch-1 backward passes + (NC)^2 D. Memory: all of J, N C D numbers. Any op
        autograd supports; the reference the others are tested against.""",
    )
    TUTORIAL = (
        "tutorial",
        """Exact baseline: torch.func vmap(jacrev) per tile of samples + a dense Gram (the torch.func NTK
        tutorial's route). Cost: vmapped reverse mode, C rows per sample + (NC)^2 D. Memory: all of J.""",
    )
    PSEUDO = (
        "pseudo",
        """Pseudo-NTK (Mohamadi et al. 2023): Theta_p = G G^T with G the gradient of sum_c f_c / sqrt(C), an
        N x N matrix standing for Theta_p (x) I_C. Cost: one backward per tile + N^2 D, about C^2 times
        cheaper than exact, and less with ``factor``. Memory: streamed as exact. Biased: drops the
        class-to-class structure; its error must be measured.""",
    )
    COUNTSKETCH = (
        "countsketch",
        """Projected, unbiased: one signed bucket per parameter (a sign sketch), applied with index_add_ as
        each tile of rows is produced. Cost: one forward and C backward passes + O(N C D) to project +
        (NC)^2 D' for the Gram. Memory: a tile of rows + N C D' + 12 bytes per parameter; J is never
        stored. Relative Frobenius error ~ sqrt(tr(Theta)^2 / ||Theta||_F^2 / D') on the projected part.
        With ``factor`` (default) the layers whose kernel is exact from their factors are not projected:
        only the other columns are, so error and cost both drop.""",
    )
    ACHLIOPTAS = (
        "achlioptas",
        """Projected, unbiased: sparse {-1, 0, +1} entries scaled by sqrt(3/D'), regenerated block by block
        from the seed. Cost: O(N C D D') to project (a dense matmul: the zeros save nothing). Memory: a tile
        of rows + N C D' + one block of P. Error as countsketch's.""",
    )
    STRUCTURED = (
        "structured",
        """Projected, unbiased, structured: per layer, the inputs (or conv patches) and the output gradients
        are projected separately (a Kronecker-factored P_out (x) P_in), so per-sample weight gradients are
        never formed; 1-D parameters and small factors stay exact. D' = about dim for the weights, plus the
        1-D parameters. Cost: one forward and C backward passes + small per-layer products + (NC)^2 D'.
        Memory: a tile of projected rows, N C D'. Error larger than an iid projection of the same D'.""",
    )
    GAUSSIAN = (
        "gaussian",
        """Projected, unbiased: N(0, 1/D') entries, regenerated block by block from the seed; the paper's
        projection. Cost: O(N C D D') to project plus as many normal draws per tile: the slowest. Memory: as
        achlioptas. Error as countsketch's.""",
    )


@dataclass(frozen=True)
class KernelConfig:
    """How to compute the kernel.

    method: a :class:`KernelMethod` value.
    dim: the projection dimension D' of the projected methods (ignored by the others).
    seed: seeds the projection.
    max_memory_mib: budget for the kernel's buffers (rows, Gram, projections, factors) and the network's
        autograd state for one tile of samples (estimated from one sample's saved tensors); the process's
        own baseline (model, data, libraries) comes on top.
    tile: samples per batched pass (None: as many as the budget allows, at most 32).
    factor: compute the kernel of linear and dense-conv weights seen at few positions from their inputs and
        output gradients (exact, no per-sample gradients; see ``_factored``), for every streamed method:
        the projected ones then project only the other parameters' columns. False: the plain method.
    """

    method: str = "exact"
    dim: int = 16384
    seed: int = 0
    max_memory_mib: float = 4096.0
    tile: int | None = None
    factor: bool = True

    _constraints: ClassVar[dict] = {
        "method": OneOf(tuple(m.value for m in KernelMethod)),
        "dim": Interval(1, None, integer=True),
        "seed": Interval(0, None, integer=True),
        "max_memory_mib": Interval(0, None, low_closed=False),
        "tile": Interval(1, None, integer=True, optional=True),
        "factor": OneOf((True, False)),
    }

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, eq=False)
class KernelResult:
    """The empirical NTK on the training set and the outputs at w0.

    k_train_train: float64; (N, N, C, C) with k[i, j, a, b] = <d f_a(x_i)/dw, d f_b(x_j)/dw>, or (N, N) for
        the pseudo-NTK (standing for Theta_p (x) I_C; ``pseudo`` is True).
    f0: (N, C) float64, the outputs f(x_i) at the pretrained weights.
    dim: D' for projected methods, else None. num_params: D, the number of trained parameters.
    seconds: wall time of the computation; peak_rss_mib: the process's resident memory peak during it.
    tile / column_groups: samples per batched pass and the number of column groups streamed.
    """

    k_train_train: torch.Tensor
    f0: torch.Tensor
    method: KernelMethod
    pseudo: bool
    dim: int | None
    num_params: int
    seconds: float
    peak_rss_mib: float
    tile: int
    column_groups: int

    @property
    def n(self) -> int:
        return int(self.f0.shape[0])

    @property
    def classes(self) -> int:
        return int(self.f0.shape[1])

    def matrix(self) -> torch.Tensor:
        """Theta as an (N C, N C) matrix in sample-major order (x_1 c_1, x_1 c_2, ..., x_N c_C), float64.

        The pseudo-NTK is expanded as Theta_p (x) I_C."""
        n, c = self.n, self.classes
        if self.pseudo:
            return torch.kron(self.k_train_train, torch.eye(c, dtype=torch.float64))
        return self.k_train_train.permute(0, 2, 1, 3).reshape(n * c, n * c)


def _mib(n_numbers: float, item: int) -> float:
    return n_numbers * item / 2**20


def activation_mib_per_sample(module: nn.Module, x1: torch.Tensor) -> float:
    """Estimated MiB of autograd state per sample of a tile: twice the tensors one sample's forward saves for
    backward (the other half for the gradients flowing back through them). Counted with
    saved_tensors_hooks, each storage once; parameters excluded."""
    seen: dict[int, int] = {}
    params = {p.data_ptr() for p in module.parameters()}
    kept: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> None:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        # Kept alive, as backward would keep it, so that no later tensor reuses its storage and is counted in its
        # place; not returned, since the graph is never run backward.
        kept.append(t)

    def unpack(_: None) -> torch.Tensor:  # pragma: no cover - never called: no backward through this graph
        raise AssertionError("the activation probe's graph is not for backward")

    xin = x1.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            module(xin)
    finally:
        # Every saved tensor's node holds the hooks, and so this list: emptied, it closes no cycle (left full, the
        # pass's activations would wait for the cyclic collector).
        kept.clear()
    return 2 * sum(seen.values()) / 2**20 / x1.shape[0]


def _plan_tile(config: KernelConfig, n: int, per_sample_mib: float, free_mib: float, what: str) -> int:
    if per_sample_mib > free_mib:
        raise TrainlessError(
            f"max_memory_mib={config.max_memory_mib:g} leaves {free_mib:.1f} MiB, below one sample's {what} "
            f"({per_sample_mib:.1f} MiB): raise max_memory_mib or use method 'exact' (streams columns)"
        )
    cap = config.tile if config.tile is not None else 32
    return max(1, min(n, cap, int(free_mib // per_sample_mib)))


def compute_kernel(
    model: object,
    x: torch.Tensor,
    config: KernelConfig | None = None,
    *,
    progress: bool = False,
    distributed: bool | None = None,
) -> KernelResult:
    """The empirical NTK of ``model`` on ``x`` w.r.t. its trainable parameters (``requires_grad``).

    model: an ``nn.Module`` or a :class:`~trainless.models.LoadedModel`, in eval mode (BatchNorm statistics
        frozen); its outputs (N, C) are the stacked f(X). x: (N, ...) inputs.
    Returns a :class:`KernelResult` (Theta in float64, eq. 2 of Zancato et al.: Theta = J J^T with J the
    (N C x D) Jacobian of the stacked outputs).

    distributed: when torch.distributed is initialized (e.g. under torchrun, gloo on CPU or nccl on GPU),
    each rank computes the rows of its contiguous share of the samples; projected rows (or, for exact and
    pseudo, each column group of J) are all-gathered, each rank forms its block of Gram rows, and every
    rank returns the whole kernel. None: whenever a process group of more than one rank exists. Every rank
    must call this with the same x and config.
    """
    config = config or KernelConfig()
    module = module_of(model)
    method = KernelMethod(config.method)
    if x.ndim < 2 or x.shape[0] == 0:
        raise TrainlessError(f"x must have shape (N, ...) with N >= 1 samples, got shape {tuple(x.shape)}")
    check_finite_data(x, "x")
    layout = ParamLayout.of(module)
    check_finite_parameters(module, "model")
    if module.training:
        raise TrainlessError("the model is in training mode: call .eval() (BatchNorm statistics must be frozen)")
    device = layout.params[0].device
    x = x.to(device=device, dtype=layout.dtype)
    n, d = x.shape[0], layout.d
    with torch.no_grad():
        out = module(x[:1])
    if out.ndim != 2:
        raise TrainlessError(f"the model must output (N, C) logits, got shape {tuple(out.shape)} for one sample")
    c = int(out.shape[1])
    if c < 1:
        raise TrainlessError(f"the model has C = {c} outputs; need C >= 1")
    check_samples_independent(module, x, out[0])
    item = torch.finfo(layout.dtype).bits // 8
    t0 = time.perf_counter()
    with PeakMemory() as pm:
        shard = Shard.of(n, distributed)
        if shard.world > 1 and method in (KernelMethod.NAIVE, KernelMethod.TUTORIAL):
            raise TrainlessError(f"method {method.value!r} is a one-process baseline; it is not sharded")
        k, f0, tile, groups, dim = _dispatch(method, config, module, layout, x, n, c, d, item, progress, shard)
    return KernelResult(
        k_train_train=k,
        f0=f0.double().cpu(),
        method=method,
        pseudo=method is KernelMethod.PSEUDO,
        dim=dim,
        num_params=d,
        seconds=time.perf_counter() - t0,
        peak_rss_mib=pm.peak_rss_mib,
        tile=tile,
        column_groups=groups,
    )


def check_samples_independent(module: nn.Module, x: torch.Tensor, alone: torch.Tensor) -> None:
    """Raise TrainlessError if the first sample's output changes when a second sample shares its batch.

    Theta is per sample (f(x_i) a function of x_i alone), and the batched engines split the gradient of
    sum_i f_c(x_i) into per-sample gradients on that ground: an op that mixes the samples of a batch (batch
    statistics, a mean over the batch) would make every kernel silently wrong. alone: (C,) the module's output for
    x[0] computed by itself (the caller has it); one forward pass of two samples."""
    if x.shape[0] < 2:
        return
    with torch.no_grad():
        beside = module(x[:2])[0]
    gap = float((alone - beside).abs().max())
    scale = float(alone.abs().max())
    # float32 batched and single passes may take different kernels: allow their rounding, not a real dependence.
    tol = (1e-3 if alone.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-9) * max(scale, 1.0)
    if not gap <= tol:
        raise TrainlessError(
            f"the model's output for a sample depends on the other samples of its batch: f(x_0) computed alone and "
            f"beside x_1 differ by {gap:.3g} (largest |f| {scale:.3g}); the NTK is per sample, so remove what mixes "
            "the samples (BatchNorm in training mode, a statistic over the batch)"
        )


_VERIFIED: weakref.WeakKeyDictionary[nn.Module, set[tuple[str, ...]]] = weakref.WeakKeyDictionary()
"""The modules (and trained parameter sets) whose batched per-sample gradients were checked against autograd: a
module's ops do not change between its kernels (the updates along a predicted path), so once is enough."""


def _needs_verify(module: nn.Module, layout: ParamLayout) -> bool:
    return layout.names not in _VERIFIED.get(module, set())


def _verified(module: nn.Module, layout: ParamLayout) -> None:
    _VERIFIED.setdefault(module, set()).add(layout.names)


def _to_nncc(gram: torch.Tensor, n: int, c: int) -> torch.Tensor:
    return gram.reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous()


def _dispatch(
    method: KernelMethod,
    config: KernelConfig,
    module: nn.Module,
    layout: ParamLayout,
    x: torch.Tensor,
    n: int,
    c: int,
    d: int,
    item: int,
    progress: bool,
    shard: Shard,
) -> tuple[torch.Tensor, torch.Tensor, int, int, int | None]:
    budget = config.max_memory_mib
    xs = x[shard.lo : shard.hi]  # this process's share of the samples
    ns = xs.shape[0]
    if method in (KernelMethod.NAIVE, KernelMethod.TUTORIAL):
        need = _mib(n * c * d, item) + _mib((n * c) ** 2, 8)
        if need > budget:
            raise TrainlessError(
                f"method {method.value!r} holds all of J ({need:.0f} MiB with its Gram) above max_memory_mib="
                f"{budget:g}: use 'exact' (streams J in column groups) or 'countsketch'"
            )
        if method is KernelMethod.NAIVE:
            j, f0 = naive_rows(module, layout, x)
        else:
            j, f0 = vmap_rows(module, layout, x, config.tile or 8)
        gram = (j @ j.T).double()
        return _to_nncc(gram, n, c), f0, 1 if method is KernelMethod.NAIVE else (config.tile or 8), 1, None

    if method in (KernelMethod.EXACT, KernelMethod.PSEUDO):
        pseudo = method is KernelMethod.PSEUDO
        k = 1 if pseudo else c
        shapes = plan_factors(module, layout.ids(), x[:1], k) if config.factor else {}
        dense = layout.without(shapes)
        gram_mib = _mib((n * k) ** 2, 8) + _mib(FactorStore.numbers(shapes, n, k), item)
        # The network's autograd state for a tile gets at most a quarter of the budget.
        act = activation_mib_per_sample(module, x[:1])
        tile = min(n, config.tile or 32, max(1, int(budget / 4 // max(act, 1e-9))))
        free = budget - gram_mib - tile * act
        per_column = _mib((n + tile) * k, item)
        if free < per_column:
            raise TrainlessError(
                f"max_memory_mib={budget:g} cannot hold the {n * k} x {n * k} Gram matrix ({gram_mib:.1f} MiB), "
                f"a {tile}-sample tile's autograd state ({tile * act:.1f} MiB) and one column of J: raise "
                "max_memory_mib or use method 'countsketch' with a smaller N"
            )
        width = max(1, min(max(dense.d, 1), int(free // per_column)))
        groups = dense.column_groups(width)
        store = FactorStore(shapes, ns, k, layout.dtype, x.device) if shapes else None
        gram_rows = torch.zeros(ns * k, n * k, dtype=torch.float64, device=x.device)
        f0 = torch.empty(ns, c, dtype=layout.dtype, device=x.device)
        bar = tqdm(
            total=len(groups) * ns, desc=f"kernel ({method.value})", unit="sample", disable=not progress, leave=False
        )
        verify = _needs_verify(module, layout)
        for gi, (lo, hi) in enumerate(groups):
            jg = torch.empty(ns, k, hi - lo, dtype=layout.dtype, device=x.device)
            for i in range(0, ns, tile):
                collect = store if gi == 0 else None
                if collect is not None:
                    collect.offset = i
                former = TileFormer(ColumnFormer(dense, (lo, hi)), collect)
                # The first kernel of a module checks each column group's first tile against autograd.
                rows, f = jacobian_tile(
                    module, layout, xs[i : i + tile], pseudo=pseudo, former=former, verify=verify and i == 0
                )
                jg[i : i + tile] = rows
                f0[i : i + tile] = f
                bar.update(rows.shape[0])
            mine = jg.view(ns * k, hi - lo)
            everyone = shard.gather(mine, per_sample=k)
            gram_rows += (mine @ everyone.T).double()
            del jg, mine, everyone
        if verify:
            _verified(module, layout)
        if store is not None:
            store.add_gram_rows(gram_rows, shard.gather)
        bar.close()
        gram = shard.gather(gram_rows, per_sample=k)
        f0 = shard.gather(f0)
        if pseudo:
            return gram, f0, tile, len(groups), None
        return _to_nncc(gram, n, c), f0, tile, len(groups), None

    if method is KernelMethod.STRUCTURED:
        former = KroneckerFormer(layout, config.dim, config.seed)
        dim = former.width
        fixed = _mib(n * c * dim, item) + _mib((n * c) ** 2, 8)
        act = activation_mib_per_sample(module, x[:1])
        tile = _plan_tile(config, n, _mib(c * dim, item) + act, budget - fixed, "projected row (C x D')")
        proj = torch.zeros(ns * c, dim, dtype=layout.dtype, device=x.device)
        f0 = torch.empty(ns, c, dtype=layout.dtype, device=x.device)
        verify = _needs_verify(module, layout)
        for i in range(0, ns, tile):
            rows, f = jacobian_tile(module, layout, xs[i : i + tile], former=former, verify=verify and i == 0)
            b = rows.shape[0]
            proj[i * c : (i + b) * c] = rows.reshape(b * c, dim)
            f0[i : i + b] = f
        if verify:
            _verified(module, layout)
        proj = shard.gather(proj, per_sample=c)
        return _to_nncc((proj @ proj.T).double(), n, c), shard.gather(f0), tile, 1, dim

    # Projected: tiles of rows, each projected to D' as soon as it is produced. With ``factor``, weights whose
    # exact kernel is cheap from their factors are not projected at all (exact, and never formed).
    dim = config.dim
    shapes = plan_factors(module, layout.ids(), x[:1], c) if config.factor else {}
    dense = layout.without(shapes)
    dd = dense.d
    fixed = _mib(n * c * dim, item) + _mib((n * c) ** 2, 8) + _mib(FactorStore.numbers(shapes, n, c), item)
    fixed += _mib(dd, 12) if method is KernelMethod.COUNTSKETCH else _mib(4096 * dim, 4)
    act = activation_mib_per_sample(module, x[:1])
    tile = _plan_tile(config, n, _mib(c * dd, item) * 2 + act, budget - fixed, "Jacobian row (C x D)")
    proj_op = (
        CountSketch(dd, dim, config.seed, x.device)
        if method is KernelMethod.COUNTSKETCH
        else DenseProjection(dd, dim, config.seed, method.value)
    )
    store = FactorStore(shapes, ns, c, layout.dtype, x.device) if shapes else None
    proj = torch.zeros(ns * c, dim, dtype=layout.dtype, device=x.device)
    f0 = torch.empty(ns, c, dtype=layout.dtype, device=x.device)
    bar = tqdm(total=ns, desc=f"kernel ({method.value})", unit="sample", disable=not progress, leave=False)
    verify = _needs_verify(module, layout)
    for i in range(0, ns, tile):
        if store is not None:
            store.offset = i
        former = TileFormer(ColumnFormer(dense), store)
        rows, f = jacobian_tile(module, layout, xs[i : i + tile], former=former, verify=verify and i == 0)
        b = rows.shape[0]
        if dd:
            proj_op.apply(rows.view(b * c, dd), 0, dd, proj[i * c : (i + b) * c])
        f0[i : i + b] = f
        bar.update(b)
        del rows
    if verify:
        _verified(module, layout)
    bar.close()
    proj = shard.gather(proj, per_sample=c)
    gram = (proj @ proj.T).double()
    if store is not None:
        rows_f = torch.zeros(ns * c, n * c, dtype=torch.float64, device=x.device)
        store.add_gram_rows(rows_f, shard.gather)
        gram += shard.gather(rows_f, per_sample=c)
    return _to_nncc(gram, n, c), shard.gather(f0), tile, 1, dim


def relative_frobenius_error(approx: KernelResult, exact: KernelResult) -> float:
    """||Theta_approx - Theta||_F / ||Theta||_F on the (N C x N C) matrices (pseudo expanded with I_C)."""
    a, e = approx.matrix(), exact.matrix()
    return float(torch.linalg.matrix_norm(a - e) / torch.linalg.matrix_norm(e))


def expected_projection_error(exact: KernelResult, dim: int) -> float:
    """sqrt(tr(Theta)^2 / ||Theta||_F^2 / D'): the scale of a random projection's relative Frobenius error.

    For Gaussian P, E||P-error||_F^2 = (||Theta||_F^2 + tr(Theta)^2) / D'; the tr^2 term dominates."""
    m = exact.matrix()
    return math.sqrt(float(torch.trace(m)) ** 2 / float((m * m).sum()) / dim)
