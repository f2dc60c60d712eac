"""Predict: Algorithm 1 end to end (f0, the kernel, the linearized dynamics) -> Prediction."""

from ._closed import predict_closed_loop
from ._config import (
    DEFAULT_EPS,
    FLOW_INACTIVE_SHARE,
    REFINE_INACTIVE_SHARE,
    AboveEdge,
    EdgeCapShape,
    MomentumBuffer,
    PredictConfig,
    UpdatePath,
    UpdateShape,
    auto_edge_cap,
    auto_kernel_updates,
    auto_path_stride,
    auto_refine_updates,
    far_from_linearization,
    refined_updates,
    resolve_update_path,
)
from ._endpoint import EndpointCheck, endpoint_check
from ._predict import Linearization, level_times, linearize, predict, predict_from, time_optimizer_step
from ._preserve import preserved
from ._result import LevelTime, Prediction, load_prediction
from ._trust import (
    endpoint_ratio,
    endpoint_threshold,
    largest_edge_ratio,
    trust_flags,
    trust_regime,
    trust_summary,
)

__all__ = [
    "DEFAULT_EPS",
    "FLOW_INACTIVE_SHARE",
    "REFINE_INACTIVE_SHARE",
    "AboveEdge",
    "EdgeCapShape",
    "EndpointCheck",
    "LevelTime",
    "Linearization",
    "MomentumBuffer",
    "PredictConfig",
    "Prediction",
    "UpdatePath",
    "UpdateShape",
    "auto_edge_cap",
    "auto_kernel_updates",
    "auto_path_stride",
    "auto_refine_updates",
    "endpoint_check",
    "endpoint_ratio",
    "endpoint_threshold",
    "far_from_linearization",
    "largest_edge_ratio",
    "level_times",
    "linearize",
    "load_prediction",
    "predict",
    "predict_closed_loop",
    "predict_from",
    "preserved",
    "refined_updates",
    "resolve_update_path",
    "time_optimizer_step",
    "trust_flags",
    "trust_regime",
    "trust_summary",
]
