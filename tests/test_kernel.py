"""Every kernel implementation against one reference (the naive per-sample loop) and closed forms."""

from __future__ import annotations

import math

import problems
import pytest
import torch
from torch import nn

from trainless import TrainlessError, load_model
from trainless.kernel import (
    KernelConfig,
    KernelMethod,
    compute_kernel,
    expected_projection_error,
    jacobian_vector_product,
    relative_frobenius_error,
)
from trainless.kernel._engine import ParamLayout, naive_rows

EXACT_METHODS = ["exact", "naive", "tutorial"]


def test_linear_model_closed_form():
    model = problems.linear_model()
    x = torch.randn(5, 6, dtype=torch.float64)
    want = problems.linear_kernel_closed_form(x, 3)
    for method in EXACT_METHODS:
        got = compute_kernel(model, x, KernelConfig(method=method, tile=2))
        torch.testing.assert_close(got.k_train_train, want, rtol=1e-12, atol=1e-12, msg=method)
        torch.testing.assert_close(got.f0, model(x).detach(), rtol=1e-14, atol=1e-14)
    # Pseudo-NTK of a linear model: grad of sum_c f_c / sqrt(C) = [x (x) 1, 1] / sqrt(C) -> x.x + 1.
    pseudo = compute_kernel(model, x, KernelConfig(method="pseudo"))
    torch.testing.assert_close(pseudo.k_train_train, x @ x.T + 1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["exact", "tutorial", "pseudo"])
@pytest.mark.parametrize("tile", [1, 3, 16])
def test_equals_naive_on_every_supported_op(method, tile):
    model = problems.conv_zoo()
    x = problems.images()
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    got = compute_kernel(model, x, KernelConfig(method=method, tile=tile))
    if method == "pseudo":
        # Reference pseudo-NTK from the full kernel: <sum_a g_ia, sum_b g_jb> / C.
        want = ref.k_train_train.sum((2, 3)) / ref.classes
        torch.testing.assert_close(got.k_train_train, want, rtol=1e-10, atol=1e-12)
    else:
        torch.testing.assert_close(got.k_train_train, ref.k_train_train, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got.f0, ref.f0, rtol=1e-12, atol=1e-12)


def test_exact_streams_columns_under_a_small_budget():
    model = problems.conv_zoo()
    x = problems.images()
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    d = ref.num_params
    # Room for the Gram, two samples of autograd state and about a tenth of the columns of J at a time.
    from trainless.kernel._compute import activation_mib_per_sample

    n, c = x.shape[0], 3
    act = activation_mib_per_sample(model, x[:1])
    budget = ((n * c) ** 2 * 8 + (n + 2) * c * 8 * (d // 10)) / 2**20 + 2 * act
    got = compute_kernel(model, x, KernelConfig(method="exact", tile=2, max_memory_mib=budget))
    assert got.column_groups >= 4  # streamed in several column groups
    torch.testing.assert_close(got.k_train_train, ref.k_train_train, rtol=1e-10, atol=1e-12)


def test_parameter_subset_kernel_is_the_restricted_sum():
    model = problems.conv_zoo()
    x = problems.images()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(("head.", "ln.")))
    got = compute_kernel(model, x, KernelConfig(method="exact"))
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    assert got.num_params == 6 * 3 + 3 + 6 + 6
    torch.testing.assert_close(got.k_train_train, ref.k_train_train, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["countsketch", "achlioptas", "gaussian"])
def test_projection_is_unbiased_and_error_shrinks_like_inverse_sqrt_dim(method):
    model = problems.conv_zoo()
    x = problems.images(n=5)
    exact = compute_kernel(model, x, KernelConfig(method="exact"))
    errors = {}
    # D' well below D (783 parameters), where the 1/sqrt(D') law holds for every sketch.
    for dim in (8, 128):
        errs = [
            relative_frobenius_error(
                compute_kernel(model, x, KernelConfig(method=method, dim=dim, seed=s, factor=False)), exact
            )
            for s in range(8)
        ]
        errors[dim] = math.sqrt(sum(e * e for e in errs) / len(errs))
    # 16x the dimension: error / 4 in expectation; allow the spread of 8 seeds.
    ratio = errors[8] / errors[128]
    assert 2.5 < ratio < 6.5, errors
    # The error has the predicted scale sqrt(tr^2 / ||.||_F^2 / D').
    scale = expected_projection_error(exact, 128)
    assert 0.3 * scale < errors[128] < 2.0 * scale, (errors, scale)
    # Unbiased: the mean of many sketches approaches the exact kernel faster than one sketch does.
    mean = (
        sum(
            compute_kernel(model, x, KernelConfig(method=method, dim=8, seed=s, factor=False)).k_train_train
            for s in range(24)
        )
        / 24
    )
    mean_err = float(torch.linalg.norm(mean - exact.k_train_train) / torch.linalg.norm(exact.k_train_train))
    assert mean_err < 0.5 * errors[8]


def test_projection_same_seed_same_kernel_whatever_the_tile():
    model = problems.conv_zoo()
    x = problems.images()
    a = compute_kernel(model, x, KernelConfig(method="gaussian", dim=32, seed=3, tile=2))
    b = compute_kernel(model, x, KernelConfig(method="gaussian", dim=32, seed=3, tile=7))
    torch.testing.assert_close(a.k_train_train, b.k_train_train, rtol=1e-12, atol=1e-12)


def test_kernel_matrix_layout_is_sample_major():
    model = problems.linear_model(c=2)
    x = torch.randn(3, 6, dtype=torch.float64)
    res = compute_kernel(model, x, KernelConfig(method="naive"))
    j = torch.cat([torch.kron(torch.eye(2, dtype=torch.float64), x[i : i + 1]) for i in range(3)])
    j = torch.cat([j, torch.eye(2, dtype=torch.float64).repeat(3, 1)], dim=1)
    torch.testing.assert_close(res.matrix(), j @ j.T)


def test_jvp_is_j_times_v():
    model = problems.conv_zoo()
    x = problems.images(n=4)
    layout_names = [n for n, _ in model.named_parameters()]
    g = torch.Generator().manual_seed(0)
    v = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in model.named_parameters()}
    # J from the naive loop, v flattened in the same order.
    from trainless.kernel._engine import ParamLayout, naive_rows

    j, _ = naive_rows(model, ParamLayout.of(model), x)
    flat_v = torch.cat([v[n].reshape(-1) for n in layout_names])
    want = (j @ flat_v).reshape(4, 3)
    torch.testing.assert_close(jacobian_vector_product(model, x, v, tile=3), want, rtol=1e-10, atol=1e-12)
    flat_w = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(jacobian_vector_product(model, x), (j @ flat_w).reshape(4, 3), rtol=1e-10, atol=1e-12)


def test_real_efficientnet_head_and_last_block_exact_vs_naive():
    """The real pretrained network (float32) at 32 px: batched hooks agree with the per-sample loop."""
    from trainless import load_dataset, select_trainable

    data = load_dataset("mnist5k", classes=3, per_class=2, seed=0, resolution=32)
    model = load_model("efficientnet-lite0", 3, resolution=32, seed=0)
    select_trainable(model, "last-1")
    ref = compute_kernel(model, data.x, KernelConfig(method="naive"))
    got = compute_kernel(model, data.x, KernelConfig(method="exact", tile=4))
    assert got.num_params == ref.num_params > 400_000
    err = relative_frobenius_error(got, ref)
    assert err < 1e-5, err


def test_all_methods_listed_and_documented():
    assert {m.value for m in KernelMethod} >= {
        "exact",
        "naive",
        "tutorial",
        "pseudo",
        "countsketch",
        "achlioptas",
        "gaussian",
    }
    docs = {m.__doc__ for m in KernelMethod}
    assert len(docs) == len(KernelMethod)  # each member has its own docstring
    for m in KernelMethod:
        assert "Memory" in m.__doc__ or "memory" in m.__doc__ or "stored" in m.__doc__, m
        assert "Cost" in m.__doc__ or "O(" in m.__doc__ or "cheaper" in m.__doc__, m


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_bad_input():
    model = problems.linear_model()
    x = torch.randn(4, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="KernelConfig.dim must be an integer in \\[1, inf\\), got 0"):
        KernelConfig(method="countsketch", dim=0)
    with pytest.raises(ValueError, match="KernelConfig.method must be one of"):
        KernelConfig(method="magic")
    frozen = problems.linear_model()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(TrainlessError, match="no trainable parameters"):
        compute_kernel(frozen, x)
    with pytest.raises(TrainlessError, match="below one sample's Jacobian row"):
        compute_kernel(
            problems.conv_zoo(), problems.images(), KernelConfig(method="countsketch", dim=8, max_memory_mib=0.01)
        )
    with pytest.raises(TrainlessError, match="cannot hold the 12 x 12 Gram matrix"):
        compute_kernel(model, x, KernelConfig(method="exact", max_memory_mib=1e-4))
    with pytest.raises(TrainlessError, match="the model has C = 0 outputs"):
        compute_kernel(nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 0)).double().eval(), x)
    with pytest.raises(TrainlessError, match=r"must output \(N, C\) logits, got shape \(1, 3, 1\)"):
        compute_kernel(nn.Sequential(nn.Linear(6, 3), nn.Unflatten(1, (3, 1))).double().eval(), x)
    with pytest.raises(TrainlessError, match="training mode"):
        compute_kernel(nn.Linear(6, 3).double(), x)
    with pytest.raises(TrainlessError, match=r"x must have shape \(N, ...\)"):
        compute_kernel(model, torch.zeros(0, 6, dtype=torch.float64))
    with pytest.raises(TrainlessError, match="NaN or inf"):
        compute_kernel(model, torch.full((2, 6), float("nan"), dtype=torch.float64))
    poisoned = problems.linear_model()
    with torch.no_grad():
        poisoned.bias[1] = float("inf")
    with pytest.raises(TrainlessError, match="parameter 'bias' contains NaN or inf"):
        compute_kernel(poisoned, x)
    with pytest.raises(TrainlessError, match=r"v\['weight'\] must have shape \(3, 6\)"):
        jacobian_vector_product(model, x, {"weight": torch.zeros(2)})


class OtherOps(nn.Module):
    """Parameters used by ops the hooks form no per-sample gradient for (group_norm, prelu, attention, an
    elementwise scale), and a linear weight used by a hooked op and an unhooked one."""

    def __init__(self, c: int = 3, item: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gn = nn.GroupNorm(2, 8)
        self.act = nn.PReLU()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.tok = nn.Linear(8, 8)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 8))
        self.head = nn.Linear(8, c)
        self.item = item

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.gn(self.conv(x)))
        t = h.flatten(2).transpose(1, 2)
        t = t + self.attn(t, t, t)[0]
        t = torch.tanh(self.tok(t)) + 0.1 * torch.tanh(t @ self.tok.weight.T)  # tok.weight: hooked and not
        if self.item and float(t.abs().max().item()) > 1e9:  # .item() defeats vmap: the loop fallback runs
            t = t * 0
        return self.head(t.mean(1) * self.scale)


def _other_ops(item: bool = False) -> nn.Module:
    torch.manual_seed(0)
    return OtherOps(item=item).double().eval()


@pytest.mark.parametrize("item", [False, True], ids=["vmap", "loop"])
def test_parameters_of_other_ops_come_from_torch_func(item):
    model = _other_ops(item)
    x = problems.images(n=5)
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    for config in (KernelConfig(method="exact", tile=2), KernelConfig(method="exact", max_memory_mib=0.25, tile=2)):
        got = compute_kernel(model, x, config)
        assert relative_frobenius_error(got, ref) < 1e-10, config
    assert got.column_groups > 1  # the fallback's columns split across groups too
    # Structured with nothing cut projects nothing: exact again, the fallback's weights through write().
    full = compute_kernel(model, x, KernelConfig(method="structured", dim=10**6))
    assert relative_frobenius_error(full, ref) < 1e-10
    # Pseudo: the gradient of sum_c f_c / sqrt(C), from the same fallback.
    j, _ = naive_rows(model, ParamLayout.of(model), x)
    g = j.view(5, 3, -1).sum(1) / math.sqrt(3)
    pseudo = compute_kernel(model, x, KernelConfig(method="pseudo"))
    torch.testing.assert_close(pseudo.k_train_train, g @ g.T, rtol=1e-9, atol=1e-12)
    # A projection of the fallback's columns: unbiased, the mean of sketches nearer than one.
    runs = [compute_kernel(model, x, KernelConfig(method="countsketch", dim=64, seed=s)) for s in range(24)]
    one = math.sqrt(sum(relative_frobenius_error(r, ref) ** 2 for r in runs) / len(runs))
    mean = sum(r.k_train_train for r in runs) / len(runs)
    mean_err = float(torch.linalg.norm(mean - ref.k_train_train) / torch.linalg.norm(ref.k_train_train))
    assert mean_err < 0.5 * one, (mean_err, one)


class _Square(torch.autograd.Function):
    """s * s as a custom autograd.Function: the function mode does not see inside it."""

    @staticmethod
    def forward(ctx, s):
        ctx.save_for_backward(s)
        return s * s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return 2 * s * g


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3).double()
        self.s = nn.Parameter(torch.linspace(1.0, 2.0, 3, dtype=torch.float64))

    def forward(self, x):
        return self.lin(x) * _Square.apply(self.s)


def test_parameter_inside_a_custom_function_is_not_dropped():
    # Once its columns were silently zero (19% off); now autograd reports the dependence and the fallback forms it.
    x = torch.randn(4, 6, dtype=torch.float64)
    torch.manual_seed(0)
    model = _Gated().eval()
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    assert relative_frobenius_error(compute_kernel(model, x, KernelConfig(method="exact", tile=2)), ref) < 1e-12


class _Queried(nn.Module):
    """A learned query used as a weight (F.linear(x, query)) and as the input of a linear layer whose output every
    sample shares: the hooks' per-sample formulas hold for neither use."""

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(3, 6, dtype=torch.float64))
        self.lin = nn.Linear(6, 6).double()

    def forward(self, x):
        return torch.nn.functional.linear(x, self.query) + x @ self.lin(self.query).T


def test_ops_whose_input_does_not_carry_the_samples_are_not_hooked():
    # Once 90% off (relative Frobenius): lin's weight gradient was formed as if the query's rows were samples.
    torch.manual_seed(0)
    model = _Queried().eval()
    x = torch.randn(5, 6, dtype=torch.float64)
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    for config in (KernelConfig(method="exact", tile=3), KernelConfig(method="structured", dim=10**6)):
        assert relative_frobenius_error(compute_kernel(model, x, config), ref) < 1e-12, config


def test_a_model_that_mixes_the_samples_is_refused_before_any_kernel():
    class Centred(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3).double()

        def forward(self, x):
            return self.lin(x - x.mean(0, keepdim=True))  # a batch statistic in eval mode

    x = torch.randn(4, 6, dtype=torch.float64)
    with pytest.raises(TrainlessError, match="depends on the other samples of its batch: f.x_0. computed alone"):
        compute_kernel(Centred().eval(), x)
    # one sample cannot be mixed with another; a per-sample model passes
    compute_kernel(Centred().eval(), x[:1])
    compute_kernel(problems.linear_model(), torch.randn(4, 6, dtype=torch.float64))


class _TwiceUsed(nn.Module):
    """lin.weight through the hooked linear and, unseen, inside a custom autograd.Function: the hooks form only the
    first use's per-sample gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3).double()

    def forward(self, x):
        return self.lin(x) * _Square.apply(self.lin.weight).sum(1)


def test_rows_that_do_not_add_up_to_autograds_gradient_are_refused(monkeypatch):
    import trainless.kernel._engine as engine

    torch.manual_seed(0)
    x = torch.randn(4, 6, dtype=torch.float64)
    with pytest.raises(TrainlessError, match="per-sample gradients of parameter 'lin.weight' do not add up"):
        compute_kernel(_TwiceUsed().eval(), x, KernelConfig(method="exact"))
    for method in ("countsketch", "structured", "pseudo"):
        with pytest.raises(TrainlessError, match="do not add up"):
            compute_kernel(_TwiceUsed().eval(), x, KernelConfig(method=method, dim=4))
    assert compute_kernel(_TwiceUsed().eval(), x, KernelConfig(method="naive")).k_train_train.shape == (4, 4, 3, 3)
    # A module is checked on its first kernel only: its ops do not change between kernels.
    calls = []
    real = engine._verify_rows
    monkeypatch.setattr(engine, "_verify_rows", lambda *a: calls.append(1) or real(*a))
    model = problems.conv_zoo()
    for _ in range(3):
        compute_kernel(model, problems.images(n=5), KernelConfig(method="exact", tile=2))
    assert len(calls) == 1


@pytest.mark.filterwarnings("ignore:.*reduce_op.*:FutureWarning")  # gc.get_objects meets torch.distributed's alias
def test_a_kernel_leaves_no_activations_behind_for_the_cyclic_collector():
    # The capture once kept every tensor derived from the samples, which reach the output hooks, which reach the
    # capture: a cycle only the cyclic collector frees (4 GB a kernel on EfficientNet-Lite0 at N = 150); the
    # activation probe's saved-tensor hooks made another (one sample's activations a kernel). With the collector
    # off, refcounting alone must free every tensor of a kernel's passes.
    import gc

    model, x = problems.conv_zoo(), problems.images(n=6)
    compute_kernel(model, x, KernelConfig(method="exact", tile=3))  # the first kernel also checks itself

    def live() -> dict[int, torch.Tensor]:
        return {id(o): o for o in gc.get_objects() if isinstance(o, torch.Tensor)}

    gc.collect()
    gc.disable()
    try:
        before = live()
        for _ in range(3):
            compute_kernel(model, x, KernelConfig(method="exact", tile=3))
        left = [t for i, t in live().items() if i not in before]
    finally:
        gc.enable()
    assert not left, [tuple(t.shape) for t in left]


def test_structured_projection_exact_when_nothing_is_cut_and_unbiased_otherwise():
    model = problems.conv_zoo()
    x = problems.images(n=5)
    exact = compute_kernel(model, x, KernelConfig(method="exact"))
    # A share larger than every weight: every factor is the identity, the kernel is exact.
    full = compute_kernel(model, x, KernelConfig(method="structured", dim=10**6))
    assert full.dim == exact.num_params
    torch.testing.assert_close(full.k_train_train, exact.k_train_train, rtol=1e-10, atol=1e-12)
    errs = {}
    for dim in (40, 400):
        runs = [compute_kernel(model, x, KernelConfig(method="structured", dim=dim, seed=s)) for s in range(12)]
        errs[dim] = math.sqrt(sum(relative_frobenius_error(r, exact) ** 2 for r in runs) / len(runs))
    assert errs[400] < 0.5 * errs[40], errs
    # Unbiased: the mean of 48 sketches is about 1/sqrt(48) = 0.14 as far from the exact kernel as one is.
    runs = [compute_kernel(model, x, KernelConfig(method="structured", dim=40, seed=s)) for s in range(48)]
    one = math.sqrt(sum(relative_frobenius_error(r, exact) ** 2 for r in runs) / len(runs))
    mean = sum(r.k_train_train for r in runs) / len(runs)
    mean_err = float(torch.linalg.norm(mean - exact.k_train_train) / torch.linalg.norm(exact.k_train_train))
    assert mean_err < 0.35 * one, (mean_err, one)


def test_factored_layers_give_the_exact_kernel(monkeypatch):
    """Every eligible weight (dense convs incl. strided 3x3 with padding and strided 1x1, linear on tokens,
    the head) computed from its factors: still equal to the naive loop."""
    import trainless.kernel._factored as fac

    model = problems.conv_zoo()
    x = problems.images()
    ref = compute_kernel(model, x, KernelConfig(method="naive"))
    monkeypatch.setattr(fac, "worth_factoring", lambda s, c: True)
    shapes = fac.plan_factors(model, {id(p): n for n, p in model.named_parameters()}, x[:1], 3)
    assert set(shapes) == {"conv1.weight", "pw.weight", "tok.weight", "head.weight"}
    for tile in (2, 7):
        got = compute_kernel(model, x, KernelConfig(method="exact", tile=tile))
        torch.testing.assert_close(got.k_train_train, ref.k_train_train, rtol=1e-10, atol=1e-12)
    unfactored = compute_kernel(model, x, KernelConfig(method="exact", factor=False))
    torch.testing.assert_close(unfactored.k_train_train, ref.k_train_train, rtol=1e-10, atol=1e-12)
    # Projected methods project only the unfactored columns: still unbiased, and no worse.
    for method in ("countsketch", "gaussian"):
        runs = [compute_kernel(model, x, KernelConfig(method=method, dim=16, seed=s, tile=3)) for s in range(24)]
        one = math.sqrt(sum(relative_frobenius_error(r, ref) ** 2 for r in runs) / len(runs))
        plain = [compute_kernel(model, x, KernelConfig(method=method, dim=16, seed=s, factor=False)) for s in range(24)]
        one_plain = math.sqrt(sum(relative_frobenius_error(r, ref) ** 2 for r in plain) / len(plain))
        mean = sum(r.k_train_train for r in runs) / len(runs)
        mean_err = float(torch.linalg.norm(mean - ref.k_train_train) / torch.linalg.norm(ref.k_train_train))
        assert mean_err < 0.4 * one and one < one_plain, (method, mean_err, one, one_plain)
    pseudo = compute_kernel(model, x, KernelConfig(method="pseudo", tile=3))
    torch.testing.assert_close(pseudo.k_train_train, ref.k_train_train.sum((2, 3)) / 3, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("size", "stride", "k"), [(2, 1, 5), (1, 1, 3), (4, 2, 3), (8, 1, 3)])
def test_depthwise_per_sample_paths_agree_with_autograd(size, stride, k):
    """Both depthwise routes (few output positions: patches x gradients; else grouped conv backward)."""
    from trainless.kernel._persample import _conv2d_weight_per_sample

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, size, size, generator=g, dtype=torch.float64)
    w = torch.randn(6, 1, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    pad = k // 2
    out = torch.nn.functional.conv2d(x, w, stride=stride, padding=pad, groups=6)
    go = torch.randn(out.shape, generator=g, dtype=torch.float64)
    want = torch.stack(
        [
            torch.autograd.grad(
                (
                    torch.nn.functional.conv2d(x[i : i + 1], w, stride=stride, padding=pad, groups=6) * go[i : i + 1]
                ).sum(),
                w,
            )[0]
            for i in range(3)
        ]
    )
    got = _conv2d_weight_per_sample(x, go, (6, 1, k, k), (stride, stride), (pad, pad), (1, 1), 6)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
