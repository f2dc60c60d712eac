"""Real fine-tuning: the ground truth for every prediction."""

from ._config import FinetuneConfig
from ._loop import evaluate, finetune, make_optimizer, make_scheduler
from ._record import RunRecord, RunStatus, load_record

__all__ = [
    "FinetuneConfig",
    "RunRecord",
    "RunStatus",
    "evaluate",
    "finetune",
    "load_record",
    "make_optimizer",
    "make_scheduler",
]
