"""Real fine-tuning: the ground truth for every prediction."""

from ._config import FinetuneConfig
from ._loop import check_problem, check_test_data, evaluate, finetune, learning_rates, make_optimizer, make_scheduler
from ._problem import load_model_and_data
from ._record import RunRecord, RunStatus, load_record

__all__ = [
    "FinetuneConfig",
    "RunRecord",
    "RunStatus",
    "check_problem",
    "check_test_data",
    "evaluate",
    "finetune",
    "learning_rates",
    "load_model_and_data",
    "load_record",
    "make_optimizer",
    "make_scheduler",
]
