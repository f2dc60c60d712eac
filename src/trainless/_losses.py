"""The losses every layer shares (DESIGN.md, "Loss").

L(f) = (1/N) sum_i l(f(x_i), y_i), the mean over samples, as torch's default reduction:
- ``ce``: cross-entropy on logits, l = -log softmax(f)_y;
- ``mse``: l = 1/2 ||f - onehot(y)||^2, summed over the C outputs (so NOT torch's MSELoss, which would
  also divide by C).
The real fine-tuning and the predictions use these same functions.
"""

from __future__ import annotations

from enum import Enum

import torch
import torch.nn.functional as F


class Loss(str, Enum):
    """Training loss. Values are the names used in configs and on the command line."""

    CE = "ce"
    """Cross-entropy on logits, mean over samples."""
    MSE = "mse"
    """1/2 squared error to one-hot targets, summed over classes, mean over samples."""


def loss_value(loss: Loss | str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss over samples. logits: (N, C) float; y: (N,) int64 class indices. Returns a 0-d tensor."""
    loss = Loss(loss)
    if loss is Loss.CE:
        return F.cross_entropy(logits, y)
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return 0.5 * (logits - onehot).pow(2).sum(dim=1).mean()


def error_rate(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose arg-max logit is not the label. logits: (N, C); y: (N,)."""
    return float((logits.argmax(dim=1) != y).double().mean())


def loss_grad(loss: Loss | str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients dl(f_i, y_i)/df_i, shape (..., N, C), NOT divided by N.

    ``ce``: softmax(f_i) - onehot(y_i); ``mse``: f_i - onehot(y_i). logits: (..., N, C); y: (N,) int64.
    The mean loss's gradient w.r.t. the stacked outputs is this divided by N.
    """
    loss = Loss(loss)
    onehot = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    if loss is Loss.CE:
        return torch.softmax(logits, dim=-1) - onehot
    return logits - onehot


def loss_hessian(loss: Loss | str, logits: torch.Tensor) -> torch.Tensor:
    """Per-sample curvature of the loss in the logits, d^2 l(f_i, y_i) / df_i^2, shape (..., N, C, C).

    ``ce``: diag(p_i) - p_i p_i^T with p_i = softmax(f_i) (independent of the label; its largest eigenvalue
    is at most 1/2, and 1/C at uniform p); ``mse``: the identity. Not divided by N.
    """
    loss = Loss(loss)
    c = logits.shape[-1]
    if loss is Loss.MSE:
        return torch.eye(c, dtype=logits.dtype, device=logits.device).expand(*logits.shape, c).clone()
    p = torch.softmax(logits, dim=-1)
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)


def batched_loss_and_error(
    loss: Loss | str, logits: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and error rate of each of a batch of output sets. logits: (P, N, C); returns two (P,)."""
    loss = Loss(loss)
    onehot = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    if loss is Loss.CE:
        per = torch.logsumexp(logits, dim=-1) - (logits * onehot).sum(-1)
    else:
        per = 0.5 * (logits - onehot).pow(2).sum(-1)
    err = (logits.argmax(dim=-1) != y).to(logits.dtype).mean(-1)
    return per.mean(-1), err
