"""Binary MNIST-5k (digits 0-4 vs 5-9), the data both theory experiments (Hu et al., Golikov) run on."""

from __future__ import annotations

import torch

from ..data import load_dataset
from ..errors import TrainlessError


def binary_mnist_split(
    resolution: int, n_train: int, n_test: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All 5000 MNIST-5k images at ``resolution`` px, flattened, float64 in [0, 1] (5000, resolution^2); the
    targets +1 for digits 0-4 and -1 for 5-9 (5000,); and a seeded split into n_train training and n_test test
    indices. The callers centre, scale or whiten with the training indices."""
    if n_train < 1 or n_test < 1 or n_train + n_test > 5000:
        raise TrainlessError(f"n_train + n_test must be at most 5000 (MNIST-5k), got {n_train} + {n_test}")
    data = load_dataset("mnist5k", classes=None, per_class=None, resolution=resolution, normalize=False)
    x = data.x[:, 0].reshape(data.n, -1).to(torch.float64)
    labels = torch.tensor([data.class_labels[int(c)] for c in data.y])
    y = torch.where(labels < 5, 1.0, -1.0).to(torch.float64)
    order = torch.randperm(data.n, generator=torch.Generator().manual_seed(seed))
    return x, y, order[:n_train], order[n_train : n_train + n_test]
