"""Linear probing: warm the head on frozen features before fine-tuning (the LP of LP-FT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .._constraints import Interval, OneOf, validate
from .._losses import Loss, loss_value
from ..errors import TrainlessError
from ._registry import LoadedModel


@dataclass(frozen=True)
class HeadStart:
    """How the C-way head starts fine-tuning.

    kind: ``fresh`` (torch default init from the seed; what users do by default) or ``linear-probe``
        (the head alone trained by full-batch GD on the frozen body's features, then full fine-tuning).
    probe_steps: the most GD steps of the probe.
    probe_lr: the probe's learning rate; None takes 1/L, with L the smoothness constant of the probe's loss
        (L = c * lambda_max(Phi1^T Phi1 / N), Phi1 the features with a column of ones, c = 1/2 for
        cross-entropy, whose Hessian in the logits is at most 1/2, and c = 1 for MSE): stable and fast.
    probe_target_loss: stop as soon as the training loss is at or below it (None: run all steps).
    """

    kind: str = "fresh"
    probe_steps: int = 100
    probe_lr: float | None = None
    probe_target_loss: float | None = None

    _constraints: ClassVar[dict] = {
        "kind": OneOf(("fresh", "linear-probe")),
        "probe_steps": Interval(1, None, integer=True),
        "probe_lr": Interval(0, None, low_closed=False, optional=True),
        "probe_target_loss": Interval(0, None, optional=True),
    }

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class ProbeResult:
    """What the linear probe did: steps run, the lr used, the training loss before and after."""

    steps: int
    lr: float
    loss_before: float
    loss_after: float


def penultimate_features(model: LoadedModel, x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """The head's inputs for every sample, (N, F) float, computed in chunks without gradients.

    Checks that the head's output is the model's output (the head is the last operation), since the
    probe trains the head on these features alone.
    """
    head = model.head_module()
    captured: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    outs = []
    try:
        with torch.no_grad():
            for i in range(0, x.shape[0], chunk):
                outs.append(model.module(x[i : i + chunk]))
    finally:
        handle.remove()
    feats = torch.cat([c.flatten(1) for c in captured])
    with torch.no_grad():
        again = head(feats)
    if feats.shape[0] != x.shape[0] or not torch.allclose(again, torch.cat(outs), rtol=1e-4, atol=1e-5):
        raise TrainlessError(
            f"head {model.head!r} of {model.name!r} is not the model's last operation: "
            "linear probing needs output = head(features)"
        )
    return feats


def warm_head(
    model: LoadedModel, x: torch.Tensor, y: torch.Tensor, loss: Loss | str, start: HeadStart
) -> ProbeResult | None:
    """Apply ``start`` to ``model``'s head in place. Returns None for a fresh head.

    x: (N, 3, R, R) float32 images; y: (N,) int64 labels.
    """
    if start.kind == "fresh":
        return None
    feats = penultimate_features(model, x)
    head = model.head_module()
    if start.probe_lr is not None:
        lr = start.probe_lr
    else:
        phi1 = torch.cat([feats.double(), torch.ones(feats.shape[0], 1, dtype=torch.float64)], dim=1)
        lam = float(torch.linalg.eigvalsh(phi1.T @ phi1 / feats.shape[0])[-1])
        lr = 1.0 / ((0.5 if Loss(loss) is Loss.CE else 1.0) * lam)
    # The probe trains the head whatever fine-tuning will train afterwards; restore the flags after.
    flags = [p.requires_grad for p in head.parameters()]
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.SGD(head.parameters(), lr=lr)
    before: float | None = None
    steps = 0
    while True:
        opt.zero_grad(set_to_none=True)
        value = loss_value(loss, head(feats), y)
        current = float(value.detach())
        before = current if before is None else before
        done = start.probe_target_loss is not None and current <= start.probe_target_loss
        if done or steps == start.probe_steps:
            break
        value.backward()
        opt.step()
        steps += 1
    for p, flag in zip(head.parameters(), flags, strict=True):
        p.grad = None
        p.requires_grad_(flag)
    return ProbeResult(steps, lr, before, current)
