"""Theory the predictor rests on: linearized networks (Lee et al. 2019), and later the a priori bound
(Golikov) and the early-time linear models (Hu et al.)."""

from .linearized import (
    GPPrediction,
    GradientFlow,
    LinearityDiagnostics,
    LinearityProbe,
    LinearizedModel,
    diagnose_run,
    gradient_flow_mse,
    head_nngp,
    head_nngp_closed_form,
    linearize,
    nngp_ensemble,
    ntk_gp,
    ntk_mlp,
)

__all__ = [
    "GPPrediction",
    "GradientFlow",
    "LinearityDiagnostics",
    "LinearityProbe",
    "LinearizedModel",
    "diagnose_run",
    "gradient_flow_mse",
    "head_nngp",
    "head_nngp_closed_form",
    "linearize",
    "nngp_ensemble",
    "ntk_gp",
    "ntk_mlp",
]
