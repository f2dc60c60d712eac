"""Theory the predictor rests on: linearized networks (Lee et al. 2019, ``linearized``), the early-time
linear models of a two-layer net (Hu et al. 2020, ``early_time``) and the a priori generalization bound for
nearly-linear networks (Golikov 2024, ``golikov``)."""

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
