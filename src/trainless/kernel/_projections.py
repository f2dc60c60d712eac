"""Random projections P in R^{D x D'} with E[P P^T] = I_D, applied to column ranges of Jacobian rows.

None of them is stored whole: CountSketch keeps one bucket and one sign per parameter (12 bytes each);
the dense ones regenerate P block by block (``BLOCK`` rows of P at a time) from the seed, so the same
seed gives the same P whatever the tiling.
"""

from __future__ import annotations

import math

import torch

BLOCK = 4096


class CountSketch:
    """P[j, h(j)] = s(j), zero elsewhere: h uniform in 0..D'-1, s uniform in {-1, +1}.

    (P P^T)_{jk} = s_j s_k [h_j = h_k], so E[P P^T] = I. Applying it is one index_add_ per row: O(D).
    """

    def __init__(self, d: int, dim: int, seed: int, device: torch.device | str = "cpu") -> None:
        g = torch.Generator().manual_seed(seed)
        self.dim = dim
        self.bucket = torch.randint(0, dim, (d,), generator=g).to(device)
        self.sign = (torch.randint(0, 2, (d,), generator=g) * 2 - 1).to(device)

    def apply(self, rows: torch.Tensor, lo: int, hi: int, out: torch.Tensor) -> None:
        """out (M, D') += rows (M, hi - lo) @ P[lo:hi]."""
        sign = self.sign[lo:hi].to(rows.dtype)
        out.index_add_(1, self.bucket[lo:hi], rows * sign)


class DenseProjection:
    """Gaussian N(0, 1/D') entries, or Achlioptas' sqrt(3/D') * {+1 w.p. 1/6, 0 w.p. 2/3, -1 w.p. 1/6}.

    Each entry has mean 0 and variance 1/D', entries independent, so E[P P^T] = I. Cost O(D D') per row
    (a dense matmul; the Achlioptas zeros are not exploited by the matmul, only by the generator).
    """

    def __init__(self, d: int, dim: int, seed: int, kind: str) -> None:
        if kind not in ("gaussian", "achlioptas"):
            raise ValueError(kind)
        self.d, self.dim, self.seed, self.kind = d, dim, seed, kind

    def block(self, b: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        rows = min(BLOCK, self.d - b * BLOCK)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + b)
        if self.kind == "gaussian":
            p = torch.randn(rows, self.dim, generator=g, dtype=torch.float32) / math.sqrt(self.dim)
        else:
            u = torch.randint(0, 6, (rows, self.dim), generator=g)
            p = ((u == 0).float() - (u == 1).float()) * math.sqrt(3.0 / self.dim)
        return p.to(device=device, dtype=dtype)

    def apply(self, rows: torch.Tensor, lo: int, hi: int, out: torch.Tensor) -> None:
        """out (M, D') += rows (M, hi - lo) @ P[lo:hi], regenerating the blocks of P that [lo, hi) meets."""
        for b in range(lo // BLOCK, (hi - 1) // BLOCK + 1):
            a, z = max(lo, b * BLOCK), min(hi, (b + 1) * BLOCK)
            p = self.block(b, rows.dtype, rows.device)
            out.addmm_(rows[:, a - lo : z - lo], p[a - b * BLOCK : z - b * BLOCK])
