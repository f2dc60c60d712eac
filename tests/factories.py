"""User factories for tests, named as ``factories:NAME`` (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def mlp(num_classes: int) -> nn.Module:
    """A small MLP on 3x8x8 inputs whose last layer is the C-way head."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.Tanh(), nn.Linear(16, num_classes))


def not_a_module(num_classes: int) -> str:
    return "not a module"


def frozen_mlp(num_classes: int) -> nn.Module:
    m = mlp(num_classes)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def raises(num_classes: int) -> nn.Module:
    raise RuntimeError("factory failed on purpose")


def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs as 3x8x8 'images', 20 per class."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 3, 8, 8)).astype(np.float32) + y[:, None, None, None]
    return x, y


def blobs_dataset() -> torch.utils.data.Dataset:
    x, y = blobs()
    return torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def blobs_with_nan() -> tuple[np.ndarray, np.ndarray]:
    x, y = blobs()
    x[3, 0, 0, 0] = np.nan
    return x, y


def wrong_type() -> int:
    return 3


def linear16(num_classes: int) -> nn.Module:
    """A linear model on 3x16x16 inputs: its linearization is itself, so predictions must be exact."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, num_classes))
