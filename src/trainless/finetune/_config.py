"""The fine-tuning hyper-parameters, validated at construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .._constraints import Interval, OneOf, TupleOf, validate
from ..errors import ConfigError

_POSITIVE = Interval(0, None, low_closed=False)
_NONNEG = Interval(0, None)
_COUNT = Interval(1, None, integer=True)


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of a fine-tuning run, as torch.optim and torch.optim.lr_scheduler define them.

    Time is counted in optimizer steps.

    lr: base learning rate (> 0).
    steps: number of optimizer steps T (>= 1).
    batch_size: samples per step; None is full-batch GD over the N training samples (natural order).
    drop_last: drop each epoch's short last batch (as DataLoader's drop_last).
    optimizer: ``sgd`` (torch.optim.SGD: buf = m buf + g, w -= lr buf; g includes wd * w) or ``adamw``.
    momentum, nesterov, weight_decay: torch.optim.SGD's (weight_decay is AdamW's decoupled decay there).
    adam_betas, adam_eps: torch.optim.AdamW's.
    loss: ``ce`` (cross-entropy on logits) or ``mse`` (1/2 ||f - onehot||^2 per sample); mean over samples.
    schedule: ``constant``, ``step`` (StepLR(step_size, gamma)) or ``cosine`` (CosineAnnealingLR(T_max=
        steps)); the scheduler steps once per optimizer step.
    step_size, gamma: StepLR's.
    warmup_steps: linear warmup (LinearLR from warmup_start_factor to 1 over warmup_steps steps) before the
        schedule, chained with SequentialLR; 0 for none.
    warmup_start_factor: LinearLR's start_factor.
    eval_stride: the loss and error on the whole training set are recorded every eval_stride steps (1:
        exact at every step) and at the last step.
    eval_batch_size: samples per forward pass when evaluating (memory only; does not change results).
    seed: seeds the minibatch order.
    """

    lr: float = 1e-3
    steps: int = 150
    batch_size: int | None = None
    drop_last: bool = False
    optimizer: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    loss: str = "ce"
    schedule: str = "constant"
    step_size: int = 50
    gamma: float = 0.1
    warmup_steps: int = 0
    warmup_start_factor: float = 0.1
    eval_stride: int = 1
    eval_batch_size: int = 256
    seed: int = 0

    _constraints: ClassVar[dict] = {
        "lr": _POSITIVE,
        "steps": _COUNT,
        "batch_size": Interval(1, None, integer=True, optional=True),
        "drop_last": OneOf((False, True)),
        "optimizer": OneOf(("sgd", "adamw")),
        "momentum": Interval(0, 1, high_closed=False),
        "nesterov": OneOf((False, True)),
        "weight_decay": _NONNEG,
        "adam_betas": TupleOf(Interval(0, 1, high_closed=False), 2),
        "adam_eps": _POSITIVE,
        "loss": OneOf(("ce", "mse")),
        "schedule": OneOf(("constant", "step", "cosine")),
        "step_size": _COUNT,
        "gamma": Interval(0, 1, low_closed=False),
        "warmup_steps": Interval(0, None, integer=True),
        "warmup_start_factor": Interval(0, 1, low_closed=False),
        "eval_stride": _COUNT,
        "eval_batch_size": _COUNT,
        "seed": Interval(0, None, integer=True),
    }

    def __post_init__(self) -> None:
        validate(self)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("FinetuneConfig.nesterov=True needs momentum > 0, got momentum=0.0")
        if self.optimizer == "adamw" and (self.momentum != 0 or self.nesterov):
            raise ConfigError(
                f"FinetuneConfig.momentum={self.momentum} / nesterov={self.nesterov} apply to 'sgd' only; "
                "AdamW takes adam_betas"
            )
        if self.warmup_steps >= self.steps:
            raise ConfigError(f"FinetuneConfig.warmup_steps must be below steps={self.steps}, got {self.warmup_steps}")

    def check_against(self, n: int) -> None:
        """Checks that need the number of training samples ``n``."""
        if self.batch_size is not None and self.batch_size > n:
            raise ConfigError(
                f"FinetuneConfig.batch_size must be in [1, {n}] (the number of training samples), got {self.batch_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneConfig:
        d = dict(d)
        if "adam_betas" in d:
            d["adam_betas"] = tuple(d["adam_betas"])
        return cls(**d)
