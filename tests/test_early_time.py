"""Early-time linear models (Hu et al. 2020): Gaussian constants, exact cases, kernel concentration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from trainless.errors import TrainlessError
from trainless.theory.early_time import (
    Activation,
    TwoLayerNet,
    constants,
    erf_constants_closed_form,
    linear_kernels,
    piecewise_linear,
    piecewise_linear_constants_closed_form,
    psi1,
    psi2,
    run_early_time,
    synthetic_task,
)


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ("relu", piecewise_linear_constants_closed_form(0.0)),
        ("leaky-relu", piecewise_linear_constants_closed_form(0.1)),
        ("erf", erf_constants_closed_form()),
        ("linear", {"zeta": 1.0, "vartheta0": 0.0, "vartheta1": 0.0, "vartheta2": 0.0}),
    ],
)
def test_constants_match_their_closed_forms(name, exact):
    c = constants(name)
    for key, value in exact.items():
        assert getattr(c, key) == pytest.approx(value, abs=1e-12), key
    assert c.nu == pytest.approx(c.vartheta1, abs=1e-15)  # Tr(Sigma^2)/d = 1


def test_tanh_constants_odd_symmetry_and_zeta_by_adaptive_quadrature():
    c = constants("tanh")
    assert abs(c.vartheta0) < 1e-15 and abs(c.vartheta1) < 1e-15 and abs(c.vartheta2) < 1e-15
    ref, _ = integrate.quad(lambda g: (1 - math.tanh(g) ** 2) * math.exp(-g * g / 2) / math.sqrt(2 * math.pi), -40, 40)
    assert c.zeta == pytest.approx(ref, rel=1e-12)
    # nu carries sqrt(Tr(Sigma^2)/d) of the data
    relu = constants("relu", trace_sigma2_over_d=4.0)
    assert relu.nu == pytest.approx(2.0 / math.sqrt(2 * math.pi), rel=1e-12)


def test_feature_maps_and_linear_kernels():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    c = constants("relu")
    p1, p2 = psi1(x, c), psi2(x, c)
    assert p1.shape == (6, 5) and p2.shape == (6, 6)
    k1, _ = linear_kernels(x, c)
    torch.testing.assert_close(k1, (c.zeta**2 * x @ x.T + c.nu**2) / 4)
    r = x.norm(dim=1) / 2 - 1
    torch.testing.assert_close(p2[:, -1], c.vartheta0 + c.vartheta1 * r + c.vartheta2 * r**2)


def test_linear_activation_network_equals_its_linear_model_exactly():
    """phi(z) = z: the first-layer network is linear in W with NTK X X^T / d = Theta_lin1, and the
    symmetric init starts both at 0: the two GD runs coincide."""
    x, y = synthetic_task(120, 8, seed=0)
    xt, yt = synthetic_task(40, 8, seed=1)
    run = run_early_time(x, y, xt, yt, m=16, activation="linear", eta1=0.5, steps=60, record_every=5)
    assert float(run.train_gap.max()) < 1e-24 and float(run.test_gap.max()) < 1e-24
    assert run.kernel_distance < 1e-12
    assert run.horizon is None
    assert float(run.train_loss[-1]) < 0.9 * float(run.train_loss[0])  # it trained
    torch.testing.assert_close(run.train_loss, run.train_loss_lin, rtol=1e-10, atol=1e-14)


def test_symmetric_init_starts_at_zero_and_the_ntk_formulas_match_autograd():
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    net = TwoLayerNet(5, 12, "erf", seed=3)
    assert float(net(x).detach().abs().max()) < 1e-15
    k1, k2 = net.ntk(x)
    jac = torch.func.jacrev(lambda w, v: torch.func.functional_call(net, {"w": w, "v": v}, (x,)), argnums=(0, 1))(
        net.w.detach(), net.v.detach()
    )
    j1, j2 = jac[0].reshape(7, -1), jac[1].reshape(7, -1)
    torch.testing.assert_close(k1, j1 @ j1.T)
    torch.testing.assert_close(k2, j2 @ j2.T)


def test_first_layer_ntk_approaches_the_linear_kernel_as_d_grows():
    """Proposition (distance kernels): ||Theta_1(W(0)) - Theta_lin1|| <~ n / d^(1+alpha): the relative
    spectral error falls as d, n = 8d and m = 8d grow."""
    c = constants("erf")
    errs = []
    for d in (8, 32, 128):
        x, _ = synthetic_task(8 * d, d, seed=d)
        k1, _ = TwoLayerNet(d, 8 * d, "erf", seed=0).ntk(x)
        lin1, _ = linear_kernels(x, c)
        errs.append(float(torch.linalg.matrix_norm(k1 - lin1, 2) / torch.linalg.matrix_norm(lin1, 2)))
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 0.5 * errs[0], errs


def test_bad_input_is_named():
    x, y = synthetic_task(20, 4)
    with pytest.raises(TrainlessError, match="eta1 must be >= 0"):
        run_early_time(x, y, x, y, eta1=-1.0)
    with pytest.raises(TrainlessError, match="both 0"):
        run_early_time(x, y, x, y, eta1=0.0, eta2=0.0)
    with pytest.raises(TrainlessError, match="even width"):
        TwoLayerNet(4, 7, "relu")
    with pytest.raises(TrainlessError, match="not differentiable at 0"):
        Activation("abs", torch.abs, torch.sign, kink_at_zero=True)
    with pytest.raises(TrainlessError, match="unknown activation 'gelu2'"):
        constants("gelu2")
    xs, ys = synthetic_task(6, 10)
    with pytest.warns(UserWarning, match="n = 6 training points for d = 10"):
        run_early_time(xs, ys, xs, ys, m=4, eta1=0.1, steps=2)
    assert piecewise_linear(0.5).dphi_at_zero == 1.0
    assert np.isfinite(constants(piecewise_linear(0.5)).zeta)


def test_cli_early_parse_run_fields(tmp_path, capsys):
    import json

    from trainless.cli import main

    out = tmp_path / "e"
    argv = ["early", "--dims", "6", "10", "--widths", "8", "16", "--lr", "1", "--out", str(out), "--format", "json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["d"], r["m"]) for r in report["runs"]] == [(6, 8), (6, 16), (10, 8), (10, 16)]
    for r in report["runs"]:
        assert r["n"] == 20 * r["d"] and r["kernel_distance"] > 0 and r["steps"] >= 1
        assert r["horizon_theory"] == pytest.approx(r["d"] * math.log(r["d"]))
    for name in ("early.json", "early_curves.png", "early_horizon.png"):
        assert (out / name).stat().st_size > 0
    assert main(["early", "--widths", "7", "--out", str(tmp_path / "x")]) == 2
    assert "widths must be even" in capsys.readouterr().err
    assert main(["early", "--data", "mnist5k", "--dims", "50", "--out", str(tmp_path / "x")]) == 2
    assert "squares of resolutions" in capsys.readouterr().err
    assert main(["early", "--lr", "0", "--out", str(tmp_path / "x")]) == 2
    assert "EarlyJob.lr" in capsys.readouterr().err
    assert not (tmp_path / "x" / "early.json").exists()
