"""Theta as a linear map on function-space vectors, and its spectrum (float64)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import TrainlessError


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Eigen-decomposition of Theta, float64, eigenvalues in descending order.

    eigenvalues: (M,) with M = N C. For the pseudo-NTK (Theta_p (x) I_C) each eigenvalue of Theta_p appears
        C times, once per class.
    vectors: (N, M) for the pseudo-NTK (the eigenvector of Theta_p behind each entry, applied to class
        ``classes[k]``), else (N C, M) in sample-major order.
    classes: (M,) int64, the class each pseudo-NTK entry acts on; None for the full kernel.
    """

    eigenvalues: torch.Tensor
    vectors: torch.Tensor
    classes: torch.Tensor | None

    def project(self, r: torch.Tensor) -> torch.Tensor:
        """Coefficients v_k . r of an (N, C) (or (..., N, C)) residual on each eigenvector: (..., M)."""
        if self.classes is None:
            return r.reshape(*r.shape[:-2], -1) @ self.vectors
        # entry k: v_k . r[:, classes[k]]
        per_class = r.transpose(-1, -2) @ self.vectors  # (..., C, M)
        idx = self.classes.expand(*per_class.shape[:-2], 1, -1)
        return per_class.gather(-2, idx).squeeze(-2)

    def combine(self, coeff: torch.Tensor, n: int, c: int) -> torch.Tensor:
        """Inverse of :meth:`project`: sum_k coeff_k v_k as an (N, C) tensor. coeff: (M,)."""
        if self.classes is None:
            return (self.vectors @ coeff).reshape(n, c)
        out = torch.zeros(n, c, dtype=torch.float64)
        out.index_add_(1, self.classes, self.vectors * coeff)
        return out


class KernelOperator:
    """Theta acting on (N, C) function-space vectors: (Theta v)_i = sum_j Theta[i, j] v_j.

    k_train_train: (N, N, C, C) float64 (sample-major blocks) or (N, N) for the pseudo-NTK, which stands for
    Theta_p (x) I_C. Every product costs O(N N_cols C^2) (O(N N_cols C) for the pseudo-NTK), independent of
    the number of parameters.
    """

    def __init__(self, k_train_train: torch.Tensor) -> None:
        k = k_train_train.detach().to(torch.float64).cpu()
        if k.ndim == 4:
            n, n2, c, c2 = k.shape
            if n != n2 or c != c2:
                raise TrainlessError(f"the kernel must have shape (N, N, C, C), got {tuple(k.shape)}")
            self.pseudo = False
            # (N, C, N, C) contiguous, so the (N C, N C) matrix is a free view.
            self._k4 = k.permute(0, 2, 1, 3).contiguous()
            self._mat = self._k4.view(n * c, n * c)
            self.n, self.c = n, c
        elif k.ndim == 2:
            if k.shape[0] != k.shape[1]:
                raise TrainlessError(f"the pseudo-NTK must be square (N, N), got {tuple(k.shape)}")
            self.pseudo = True
            self._mat = k.contiguous()
            self.n, self.c = int(k.shape[0]), None
        else:
            raise TrainlessError(f"the kernel must be (N, N, C, C) or (N, N), got shape {tuple(k.shape)}")
        if not bool(torch.isfinite(self._mat).all()):
            raise TrainlessError("the kernel contains NaN or inf")
        self._spectrum: Spectrum | None = None

    @property
    def matrix(self) -> torch.Tensor:
        """The stored matrix, float64: Theta as (N C, N C) in sample-major order, or Theta_p (N, N) for the
        pseudo-NTK. Do not modify it (the spectrum is cached)."""
        return self._mat

    def check_outputs(self, f: torch.Tensor, what: str) -> None:
        if f.ndim != 2 or f.shape[0] != self.n or (self.c is not None and f.shape[1] != self.c):
            want = f"({self.n}, {'C' if self.c is None else self.c})"
            raise TrainlessError(f"{what} must have shape {want} to match the kernel, got {tuple(f.shape)}")

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Theta v for v of shape (..., N, C); returns the same shape."""
        if self.pseudo:
            return self._mat @ v
        lead = v.shape[:-2]
        flat = v.reshape(*lead, self.n * self._k4.shape[1])
        return (flat @ self._mat.T).reshape(v.shape)

    def matvec_cols(self, cols: torch.Tensor, v_cols: torch.Tensor) -> torch.Tensor:
        """Theta[:, cols] v_cols: the image of a vector supported on the samples ``cols``.

        cols: (B,) int64 sample indices; v_cols: (B, C). Returns (N, C). Cost O(N B C^2).
        """
        if self.pseudo:
            return self._mat[:, cols] @ v_cols
        c = self._k4.shape[1]
        block = self._k4[:, :, cols, :].reshape(self.n * c, cols.numel() * c)
        return (block @ v_cols.reshape(-1)).reshape(self.n, c)

    def quad(self, a: torch.Tensor) -> torch.Tensor:
        """a . Theta a for a of shape (..., N, C): (...,)."""
        return (a * self.matvec(a)).sum(dim=(-1, -2))

    def column_images(self, e: torch.Tensor) -> torch.Tensor:
        """z[i] = Theta[:, i] e_i for every sample i: (N, N, C), z[i, j] the image at sample j. e: (N, C)."""
        if self.pseudo:
            return self._mat.T.unsqueeze(-1) * e.unsqueeze(1)
        # z[i, j, a] = sum_b Theta[j, a, i, b] e[i, b]
        return torch.einsum("jaib,ib->ija", self._k4, e)

    def sharpness(self, hessian: torch.Tensor) -> float:
        """The largest eigenvalue of the linearized loss's Hessian in weight space, (1/N) J^T H J, float64.

        hessian: (N, C, C) per-sample curvature of the loss in the logits (``_losses.loss_hessian``), PSD.
        The nonzero spectrum of (1/N) J^T H J is that of (1/N) H^(1/2) Theta H^(1/2), an (N C)^2 symmetric
        matrix, so this costs one eigvalsh of that size. Full-batch GD with heavy-ball momentum m on the
        quadratic model with this curvature is stable iff lr < 2 (1 + m) / sharpness.
        """
        return self._top_curvature(self._mat, self._hessian_root(hessian))

    def _hessian_root(self, hessian: torch.Tensor) -> torch.Tensor:
        """H^(1/2) per sample, (N, C, C) float64, after checking H's shape against the kernel's."""
        h = hessian.detach().to(torch.float64).cpu()
        n, c = self.n, h.shape[-1]
        if h.shape != (n, c, c) or (self.c is not None and c != self.c):
            raise TrainlessError(f"hessian must have shape ({n}, C, C) to match the kernel, got {tuple(h.shape)}")
        evals, evecs = torch.linalg.eigh(h)
        return evecs @ torch.diag_embed(evals.clamp_min(0.0).sqrt()) @ evecs.transpose(-1, -2)

    def _top_curvature(self, mat: torch.Tensor, root: torch.Tensor) -> float:
        """The largest eigenvalue of (1/N) H^(1/2) Theta H^(1/2) for ``mat`` in this operator's stored layout."""
        n, c = self.n, root.shape[-1]
        if self.pseudo:
            mat = torch.kron(mat, torch.eye(c, dtype=torch.float64))
        blocks = mat.view(n, c, n, c)
        scaled = torch.einsum("iab,ibjd,jde->iaje", root, blocks, root).reshape(n * c, n * c)
        return float(torch.linalg.eigvalsh(scaled)[-1]) / n

    def clipped(self, hessian: torch.Tensor, target: float, rtol: float = 1e-6) -> tuple[KernelOperator, float]:
        """Theta with its eigenvalues clipped at the largest level c whose :meth:`sharpness` is at most ``target``:
        V min(Lambda, c) V^T (float64; the pseudo-NTK's Theta_p clipped, its layout kept), and c. Modes below c are
        left as they are; only the top of the spectrum is lowered (a real network at the edge of stability keeps
        its top Hessian eigenvalue near 2 / lr while the rest evolve; Cohen et al. 2021).

        hessian: (N, C, C) as for :meth:`sharpness`; target > 0, in its units. The sharpness grows with c (a
        larger c gives a larger Theta in the PSD order), so c is found by bisection on [0, lambda_max] to
        ``rtol`` of lambda_max; each trial costs one eigvalsh of size (N C)^2. Returns self and lambda_max when
        the sharpness is already at most ``target``.
        """
        if not target > 0:
            raise TrainlessError(f"target sharpness must be positive, got {target}")
        root = self._hessian_root(hessian)  # once: every trial below shares it
        s = self.spectrum()
        evals, vecs = s.eigenvalues, s.vectors
        if self._top_curvature(self._mat, root) <= target:
            return self, float(evals[0])

        def at(c: float) -> torch.Tensor:
            return (vecs * evals.clamp(max=c)) @ vecs.T  # the stored layout, as the eigenvectors are

        lo, hi = 0.0, float(evals[0])
        while hi - lo > rtol * float(evals[0]):
            mid = 0.5 * (lo + hi)
            if self._top_curvature(at(mid), root) <= target:
                lo = mid
            else:
                hi = mid
        mat = at(lo)
        if self.pseudo:
            return KernelOperator(mat), lo
        return KernelOperator(mat.view(self.n, self.c, self.n, self.c).permute(0, 2, 1, 3)), lo

    def spectrum(self) -> Spectrum:
        """Eigen-decomposition of the stored matrix (Theta, or Theta_p for the pseudo-NTK), float64, by
        torch.linalg.eigh; computed once and cached."""
        if self._spectrum is None:
            evals, evecs = torch.linalg.eigh(self._mat)
            self._spectrum = Spectrum(evals.flip(0), evecs.flip(1), None)
        return self._spectrum

    def spectrum_for(self, c: int) -> Spectrum:
        """The spectrum of the (N C x N C) Theta; for the pseudo-NTK each eigenvalue repeated per class."""
        s = self.spectrum()
        if not self.pseudo:
            return s
        m = s.eigenvalues.numel()
        evals = s.eigenvalues.repeat_interleave(c)
        vectors = s.vectors.repeat_interleave(c, dim=1)
        classes = torch.arange(c).repeat(m)
        return Spectrum(evals, vectors, classes)
