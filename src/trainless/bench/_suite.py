"""Benchmark suites: TOML files of cases (a model, a data subset, the hyper-parameters, how to predict)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from .._constraints import PROBLEM_CONSTRAINTS, Interval, OneOf, Pattern, TupleOf, validate
from ..dynamics import Engine
from ..errors import ConfigError, TrainlessError
from ..kernel import KernelMethod
from ..predict import check_update_kernel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_ENGINES = tuple(e.value for e in Engine)


@dataclass(frozen=True)
class Case:
    """One benchmark case: predict, then really fine-tune, the same configuration.

    model, data, classes, per_class, resolution (None: the model's), data_seed, seed, trainable,
    head_start (``fresh`` | ``linear-probe``): as ``trainless finetune``.
    lr: the learning rate; or None with ``lr_edge`` set: lr = lr_edge x 2N / lambda_max(Theta), a fraction of
        the full-batch MSE stability edge measured on the case's own kernel (for cross-entropy the edge is at
        least twice as far, the softmax Hessian being at most 1/2).
    steps, batch_size (0: full batch), momentum, nesterov, weight_decay, loss, schedule: the optimizer.
    drop_last: drop each epoch's short last batch (``FinetuneConfig.drop_last``; minibatch SGD only).
    kernel, kernel_dim: how Theta is computed. engines: the engines compared; the first is the default that
        the summary reports. batch_orders: for minibatch SGD with the discrete engine.
    kernel_updates: when not empty, one more prediction, ``discrete+updates``: the discrete engine with
        Theta computed again at these steps along the predicted path (``PredictConfig.kernel_updates``).
    update_kernel: the method of the updated kernels of ``discrete+updates`` (``PredictConfig.update_kernel``,
        ``kernel_dim`` for the projections; the kernel at w0 stays ``kernel``); "": as ``kernel``, the default.
    kernels: the kernel ablation: one more prediction per method listed, ``discrete@METHOD``: the discrete
        engine on Theta computed by that method (``kernel_dim`` for the projections), its own linearization
        timed, so its cost ratio says what the cheaper kernel saves.
    eps: the epsilon-training-time grid. smooth: trailing moving-average window on the real curves.
    tag: a free label (e.g. ``low`` / ``high`` lr) carried into the results.
    """

    model: str = "efficientnet-lite0"
    data: str = "mnist5k"
    classes: int = 5
    per_class: int = 30
    resolution: int | None = None
    data_seed: int = 0
    seed: int = 0
    trainable: str = "all"
    head_start: str = "fresh"
    lr: float | None = 1e-3
    lr_edge: float | None = None
    steps: int = 150
    batch_size: int = 0
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    loss: str = "ce"
    schedule: str = "constant"
    drop_last: bool = False
    kernel: str = "exact"
    kernel_dim: int = 16384
    engines: tuple[str, ...] = ("discrete",)
    kernel_updates: tuple[int, ...] = ()
    update_kernel: str = ""
    kernels: tuple[str, ...] = ()
    batch_orders: int = 16
    eps: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.4)
    smooth: int = 1
    tag: str = ""

    _constraints: ClassVar[dict] = {
        **PROBLEM_CONSTRAINTS,
        "seed": Interval(0, None, integer=True),
        "head_start": OneOf(("fresh", "linear-probe")),
        "lr": Interval(0, None, low_closed=False, optional=True),
        "lr_edge": Interval(0, None, low_closed=False, optional=True),
        "steps": Interval(1, None, integer=True),
        "batch_size": Interval(0, None, integer=True),
        "momentum": Interval(0, 1, high_closed=False),
        "nesterov": OneOf((False, True)),
        "weight_decay": Interval(0, None),
        "loss": OneOf(("ce", "mse")),
        "schedule": OneOf(("constant", "step", "cosine")),
        "drop_last": OneOf((False, True)),
        "kernel": OneOf(tuple(m.value for m in KernelMethod)),
        "kernel_dim": Interval(1, None, integer=True),
        "engines": TupleOf(OneOf(_ENGINES)),
        "kernel_updates": TupleOf(Interval(1, None, integer=True), may_be_empty=True),
        "update_kernel": OneOf(("", *(m.value for m in KernelMethod))),
        "kernels": TupleOf(OneOf(tuple(m.value for m in KernelMethod)), may_be_empty=True),
        "batch_orders": Interval(1, None, integer=True),
        "eps": TupleOf(Interval(0, 1, low_closed=False, high_closed=False)),
        "smooth": Interval(1, None, integer=True),
        "tag": Pattern(r"[\w.+-]*", "letters, digits, '.', '+', '-' or '_'"),
    }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        """A case from its ``dataclasses.asdict`` form (as a bench result stores it under ``case``)."""
        return _case(d, "case")

    def __post_init__(self) -> None:
        validate(self)
        if (self.lr is None) == (self.lr_edge is None):
            raise ConfigError(f"Case: give exactly one of lr and lr_edge, got lr={self.lr}, lr_edge={self.lr_edge}")
        if self.update_kernel and not self.kernel_updates:
            raise ConfigError(
                f"Case.update_kernel={self.update_kernel!r} is how the updated kernels are computed: give "
                "kernel_updates too"
            )
        if self.update_kernel:
            check_update_kernel(self.kernel, self.update_kernel, "Case")

    @property
    def case_id(self) -> str:
        """A stable id from every field: the cache key of the case's result. (Fields added later enter it
        only when they differ from their default, so earlier results keep their ids.)"""
        d = _id_fields(self)
        for key in ("kernel_updates", "kernels"):
            if not d[key]:
                d.pop(key)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def run_key(self) -> str:
        """An id from the fields that decide the real run (not how it is predicted): cases with the same
        run_key share their real run, so ``bench --repredict`` can reuse it."""
        d = {k: v for k, v in _id_fields(self).items() if k not in _PREDICTION_FIELDS}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def regime(self) -> str:
        return "gd" if self.batch_size == 0 else "sgd"


@dataclass(frozen=True)
class Suite:
    """A named list of cases."""

    name: str
    cases: tuple[Case, ...]


_FIELDS = {f.name for f in fields(Case)}
# lr_edge depends on the kernel (lambda_max), so "kernel" stays in the run key.
_PREDICTION_FIELDS = {"engines", "kernel_updates", "update_kernel", "kernels", "batch_orders", "eps", "smooth", "tag"}

_LATER_FIELDS = {"drop_last": False, "update_kernel": ""}
"""Fields added after results were cached, with their defaults: they enter a case's ids only when set otherwise,
so every cached result keeps its case_id and run_key."""


def _id_fields(case: Case) -> dict[str, Any]:
    return {k: v for k, v in asdict(case).items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


_LIST_FIELDS = ("engines", "eps", "kernel_updates", "kernels")  # list-valued fields: not grid axes


def _case(values: dict[str, Any], where: str) -> Case:
    unknown = set(values) - _FIELDS
    if unknown:
        raise TrainlessError(f"{where}: unknown case field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    v = dict(values)
    for key in _LIST_FIELDS:
        if key in v and isinstance(v[key], list):
            v[key] = tuple(v[key])
    if "lr_edge" in v and "lr" not in v:
        v["lr"] = None
    return Case(**v)


def parse_suite(doc: dict[str, Any], name: str) -> Suite:
    """A suite from its TOML document: ``[defaults]`` for every case, then ``[[grid]]`` blocks whose
    list-valued keys expand as a Cartesian product (``engines``, ``eps``, ``kernel_updates`` and ``kernels``
    are lists themselves and stay whole), and ``[[case]]`` blocks of single cases. Duplicate cases are kept once."""
    defaults = doc.get("defaults", {})
    unknown = set(doc) - {"name", "defaults", "grid", "case", "description"}
    if unknown:
        raise TrainlessError(f"suite {name!r}: unknown section(s) {sorted(unknown)}")
    cases: dict[str, Case] = {}
    for i, block in enumerate(doc.get("grid", [])):
        axes = {k: v for k, v in block.items() if isinstance(v, list) and k not in _LIST_FIELDS}
        fixed = {k: v for k, v in block.items() if k not in axes}
        for combo in itertools.product(*axes.values()) if axes else [()]:
            values = {**defaults, **fixed, **dict(zip(axes, combo, strict=True))}
            c = _case(values, f"suite {name!r} grid {i}")
            cases.setdefault(c.case_id, c)
    for i, block in enumerate(doc.get("case", [])):
        c = _case({**defaults, **block}, f"suite {name!r} case {i}")
        cases.setdefault(c.case_id, c)
    if not cases:
        raise TrainlessError(f"suite {name!r} has no cases: add [[grid]] or [[case]] blocks")
    return Suite(str(doc.get("name", name)), tuple(cases.values()))


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read a suite TOML file (see :func:`parse_suite`). Bad fields raise errors naming the block."""
    p = Path(path)
    if not p.is_file():
        raise TrainlessError(f"suite file {str(p)!r} does not exist")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TrainlessError(f"suite file {str(p)!r} is not valid TOML: {exc}") from None
    return parse_suite(doc, p.stem)
