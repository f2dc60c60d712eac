"""Leave the user's model as it was given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def preserved(module: torch.nn.Module) -> Iterator[None]:
    """Restore every parameter's value and requires_grad flag on exit (the user's model is left as given)."""
    saved = [(p, p.detach().clone(), p.requires_grad) for p in module.parameters()]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value, flag in saved:
                p.copy_(value)
                p.requires_grad_(flag)
                p.grad = None
