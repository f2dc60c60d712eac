"""Extrapolate: training on N samples predicted from the kernel of an N0-sample subset (App. D of Zancato et
al. 2020): a power-law spectrum with a slope correction, residual projections with a power-law tail, and the
MSE loss curve they give (cross-entropy by a stated time-warp approximation)."""

from ._extrapolate import (
    DEFAULT_ALPHA,
    DEFAULT_ANCHOR_WINDOW,
    default_k0,
    extrapolate,
    extrapolate_spectrum,
    minimum_subset,
)
from ._result import Extrapolation, SpectralExtrapolation
from ._spectral import (
    ProjectionTail,
    corrected_exponent,
    extrapolated_eigenvalues,
    tail_projections,
    time_warp,
    warp_curve,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_ANCHOR_WINDOW",
    "Extrapolation",
    "ProjectionTail",
    "SpectralExtrapolation",
    "corrected_exponent",
    "default_k0",
    "extrapolate",
    "extrapolate_spectrum",
    "extrapolated_eigenvalues",
    "minimum_subset",
    "tail_projections",
    "time_warp",
    "warp_curve",
]
