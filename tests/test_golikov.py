"""Golikov's a priori bound (Theorem 5.2): special functions, closed forms against the ODEs they solve,
the beta -> 0 limit of eq. (19), and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from trainless.errors import TrainlessError
from trainless.theory.golikov import golikov_bound, s_bar_r, t_star, u_of_t, upper_gamma

BASE = {"L": 2, "d": 49, "m": 4000, "beta": 0.05, "eps": 0.01, "kappa": 2, "rho": 3.0, "gamma": 0.05, "s": 0.8}


@pytest.mark.parametrize("a", [-0.5, -1 / 3, 0.0, 2 / 3, 1.0])
@pytest.mark.parametrize("x", [1e-3, 0.4, 3.0])
def test_upper_incomplete_gamma_against_quadrature(a, x):
    ref, _ = integrate.quad(lambda z: z ** (a - 1) * math.exp(-z), x, math.inf, epsabs=1e-14, epsrel=1e-12)
    assert upper_gamma(a, x) == pytest.approx(ref, rel=1e-9)


def test_upsilon_and_phi_match_their_formulas_and_eps_zero_has_no_deviation():
    b = golikov_bound(**BASE, t=1.0, p=16, delta=0.01)
    assert b.upsilon == pytest.approx(math.sqrt((2 * 16 * 49 * math.log(2) + math.log(100)) / 8000))
    assert b.phi == pytest.approx((2 + 1 + 3.0) * 7 + 2 * (1 + 3.0))
    one = golikov_bound(**{**BASE, "kappa": 1}, t=1.0)
    assert one.phi == pytest.approx(2 * 7 + 1 + 3.0)
    flat = golikov_bound(**{**BASE, "eps": 0.0}, t=1.0)
    assert flat.deviation == 0.0 and flat.gap == flat.upsilon and flat.beta_bar == flat.beta


@pytest.mark.parametrize("L", [2, 3, 4])
def test_u_and_v_solve_their_odes(L):
    """u' = s_bar u^(L-1), u(0) = beta_bar (eq. 38 / 89); v' = v[(1+(L-1)rho) u^(2L-2) + s_bar (L-1) u^(L-2)]
    + (L-1) u^(L-1) [1_bar + rho u^L], v(0) = 0 (eq. 40 / 88): the closed form with w(beta_bar) is its solution,
    the theorem's printed form (w(beta)) lies above it."""
    t = 0.6
    b = golikov_bound(**{**BASE, "L": L, "beta": 0.3}, t=t)
    rho, sb, ob = b.rho, b.s_bar, b.one_bar

    def rhs(_t, y):
        u, v = y
        du = sb * u ** (L - 1)
        dv = v * ((1 + (L - 1) * rho) * u ** (2 * L - 2) + sb * (L - 1) * u ** (L - 2)) + (L - 1) * u ** (L - 1) * (
            ob + rho * u**L
        )
        return [du, dv]

    sol = integrate.solve_ivp(rhs, (0.0, t), [b.beta_bar, 0.0], rtol=1e-11, atol=1e-14)
    u_num, v_num = sol.y[:, -1]
    assert b.u == pytest.approx(u_num, rel=1e-8)
    assert b.v_ode == pytest.approx(v_num, rel=1e-7)
    assert b.v > b.v_ode  # beta_bar > beta here (eps > 0, rho > 1): the printed v is the looser one
    assert b.beta_bar > b.beta


def test_t_star_closed_forms():
    s, beta, alpha = 0.7, 0.05, 0.5
    assert t_star(alpha, beta=beta, s=s, L=2) == pytest.approx(
        math.log(alpha * (s - beta**2) / ((1 - alpha) * beta**2)) / (2 * s)
    )
    for L in (2, 3, 4):
        ref, _ = integrate.quad(
            lambda u, L=L: 1.0 / (u ** (L - 1) * (s - u**L)), beta, (alpha * s) ** (1 / L), epsrel=1e-12
        )
        assert t_star(alpha, beta=beta, s=s, L=L) == pytest.approx(ref, rel=1e-9), L
        # and the linear net's norm reaches (alpha s)^(1/L) then: integrate eq. (95)
        sol = integrate.solve_ivp(
            lambda _t, u, L=L: u ** (L - 1) * (s - u**L),
            (0, t_star(alpha, beta=beta, s=s, L=L)),
            [beta],
            rtol=1e-11,
            atol=1e-14,
        )
        assert float(sol.y[0, -1]) ** L == pytest.approx(alpha * s, rel=1e-6)


def test_deviation_has_the_finite_beta_to_zero_limit_of_eq_19():
    """At t = t*_alpha with alpha = (r/s) beta^2 and gamma = alpha / q (Sec. 5.3, lambda = 2, nu = 1), the
    deviation term tends to 1_bar s s_bar_rho^2 / (2 s_bar_1^3) q r^(s_bar/s - 1) Phi ln(s_bar_rho^2 r^(s_bar/s)
    / s_bar_1^2) eps^kappa (eq. 19, with 1_bar -> 1 and s_bar_r at beta = 0)."""
    s, r, q, eps, rho, d = 0.8, 2.0, 4.0, 0.01, 3.0, 49
    values = []
    for beta in (1e-2, 1e-3, 1e-4):
        alpha = r / s * beta**2
        t = t_star(alpha, beta=beta, s=s)
        values.append(
            golikov_bound(L=2, d=d, m=4000, beta=beta, eps=eps, kappa=2, rho=rho, gamma=alpha / q, s=s, t=t).deviation
        )
    sb = s_bar_r(1.0, L=2, eps=eps, s=s, rho=rho, beta=0.0)
    sr = s_bar_r(rho, L=2, eps=eps, s=s, rho=rho, beta=0.0)
    phi = (2 + 1 + rho) * math.sqrt(d) + 2 * (1 + rho)
    limit = s * sr**2 / (2 * sb**3) * q * r ** (sb / s - 1) * phi * math.log(sr**2 * r ** (sb / s) / sb**2) * eps**2
    assert abs(values[-1] - limit) < abs(values[0] - limit) and values[-1] == pytest.approx(limit, rel=1e-6)


def test_kappa_two_is_tighter_at_small_eps_as_in_figure_1():
    """Fig. 1-2 setting: L = 2, 7x7 inputs (d = 49), eps = 0.001: the kappa = 2 bound is much smaller."""
    common = {**BASE, "eps": 0.001, "beta": 0.01, "gamma": 0.01}
    t = t_star(0.5, beta=0.01, s=0.8)
    one, two = golikov_bound(**{**common, "kappa": 1}, t=t), golikov_bound(**{**common, "kappa": 2}, t=t)
    assert two.deviation < 0.1 * one.deviation
    # ... while at eps = 1 (ReLU) the extra eps does not help and Phi_2 > Phi_1
    relu = {**common, "eps": 1.0}
    assert golikov_bound(**{**relu, "kappa": 2}, t=t).deviation > golikov_bound(**{**relu, "kappa": 1}, t=t).deviation


def test_l3_u_blows_up_in_finite_time():
    assert math.isinf(u_of_t(10.0, L=3, beta_bar=1.0, s_bar=1.0))
    b = golikov_bound(**{**BASE, "L": 3, "beta": 1.0}, t=10.0)
    assert math.isinf(b.deviation) and math.isinf(b.bound)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"eps": 1.5}, "eps must be in [0, 1]"),
        ({"beta": 0.0}, "beta must be > 0"),
        ({"delta": 1.0}, "delta must be in (0, 1)"),
        ({"kappa": 3}, "kappa must be 1 or 2"),
        ({"L": 1}, "L must be an integer >= 2"),
        ({"rho": 0.5}, "rho must be >= 1"),
    ],
)
def test_bad_input_is_named(change, fragment):
    with pytest.raises(TrainlessError) as info:
        golikov_bound(**{**BASE, **change}, t=1.0)
    assert fragment in str(info.value)
    with pytest.raises(TrainlessError, match="alpha must be in"):
        t_star(1e-6, beta=0.1, s=0.5)


def test_cli_bound_json_keys_and_errors(capsys):
    import json

    from trainless.cli import main

    assert main(["bound", "--alpha", "0.5", "--m", "60000", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("upsilon", "deviation", "bound", "t_star"):
        assert key in d, key
    assert d["t_star"] == pytest.approx(t_star(0.5, beta=0.01, s=0.5)) and d["t"] == d["t_star"]
    assert d["bound"] == pytest.approx(d["upsilon"] + d["deviation"])
    assert main(["bound", "--t", "1", "--alpha", "0.5"]) == 2
    assert "exactly one of --t" in capsys.readouterr().err
    assert main(["bound", "--t", "1", "--eps", "2"]) == 2
    assert "eps must be in [0, 1]" in capsys.readouterr().err
    assert main(["bound", "--t", "2"]) == 0
    assert "bound" in capsys.readouterr().out


def test_experiment_quick_run_writes_rows_and_figures(tmp_path, capsys):
    """The Sec. 6 harness end to end on one short setting: real MNIST-5k, whitened, a Leaky ReLU net trained."""
    import json

    from trainless.cli import main

    out = tmp_path / "g"
    assert main(["bound", "--experiment", "--quick", "--lr", "0.05", "--out", str(out), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {(r["kappa"], r["p"]) for r in rows} == {(1, 16), (1, 32), (2, 16), (2, 32)}
    for r in rows:
        assert r["d"] == 49 and r["m"] == 4000 and 0 < r["s"] <= 1 and r["rho"] >= 1
        assert r["bound"] >= r["train_margin_risk"] + r["upsilon"] and 0 <= r["test_risk"] <= 1
    assert min(r["test_risk"] for r in rows) < 0.3  # where the bound is smallest, the net has learned
    for name in ("golikov.csv", "golikov.json", "golikov_bounds.png", "golikov_assumption.png"):
        assert (out / name).stat().st_size > 0


def test_whitening_refuses_rank_deficient_images():
    from trainless.theory.golikov import binary_mnist

    data = binary_mnist(7, n_train=500, n_test=100)
    gram = data.x @ data.x.T / data.m
    assert float((gram - torch.eye(49, dtype=torch.float64)).abs().max()) < 1e-8  # X~ X~^T = m I
    with pytest.raises(TrainlessError, match="not full rank"):
        binary_mnist(28, n_train=500, n_test=100)


def test_rank_one_input_layer_has_rho_one():
    from trainless.theory.golikov import binary_mnist, train_and_bound

    data = binary_mnist(7, n_train=300, n_test=50)
    run = train_and_bound(data, beta=0.1, rank_one_input=True, lr=0.05, t_max=0.5, checkpoints=2, kappas=(2,))
    assert run.rho == 1.0 and len(run.times) == 3


def test_optimistic_bound_app_b(tmp_path, capsys):
    """App. B: eq. (41) for the three proxies; at t = 0 every proxy is the net itself (no deviation), the
    kappa = 2 proxy deviates least once the net moves, and the CLI writes its rows and figure."""
    import json

    from trainless.cli import main
    from trainless.theory.golikov import binary_mnist, continuous_margin_risk, optimistic_bound_run

    y = torch.tensor([1.0, -1.0, 1.0, 1.0])
    assert continuous_margin_risk(y, torch.tensor([-1.0, -2.0, 0.05, 2.0]), 0.1) == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    data = binary_mnist(7, n_train=600, n_test=200)
    run = optimistic_bound_run(data, eps=0.3, beta=0.1, lr=0.05, t_max=6.0, checkpoints=6)
    assert all(run.deviation[p][0] < 1e-12 for p in ("kappa1", "kappa2"))
    assert run.deviation["kappa2"][-1] < run.deviation["kappa1"][-1]
    assert run.train_loss[-1] < run.train_loss[0]
    out = tmp_path / "o"
    argv = ["bound", "--optimistic", "0.3", "--lr", "0.1", "--t-max", "2", "--out", str(out), "--format", "json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["proxy"] for r in rows} == {"kappa1", "kappa2", "linear"}
    assert (out / "golikov_optimistic.png").stat().st_size > 0
