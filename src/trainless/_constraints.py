"""Declarative constraints for config dataclasses, checked at construction.

Each config dataclass declares ``_constraints: ClassVar[dict[str, Constraint]]`` with one entry per field;
:func:`validate` checks them all in ``__post_init__`` and raises :class:`~trainless.errors.ConfigError`
naming the class, the field, the allowed range and the value given (scikit-learn's parameter
constraints, in dataclass form).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval:
    """A real or integer interval; ``None`` for an open end at infinity."""

    low: float | None = None
    high: float | None = None
    low_closed: bool = True
    high_closed: bool = True
    integer: bool = False
    optional: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        lo = "-inf" if self.low is None else repr(self.low)
        hi = "inf" if self.high is None else repr(self.high)
        left = "[" if (self.low_closed and self.low is not None) else "("
        right = "]" if (self.high_closed and self.high is not None) else ")"
        text = f"{kind} in {left}{lo}, {hi}{right}"
        return text + (" or None" if self.optional else "")

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if not _is_number(value):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (not self.low_closed and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (not self.high_closed and value == self.high)))


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (strings, booleans)."""

    options: tuple[Any, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def ok(self, value: Any) -> bool:
        # `True == 1` in Python: compare types too so that 1 is not accepted for a bool.
        return any(value == o and type(value) is type(o) for o in self.options)


@dataclass(frozen=True)
class Pattern:
    """A string matching a regular expression (full match); or None when ``optional``."""

    regex: str
    meaning: str
    optional: bool = False

    def describe(self) -> str:
        return self.meaning + (" or None" if self.optional else "")

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.optional
        return isinstance(value, str) and re.fullmatch(self.regex, value) is not None


@dataclass(frozen=True)
class TupleOf:
    """A tuple whose items each satisfy ``item``: of exactly ``length`` items, or of at least one when
    ``length`` is None (of any size, the empty tuple included, when ``may_be_empty``)."""

    item: Interval | OneOf
    length: int | None = None
    may_be_empty: bool = False

    def describe(self) -> str:
        size = ("zero or more" if self.may_be_empty else "one or more") if self.length is None else str(self.length)
        return f"a tuple of {size} items, each {self.item.describe()}"

    def ok(self, value: Any) -> bool:
        if not isinstance(value, tuple):
            return False
        least = 0 if self.may_be_empty else 1
        size_ok = len(value) >= least if self.length is None else len(value) == self.length
        return size_ok and all(self.item.ok(v) for v in value)


@dataclass(frozen=True)
class InstanceOf:
    """An instance of a class (nested configs validate themselves at their own construction)."""

    cls: type
    optional: bool = False

    def describe(self) -> str:
        return f"a {self.cls.__name__}" + (" or None" if self.optional else "")

    def ok(self, value: Any) -> bool:
        return (value is None and self.optional) or isinstance(value, self.cls)


@dataclass(frozen=True)
class AnyOf:
    """A value that satisfies at least one of ``constraints`` (e.g. a word like ``'auto'`` or a number)."""

    constraints: tuple[Interval | OneOf | Pattern | TupleOf | InstanceOf, ...]

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.constraints)

    def ok(self, value: Any) -> bool:
        return any(c.ok(value) for c in self.constraints)


Constraint = Interval | OneOf | Pattern | TupleOf | InstanceOf | AnyOf


def validate(obj: Any) -> None:
    """Check every field of the dataclass ``obj`` against ``type(obj)._constraints``.

    Raises ConfigError for the first field that fails, naming it, the constraint and the value.
    A field without a declared constraint is a programming error (RuntimeError).
    """
    cls = type(obj)
    constraints: dict[str, Constraint] = getattr(cls, "_constraints", {})
    for f in dataclasses.fields(obj):
        if f.name not in constraints:
            raise RuntimeError(f"{cls.__name__}.{f.name} has no declared constraint")
        value = getattr(obj, f.name)
        c = constraints[f.name]
        if not c.ok(value):
            raise ConfigError(f"{cls.__name__}.{f.name} must be {c.describe()}, got {value!r}")


# The fields that name a fine-tuning problem (a model, a seeded class subset of a dataset, what is trained),
# shared by every config that carries them (the CLI's jobs, benchmark cases).
PROBLEM_CONSTRAINTS: dict[str, Any] = {
    "model": Pattern(r".+", "a model name or 'package.module:factory'"),
    "data": Pattern(r".+", "a dataset name or 'package.module:factory'"),
    "classes": Interval(2, None, integer=True),
    "per_class": Interval(1, None, integer=True),
    "resolution": Interval(8, None, integer=True, optional=True),
    "data_seed": Interval(0, None, integer=True),
    "trainable": Pattern(r"all|head|last-[1-9]\d*", "'all', 'head' or 'last-K' with K >= 1"),
}
