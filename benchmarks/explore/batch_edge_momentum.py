"""Exploration: is a minibatch stability edge a better sign than the full-batch one that a momentum run will not train?

For cached momentum-0.9 cross-entropy fresh-head runs (every one past its full-batch edge at w0, every one that
failed below it, and the converged ones below it at 64 px in case-id order up to ``--below``), the kernel Theta_0 is
computed again (exact, float64) and the sharpness of the linearized loss taken per minibatch of the run's first
epoch (``data.batch_schedule``, the real run's batches): S_B = lambda_max((1/|B|) H_B^(1/2) Theta_BB H_B^(1/2)),
H the cross-entropy's curvature in the logits at f0; the ratio lr S / (2 (1 + m)) with S the full batch's (the
prediction's ``edge_ratio``, checked against the cached one), the largest S_B and their mean. Which separates the
runs that failed (``bench._run.run_outcome`` stalled or diverged) from those that converged: the AUC of each.

    python benchmarks/explore/batch_edge_momentum.py bench/results/{longer,unseen,...,unseen55,practice}

Log: benchmarks/results/explore/batch_edge_momentum.txt (2026-12-07).
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from trainless._losses import loss_hessian
from trainless.bench._run import run_outcome
from trainless.data import batch_schedule
from trainless.kernel import compute_kernel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import auc, load_cached_case


def sharpness(theta: torch.Tensor, root: torch.Tensor, idx: torch.Tensor) -> float:
    """lambda_max((1/|B|) H_B^(1/2) Theta_BB H_B^(1/2)) over the samples idx; theta (N, N, C, C), root (N, C, C)."""
    t = theta[idx][:, idx]  # (b, b, C, C)
    r = root[idx]
    m = torch.einsum("iac,ijcd,jdb->iajb", r, t, r)
    b, c = len(idx), theta.shape[-1]
    return float(torch.linalg.eigvalsh(m.reshape(b * c, b * c) / b)[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--below", type=int, default=20, help="converged runs below the edge at 64 px to include")
    a = ap.parse_args()
    chosen, below = [], 0
    for suite in a.suites:
        for path in sorted((suite / "cases").glob("*.json")):
            r = json.loads(path.read_text(encoding="utf-8"))
            c = r["case"]
            if not c["momentum"] or c["loss"] != "ce" or c.get("head_start", "fresh") != "fresh":
                continue
            if not c["batch_size"] or c["batch_size"] >= r["n"]:
                continue
            past, failed = r["predictions"]["discrete"]["edge_ratio"] > 1, run_outcome(r) != "converged"
            if not (past or failed) and (r["resolution"] != 64 or below >= a.below):
                continue
            below += not (past or failed)
            chosen.append((suite.name, path, r))
    rows = []
    for name, path, r in chosen:
        c = r["case"]
        _, _, _, model, data = load_cached_case(r)
        theta = compute_kernel(model, data.x).k_train_train.double()
        with torch.no_grad():
            f0 = model.module(data.x).double()
        h = loss_hessian("ce", f0)
        w, v = torch.linalg.eigh(h)
        root = v @ torch.diag_embed(w.clamp_min(0).sqrt()) @ v.transpose(-1, -2)
        n, bsz, m = r["n"], c["batch_size"], c["momentum"]
        full = sharpness(theta, root, torch.arange(n))
        batches = batch_schedule(n, bsz, math.ceil(n / bsz), seed=c["seed"])
        per = [sharpness(theta, root, b) for b in batches]
        scale = r["lr"] / (2 * (1 + m))
        row = {
            "full": scale * full,
            "batch_max": scale * max(per),
            "batch_mean": scale * float(np.mean(per)),
            "cached": r["predictions"]["discrete"]["edge_ratio"],
            "outcome": run_outcome(r),
        }
        rows.append(row)
        print(
            f"{name:9s} {path.stem[:8]} {c['model'][-5:]} {c['data']:7s} {r['resolution']:3d}px N={n:3d} B={bsz:3d} "
            f"lr={r['lr']:.0e} edge full {row['full']:.2f} (cached {row['cached']:.2f}) batch max "
            f"{row['batch_max']:.2f} mean {row['batch_mean']:.2f} | {row['outcome']}",
            flush=True,
        )
    bad = [x for x in rows if x["outcome"] != "converged"]
    good = [x for x in rows if x["outcome"] == "converged"]
    for key in ("full", "batch_max", "batch_mean"):
        print(
            f"AUC failed > converged, {key:10s}: {auc([x[key] for x in bad], [x[key] for x in good]):.2f} "
            f"({len(bad)} failed, {len(good)} converged)"
        )


if __name__ == "__main__":
    main()
