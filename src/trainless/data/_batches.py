"""Minibatch order exactly as torch's DataLoader draws it, so predictions can replay a real run."""

from __future__ import annotations

import torch

from ..errors import TrainlessError


def batch_schedule(
    n: int, batch_size: int | None, steps: int, *, drop_last: bool = False, seed: int = 0
) -> list[torch.Tensor]:
    """The index batches of ``steps`` optimizer steps over ``n`` samples.

    batch_size None (or n, without shuffling concerns) means full-batch GD: every step uses all samples
    in their natural order. Otherwise epochs are shuffled without replacement exactly as
    ``DataLoader(dataset, batch_size, shuffle=True, drop_last=drop_last,
    generator=torch.Generator().manual_seed(seed))`` draws them: one ``torch.randperm(n, generator)`` per
    epoch, cut into consecutive batches, the short last batch dropped if ``drop_last``. The generator is
    advanced as the DataLoader advances it: each epoch's iterator first draws its workers' base seed
    (one int64), and the RandomSampler draws a second, unused permutation when the epoch runs out. A test
    checks the batches against a real DataLoader over several epochs.
    Returns a list of ``steps`` int64 tensors.
    """
    if n < 1:
        raise TrainlessError(f"the dataset is empty (n={n})")
    if steps < 1:
        raise TrainlessError(f"steps must be at least 1, got {steps}")
    if batch_size is None:
        full = torch.arange(n)
        return [full] * steps
    if batch_size < 1 or batch_size > n:
        raise TrainlessError(f"batch_size must be in [1, {n}] (the number of samples), got {batch_size}")
    g = torch.Generator().manual_seed(seed)
    out: list[torch.Tensor] = []
    while len(out) < steps:
        torch.empty((), dtype=torch.int64).random_(generator=g)
        perm = torch.randperm(n, generator=g)
        torch.randperm(n, generator=g)
        for start in range(0, n, batch_size):
            batch = perm[start : start + batch_size]
            if drop_last and batch.numel() < batch_size:
                break
            out.append(batch)
            if len(out) == steps:
                break
    return out
