"""trainless: predict how fine-tuning a pretrained network will go, without training it.

Public API (everything else is private and may change):

- models: :func:`load_model`, :func:`select_trainable`, :class:`HeadStart`, :func:`list_models`
- data: :func:`load_dataset`, :func:`from_tensors`, :func:`batch_schedule`, :func:`list_datasets`
- real fine-tuning: :class:`FinetuneConfig`, :func:`finetune`, :class:`RunRecord`, :func:`load_record`
- kernel: :func:`compute_kernel`, :class:`KernelConfig`, :class:`KernelMethod`, :class:`KernelResult`,
  :func:`jacobian_vector_product`
- losses: :class:`Loss`; errors: :class:`TrainlessError`, :class:`ConfigError`
"""

from ._losses import Loss
from .data import ImageData, batch_schedule, from_tensors, list_datasets, load_dataset
from .errors import ConfigError, TrainlessError
from .finetune import FinetuneConfig, RunRecord, RunStatus, finetune, load_record
from .kernel import KernelConfig, KernelMethod, KernelResult, compute_kernel, jacobian_vector_product
from .models import HeadStart, LoadedModel, list_models, load_model, select_trainable

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "FinetuneConfig",
    "HeadStart",
    "ImageData",
    "KernelConfig",
    "KernelMethod",
    "KernelResult",
    "LoadedModel",
    "Loss",
    "RunRecord",
    "RunStatus",
    "TrainlessError",
    "__version__",
    "batch_schedule",
    "compute_kernel",
    "finetune",
    "from_tensors",
    "jacobian_vector_product",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_model",
    "load_record",
    "select_trainable",
]
