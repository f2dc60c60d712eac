"""Every config field declares a constraint, and a value outside it fails at construction."""

from __future__ import annotations

import dataclasses

import pytest

from trainless import ConfigError, FinetuneConfig, HeadStart
from trainless._constraints import AnyOf, Interval, OneOf, validate
from trainless.cli._finetune import FinetuneJob
from trainless.kernel import KernelConfig
from trainless.predict import PredictConfig


def _all_configs() -> list[type]:
    """Every dataclass in the package that declares ``_constraints`` (so a new config cannot be missed)."""
    import importlib
    import pkgutil

    import trainless

    found = {}
    for info in pkgutil.walk_packages(trainless.__path__, "trainless."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for obj in vars(mod).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and "_constraints" in vars(obj):
                found[obj.__qualname__] = obj
    return [found[k] for k in sorted(found)]


CONFIGS = _all_configs()


def test_the_known_configs_are_found():
    assert {FinetuneConfig, HeadStart, FinetuneJob, KernelConfig} <= set(CONFIGS)


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_field_has_a_constraint(cls):
    names = {f.name for f in dataclasses.fields(cls)}
    assert names == set(cls._constraints), names ^ set(cls._constraints)


@pytest.mark.parametrize("cls", CONFIGS)
def test_defaults_are_valid(cls):
    cls()


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("lr", 0.0, "FinetuneConfig.lr must be a number in (0, inf), got 0.0"),
        ("lr", -1e-3, "got -0.001"),
        ("lr", float("nan"), "got nan"),
        ("steps", 0, "FinetuneConfig.steps must be an integer in [1, inf), got 0"),
        ("steps", 1.5, "got 1.5"),
        ("momentum", 1.0, "FinetuneConfig.momentum must be a number in [0, 1), got 1.0"),
        ("momentum", -0.1, "got -0.1"),
        ("weight_decay", -1e-4, "FinetuneConfig.weight_decay must be a number in [0, inf), got -0.0001"),
        ("batch_size", 0, "FinetuneConfig.batch_size must be an integer in [1, inf) or None, got 0"),
        ("loss", "hinge", "FinetuneConfig.loss must be one of 'ce', 'mse', got 'hinge'"),
        ("nesterov", 1, "FinetuneConfig.nesterov must be one of False, True, got 1"),
        ("adam_betas", (0.9, 1.0), "FinetuneConfig.adam_betas must be a tuple of 2 items"),
        ("eval_stride", 0, "FinetuneConfig.eval_stride"),
    ],
)
def test_finetune_config_rejects(field, value, fragment):
    with pytest.raises(ConfigError) as exc:
        FinetuneConfig(**{field: value})
    assert fragment in str(exc.value)


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="nesterov=True needs momentum > 0"):
        FinetuneConfig(nesterov=True)
    with pytest.raises(ConfigError, match="warmup_steps must be below steps=10, got 10"):
        FinetuneConfig(steps=10, warmup_steps=10)
    with pytest.raises(ConfigError, match=r"batch_size must be in \[1, 60\].*got 61"):
        FinetuneConfig(batch_size=61).check_against(60)


def test_head_start_rejects():
    with pytest.raises(ConfigError, match="HeadStart.kind must be one of 'fresh', 'linear-probe', got 'warm'"):
        HeadStart(kind="warm")
    with pytest.raises(ConfigError, match="HeadStart.probe_lr"):
        HeadStart(probe_lr=0.0)


def test_job_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model 'resnet-9000'"):
        FinetuneJob(model="resnet-9000")
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        FinetuneJob(data="cifar")
    with pytest.raises(ConfigError, match="FinetuneJob.trainable"):
        FinetuneJob(trainable="last-0")


def test_interval_excludes_bools_and_open_ends():
    assert not Interval(0, 1).ok(True)
    assert not Interval(0, 1, low_closed=False).ok(0)
    assert Interval(0, 1, low_closed=False).ok(1)
    assert not OneOf((False, True)).ok(0)


def test_any_of_accepts_a_word_or_a_number_and_names_both():
    c = AnyOf((OneOf(("auto",)), Interval(1, None, integer=True, optional=True)))
    assert c.ok("auto") and c.ok(5) and c.ok(None)
    assert not c.ok(0) and not c.ok("fast") and not c.ok(2.5)
    assert c.describe() == "one of 'auto' or an integer in [1, inf) or None"
    with pytest.raises(ConfigError, match=r"PredictConfig.path_stride must be one of 'auto' or an integer .*got 0"):
        PredictConfig(path_stride=0)


def test_missing_constraint_is_a_programming_error():
    @dataclasses.dataclass
    class Bad:
        a: int = 1
        _constraints = {}  # noqa: RUF012

    with pytest.raises(RuntimeError, match="Bad.a has no declared constraint"):
        validate(Bad())
