"""Resolve a user factory given as ``"package.module:callable"``."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from .errors import TrainlessError

_FACTORY_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def is_factory_path(text: str) -> bool:
    """True when ``text`` has the form ``package.module:callable``."""
    return _FACTORY_RE.fullmatch(text) is not None


def resolve_factory(path: str, what: str) -> Callable[..., Any]:
    """Import ``package.module:callable`` and return the callable.

    ``what`` names the role ("model factory", "data factory") for the error message.
    """
    if not is_factory_path(path):
        raise TrainlessError(f"{what} {path!r} is not of the form 'package.module:callable'")
    module_name, attr_path = path.split(":", 1)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or an error raised while the module runs
        raise TrainlessError(f"{what} {path!r}: module {module_name!r} does not import: {exc}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise TrainlessError(f"{what} {path!r}: module {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TrainlessError(f"{what} {path!r} is not callable (got {type(obj).__name__})")
    return obj
