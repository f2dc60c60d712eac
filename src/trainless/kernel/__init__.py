"""Kernel: the empirical NTK Theta = J J^T of a model on its training set, exact or projected."""

from ._compute import (
    KernelConfig,
    KernelMethod,
    KernelResult,
    compute_kernel,
    expected_projection_error,
    relative_frobenius_error,
)
from ._engine import ParamLayout, jacobian_tile, module_of
from ._jvp import jacobian_vector_product

__all__ = [
    "KernelConfig",
    "KernelMethod",
    "KernelResult",
    "ParamLayout",
    "compute_kernel",
    "expected_projection_error",
    "jacobian_tile",
    "jacobian_vector_product",
    "module_of",
    "relative_frobenius_error",
]
