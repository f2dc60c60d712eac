"""Models: pretrained networks with a seeded C-way head, parameter subsets, head starts."""

from ._probe import HeadStart, ProbeResult, penultimate_features, warm_head
from ._registry import (
    LoadedModel,
    ModelInfo,
    check_finite_parameters,
    check_model_name,
    default_resolution,
    from_module,
    list_models,
    load_model,
    select_trainable,
)

__all__ = [
    "HeadStart",
    "LoadedModel",
    "ModelInfo",
    "ProbeResult",
    "check_finite_parameters",
    "check_model_name",
    "default_resolution",
    "from_module",
    "list_models",
    "load_model",
    "penultimate_features",
    "select_trainable",
    "warm_head",
]
