"""``trainless early``: how long a two-layer network's training stays predictable by a linear model
(Hu et al. 2020), swept over the input dimension d and the width m."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .._constraints import Interval, OneOf, Pattern, TupleOf, validate
from .._io import ensure_writable_dir, write_json
from ..errors import ConfigError
from ..report import plot_early_curves, plot_early_horizons
from ..theory.early_time import ACTIVATIONS, EarlyTimeRun, mnist_task, run_early_time, synthetic_task
from ._common import add_format_argument, render_json, render_rows


@dataclass(frozen=True)
class EarlyJob:
    """What ``trainless early`` runs. For each d in ``dims`` and m in ``widths``: a two-layer network of
    width m with ``activation`` trained by GD at rate ``lr`` on the ``layers`` (first / second / both), next
    to its linear model, for ceil(horizon_factor x d log d / lr) steps (at most ``max_steps``).

    data: ``synthetic`` (x ~ N(0, I_d), n = n_factor x d training and n / 4 test points, a target half
    linear, half quadratic) or ``mnist5k`` (d = resolution^2 must be a square, 4 <= resolution <= 28;
    4000 / 1000 images, 0-4 vs 5-9). tolerance: the horizon is the first step where the mean squared gap
    on the training points exceeds tolerance x mean(y^2).
    """

    activation: str = "erf"
    data: str = "synthetic"
    dims: tuple[int, ...] = (16, 32, 64, 128)
    widths: tuple[int, ...] = (256,)
    n_factor: float = 20.0
    layers: str = "first"
    lr: float = 2.0
    horizon_factor: float = 3.0
    max_steps: int = 5000
    tolerance: float = 0.01
    seed: int = 0
    out: str = "runs/early"

    _constraints: ClassVar[dict] = {
        "activation": OneOf(ACTIVATIONS),
        "data": OneOf(("synthetic", "mnist5k")),
        "dims": TupleOf(Interval(2, None, integer=True)),
        "widths": TupleOf(Interval(2, None, integer=True)),
        "n_factor": Interval(0, None, low_closed=False),
        "layers": OneOf(("first", "second", "both")),
        "lr": Interval(0, None, low_closed=False),
        "horizon_factor": Interval(0, None, low_closed=False),
        "max_steps": Interval(1, None, integer=True),
        "tolerance": Interval(0, None, low_closed=False),
        "seed": Interval(0, None, integer=True),
        "out": Pattern(r".+", "a directory path"),
    }

    def __post_init__(self) -> None:
        validate(self)
        odd = [m for m in self.widths if m % 2]
        if odd:
            raise ConfigError(f"EarlyJob.widths must be even (symmetric initialization), got {odd}")
        if self.data == "mnist5k":
            bad = [d for d in self.dims if math.isqrt(d) ** 2 != d or not 4 <= math.isqrt(d) <= 28]
            if bad:
                raise ConfigError(
                    f"EarlyJob.dims for mnist5k must be squares of resolutions 4..28 px (e.g. 49 100 196), got {bad}"
                )

    @property
    def rates(self) -> tuple[float, float]:
        return {"first": (self.lr, 0.0), "second": (0.0, self.lr), "both": (self.lr, self.lr)}[self.layers]


@dataclass(frozen=True)
class EarlyReport:
    job: EarlyJob
    runs: tuple[EarlyTimeRun, ...]
    files: tuple[str, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "d": r.d,
                "m": r.m,
                "n": r.n,
                "steps": int(r.steps[-1]),
                "kernel_distance": r.kernel_distance,
                "horizon": r.horizon,
                "horizon_theory": r.horizon_theory,
                "train_gap_final": float(r.train_gap[-1]),
                "test_gap_final": float(r.test_gap[-1]),
                "train_loss_final": float(r.train_loss[-1]),
                "train_loss_lin_final": float(r.train_loss_lin[-1]),
                "weight_distance_final": float(r.weight_distance[-1]),
                "constants": asdict(r.constants),
            }
            for r in self.runs
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"job": asdict(self.job), "runs": self.rows(), "files": list(self.files)}


def run_early(job: EarlyJob) -> EarlyReport:
    """Run the sweep; write early.json, early_curves.png (the largest d, first width) and
    early_horizon.png into ``job.out``."""
    out = ensure_writable_dir(job.out)
    eta1, eta2 = job.rates
    runs = []
    for d in job.dims:
        if job.data == "synthetic":
            n = max(2, round(job.n_factor * d))
            x, y = synthetic_task(n, d, seed=2 * job.seed, task_seed=job.seed)
            xt, yt = synthetic_task(max(2, n // 4), d, seed=2 * job.seed + 1, task_seed=job.seed)
        else:
            x, y, xt, yt = mnist_task(math.isqrt(d), seed=job.seed)
        steps = min(job.max_steps, math.ceil(job.horizon_factor * d * math.log(d) / job.lr))
        for m in job.widths:
            runs.append(
                run_early_time(
                    x,
                    y,
                    xt,
                    yt,
                    m=m,
                    activation=job.activation,
                    eta1=eta1,
                    eta2=eta2,
                    steps=steps,
                    record_every=max(1, steps // 200),
                    tolerance=job.tolerance,
                    seed=job.seed,
                )
            )
    report = EarlyReport(job, tuple(runs), ())
    files = [out / "early.json"]
    write_json(files[0], report.to_dict() | {"files": []})
    largest = max(runs, key=lambda r: (r.d, -job.widths.index(r.m)))
    files.append(plot_early_curves(largest, out / "early_curves.png"))
    files.append(plot_early_horizons(runs, out / "early_horizon.png"))
    return EarlyReport(job, tuple(runs), tuple(str(f) for f in files))


def render_early(report: EarlyReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    job = report.job
    c = report.runs[0].constants
    rows = [
        (
            "setting",
            f"{job.activation} two-layer net on {job.data}, trained: {job.layers} "
            f"layer{'s' if job.layers == 'both' else ''}, lr {job.lr:g}, "
            f"tolerance {job.tolerance:g} x mean y^2",
        ),
        (
            "constants",
            f"zeta {c.zeta:.4g}, nu {c.nu:.4g}, vartheta0 {c.vartheta0:.4g}, vartheta1 {c.vartheta1:.4g}, "
            f"vartheta2 {c.vartheta2:.4g}",
        ),
    ]
    for r in report.rows():
        h = "not left" if r["horizon"] is None else f"{r['horizon']}"
        rows.append(
            (
                f"d={r['d']} m={r['m']} n={r['n']}",
                f"horizon {h} of {r['steps']} steps (d log d / lr = {r['horizon_theory']:.0f}); kernel distance "
                f"at init {r['kernel_distance']:.3f}; final train gap {r['train_gap_final']:.2e}, loss net "
                f"{r['train_loss_final']:.4f} vs linear {r['train_loss_lin_final']:.4f}",
            )
        )
    rows.append(("wrote", ", ".join(report.files)))
    return render_rows(rows)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = EarlyJob()
    p = sub.add_parser(
        "early",
        help="how long a two-layer net's training follows a linear model (Hu et al. 2020)",
        description="Trains a two-layer network (symmetric init) by GD next to the linear model of Hu et al. "
        "(psi_1 for the first layer, psi_2 for the second, both), for each input dimension d and width m, and "
        "reports the agreement horizon, the kernel distance at init and the gaps. Writes early.json, "
        "early_curves.png and early_horizon.png.",
    )
    p.add_argument("--activation", choices=ACTIVATIONS, default=d.activation)
    p.add_argument("--data", choices=("synthetic", "mnist5k"), default=d.data)
    p.add_argument("--dims", type=int, nargs="+", default=list(d.dims), help="input dimensions d")
    p.add_argument("--widths", type=int, nargs="+", default=list(d.widths), help="widths m (even)")
    p.add_argument("--n-factor", type=float, default=d.n_factor, help="synthetic: n = factor x d")
    p.add_argument("--layers", choices=("first", "second", "both"), default=d.layers)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--horizon-factor", type=float, default=d.horizon_factor, help="steps = factor x d log d / lr")
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--tolerance", type=float, default=d.tolerance)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=d.out)
    add_format_argument(p)

    def handler(a: argparse.Namespace) -> str:
        job = EarlyJob(
            activation=a.activation,
            data=a.data,
            dims=tuple(a.dims),
            widths=tuple(a.widths),
            n_factor=a.n_factor,
            layers=a.layers,
            lr=a.lr,
            horizon_factor=a.horizon_factor,
            max_steps=a.max_steps,
            tolerance=a.tolerance,
            seed=a.seed,
            out=a.out,
        )
        return render_early(run_early(job), a.format)

    p.set_defaults(handler=handler)
    return p
