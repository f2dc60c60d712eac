"""An Enum whose members carry their own docstring (the trade-off or the advice each one states)."""

from __future__ import annotations

from enum import Enum


class DocEnum(str, Enum):
    """A str Enum declared as ``NAME = ("value", "docstring")``; members compare equal to their value."""

    def __new__(cls, value: str, doc: str = "") -> DocEnum:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.__doc__ = doc
        return obj
