"""trainless: predict how fine-tuning a pretrained network will go, without training it.

Public API (everything else is private and may change):

- models: :func:`load_model`, :func:`from_module`, :func:`select_trainable`, :class:`HeadStart`, :func:`list_models`
- data: :func:`load_dataset`, :func:`load_test_split`, :func:`from_tensors`, :func:`batch_schedule`,
  :func:`list_datasets`
- real fine-tuning: :class:`FinetuneConfig`, :func:`finetune`, :class:`RunRecord`, :func:`load_record`
- kernel: :func:`compute_kernel`, :class:`KernelConfig`, :class:`KernelMethod`, :class:`KernelResult`,
  :func:`jacobian_vector_product`
- dynamics: :func:`simulate`, :class:`Engine`, :class:`SGDSchedule`, :class:`Trajectory`, :func:`epsilon_times`
- prediction: :func:`predict`, :class:`PredictConfig`, :class:`Prediction`, :func:`load_prediction`,
  :func:`auto_kernel_updates`, :func:`predict_closed_loop` (k real steps, then the rest predicted)
- larger datasets (App. D): :func:`extrapolate`, :class:`Extrapolation`
- linearized networks (Lee et al.): :func:`linearize`, :class:`LinearizedModel` (more in ``trainless.theory``)
- losses: :class:`Loss`; errors: :class:`TrainlessError`, :class:`ConfigError`
"""

from ._losses import Loss
from .data import ImageData, batch_schedule, from_tensors, list_datasets, load_dataset, load_test_split
from .dynamics import Engine, SGDSchedule, Trajectory, epsilon_times, simulate
from .errors import ConfigError, TrainlessError
from .extrapolate import Extrapolation, extrapolate
from .finetune import FinetuneConfig, RunRecord, RunStatus, finetune, load_record
from .kernel import KernelConfig, KernelMethod, KernelResult, compute_kernel, jacobian_vector_product
from .models import HeadStart, LoadedModel, from_module, list_models, load_model, select_trainable
from .predict import PredictConfig, Prediction, auto_kernel_updates, load_prediction, predict, predict_closed_loop
from .theory import LinearizedModel, linearize

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Engine",
    "Extrapolation",
    "FinetuneConfig",
    "HeadStart",
    "ImageData",
    "KernelConfig",
    "KernelMethod",
    "KernelResult",
    "LinearizedModel",
    "LoadedModel",
    "Loss",
    "PredictConfig",
    "Prediction",
    "RunRecord",
    "RunStatus",
    "SGDSchedule",
    "TrainlessError",
    "Trajectory",
    "__version__",
    "auto_kernel_updates",
    "batch_schedule",
    "compute_kernel",
    "epsilon_times",
    "extrapolate",
    "finetune",
    "from_module",
    "from_tensors",
    "jacobian_vector_product",
    "linearize",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_model",
    "load_prediction",
    "load_record",
    "load_test_split",
    "predict",
    "predict_closed_loop",
    "select_trainable",
    "simulate",
]
