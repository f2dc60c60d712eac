"""Held-out (test) points carried along the linearized training: Lee et al. (2019) eq. (10) and (19).

The linearized model at any input x is f_lin_t(x) = f0(x) + grad f0(x) (w_t - w0) (eq. 10). Every engine
that tracks the weights' coordinates has w_t - w0 = J^T alpha_t + c_t w0 (J the training Jacobian), so on
test points f_test_t = f0_test + Theta(X_test, X_train) alpha_t + c_t J_test w0: the test outputs are a
linear image of the training-side state, exact for the linearized model, at O(M N C^2) per step. For MSE
under gradient flow this is eq. (19) (see ``run_closed_form``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import TrainlessError


@dataclass(frozen=True, eq=False)
class HeldOut:
    """The test side of a prediction, float64.

    k_test_train: Theta(X_test, X_train), (M, N, C, C) with [m, n, a, b] = <d f_a(x_m)/dw, d f_b(x_n)/dw>,
        or (M, N) for the pseudo-NTK (standing for Theta_p (x) I_C).
    f0_test: (M, C) the outputs on the test points at w0. y_test: (M,) int64 labels.
    jw0_test: (M, C) J_test w0, needed with weight decay (the c_t w0 term); None otherwise.
    """

    k_test_train: torch.Tensor
    f0_test: torch.Tensor
    y_test: torch.Tensor
    jw0_test: torch.Tensor | None = None

    def __post_init__(self) -> None:
        k = self.k_test_train
        if self.f0_test.ndim != 2:
            raise TrainlessError(f"f0_test must have shape (M, C), got {tuple(self.f0_test.shape)}")
        m, c = self.f0_test.shape
        if k.ndim == 4:
            if k.shape[0] != m or k.shape[2] != c or k.shape[3] != c:
                raise TrainlessError(
                    f"k_test_train must have shape ({m}, N, {c}, {c}) to match f0_test, got {tuple(k.shape)}"
                )
        elif k.ndim != 2 or k.shape[0] != m:
            raise TrainlessError(f"k_test_train must be (M, N, C, C) or (M, N) with M = {m}, got {tuple(k.shape)}")
        if self.y_test.shape != (m,):
            raise TrainlessError(f"y_test must have shape ({m},) to match f0_test, got {tuple(self.y_test.shape)}")
        if m and (int(self.y_test.min()) < 0 or int(self.y_test.max()) >= c):
            raise TrainlessError(
                f"test labels must lie in [0, {c - 1}], got [{int(self.y_test.min())}, {int(self.y_test.max())}]"
            )
        if self.jw0_test is not None and self.jw0_test.shape != (m, c):
            raise TrainlessError(f"jw0_test must have shape ({m}, {c}), got {tuple(self.jw0_test.shape)}")
        for name in ("k_test_train", "f0_test"):
            if not bool(torch.isfinite(getattr(self, name)).all()):
                raise TrainlessError(f"{name} contains NaN or inf")

    @staticmethod
    def of(
        k_test_train: torch.Tensor, f0_test: torch.Tensor, y_test: torch.Tensor, jw0_test: torch.Tensor | None = None
    ) -> HeldOut:
        """Convert to float64 / int64 on the CPU and check the shapes."""
        return HeldOut(
            torch.as_tensor(k_test_train).detach().to(torch.float64).cpu(),
            torch.as_tensor(f0_test).detach().to(torch.float64).cpu(),
            torch.as_tensor(y_test).detach().to(torch.int64).cpu(),
            None if jw0_test is None else torch.as_tensor(jw0_test).detach().to(torch.float64).cpu(),
        )

    @property
    def m(self) -> int:
        return int(self.f0_test.shape[0])

    def check_against(self, n: int, c: int) -> None:
        if self.k_test_train.shape[1] != n or self.f0_test.shape[1] != c:
            raise TrainlessError(
                f"the test kernel {tuple(self.k_test_train.shape)} and f0_test {tuple(self.f0_test.shape)} do not "
                f"match the training side (N = {n}, C = {c})"
            )

    def outputs(self, alpha: torch.Tensor, c: torch.Tensor | float = 0.0) -> torch.Tensor:
        """f_test = f0_test + Theta(X_test, X_train) alpha + c J_test w0 for alpha (..., N, C): (..., M, C)."""
        k = self.k_test_train
        if k.ndim == 2:
            moved = k @ alpha
        else:
            moved = torch.einsum("mnab,...nb->...ma", k, alpha)
        out = self.f0_test + moved
        if self.jw0_test is not None:
            c_t = torch.as_tensor(c, dtype=torch.float64)
            out = out + c_t.reshape(*c_t.shape, 1, 1) * self.jw0_test
        return out
