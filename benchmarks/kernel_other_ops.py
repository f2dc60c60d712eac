"""Kernel engine on networks whose ops the per-sample hooks do not all know: the ``exact`` engine (hooks on linear,
conv2d, batch_norm, layer_norm; every other op's parameters from torch.func's vmap(jacrev), ``_engine.fallback_grads``)
against the two baselines that take any op, ``naive`` (per-sample autograd loop) and ``tutorial`` (vmap(jacrev) of
everything), in one run: wall time (after a warm-up call of each method, since torch.func imports torch._dynamo on
first use, about a second, and ``exact`` checks a module's first kernel against autograd), the ratio to ``naive``,
and the relative Frobenius error against ``naive``.

Two seeded random-init networks (no pretrained weights are needed to time a kernel): a ViT-style transformer
(patch conv, cls token, position embedding, 4 pre-norm TransformerEncoderLayers of width 192, 1.8M parameters, a third
of them in attention, on 32 px inputs, 65 tokens) and a ResNet-style CNN with GroupNorm and PReLU (the norms'
parameters on the fallback, the convolutions on the hooks). 5 outputs, float32, 2 threads.

    .venv/bin/python benchmarks/kernel_other_ops.py [--n 16 48]

Writes benchmarks/results/kernel_other_ops.csv and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from trainless._io import write_text
from trainless.kernel import KernelConfig, compute_kernel, relative_frobenius_error

OUT = Path(__file__).resolve().parent / "results" / "kernel_other_ops.csv"
METHODS = ("exact", "naive", "tutorial")


class ViT(nn.Module):
    def __init__(self, d: int = 192, depth: int = 4, classes: int = 5) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, stride=4)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, 65, d) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d, 3, 4 * d, dropout=0.0, batch_first=True, activation="gelu", norm_first=True)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos
        for block in self.blocks:
            t = block(t)
        return self.head(self.norm(t[:, 0]))


class GroupNormResNet(nn.Module):
    def __init__(self, width: int = 64, classes: int = 5) -> None:
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.GroupNorm(8, c_out), nn.PReLU()
            )

        self.stem = block(3, width, 1)
        self.layers = nn.ModuleList(
            [block(width, width, 1), block(width, 2 * width, 2), block(2 * width, 2 * width, 1)]
        )
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = h + self.layers[0](h)
        h = self.layers[1](h)
        h = h + self.layers[2](h)
        return self.head(h.mean((2, 3)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", nargs="+", type=int, default=[16, 48], help="samples")
    a = ap.parse_args()
    torch.set_num_threads(2)
    rows = []
    for name, build in (("vit-style", ViT), ("groupnorm-resnet", GroupNormResNet)):
        torch.manual_seed(0)
        model = build().eval()
        params = sum(p.numel() for p in model.parameters())
        for n in a.n:
            x = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(n))
            results, seconds, failed = {}, {}, {}
            for method in METHODS:
                config = KernelConfig(method=method, max_memory_mib=8192)
                try:
                    compute_kernel(model, x[:2], config)  # warm-up
                    t = time.perf_counter()
                    results[method] = compute_kernel(model, x, config)
                    seconds[method] = time.perf_counter() - t
                except RuntimeError as exc:  # a baseline without a fallback: torch.func has no rule for an op
                    failed[method] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            for method in METHODS:
                ok = method in results
                row = {
                    "network": name,
                    "params": params,
                    "n": n,
                    "method": method,
                    "seconds": round(seconds[method], 3) if ok else "",
                    "ratio_to_naive": round(seconds[method] / seconds["naive"], 2) if ok else "",
                    "rel_frobenius_vs_naive": (
                        f"{relative_frobenius_error(results[method], results['naive']):.1e}" if ok else ""
                    ),
                    "j_held_mib": round(n * 5 * params * 4 / 2**20) if method != "exact" else 0,
                    "failed": failed.get(method, "").replace(",", ";"),
                }
                rows.append(row)
                what = (
                    f"{row['seconds']:7.2f} s  x{row['ratio_to_naive']:.2f} of naive  error "
                    f"{row['rel_frobenius_vs_naive']}  J held {row['j_held_mib']} MiB"
                    if ok
                    else f"failed ({row['failed']})"
                )
                print(f"{name:17s} D={params:8d} N={n:3d} {method:9s} {what}")
    lines = [",".join(rows[0])] + [",".join(str(v) for v in r.values()) for r in rows]
    write_text(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
