"""Kernel updates under momentum, with the buffer carried through the new Jacobian, on cached bench cases.

For each case file (a `trainless bench` cases/*.json with momentum > 0), only the kernel-updates prediction is
made again, with ``momentum_buffer="exact"`` (``run_case(..., record=cached, only={"discrete+updates"})``: the
case's own update steps, kernel, batch orders and eps grid), and compared with the cached real run exactly as
the bench does. Next to it: the cached kernel-updates prediction of the same case, made with the buffer kept
as J_k B (``momentum_buffer="kept"``, the default, whose code path is unchanged; predictions are deterministic:
a regenerate check reproduced them bit for bit), and the cached frozen-kernel one. Nothing is trained.

    python benchmarks/momentum_carry.py [CASE.json ...]   # default: every momentum case of paper and unseen
"""

from __future__ import annotations

import json
from pathlib import Path

from fidelity_default import (  # the sibling script (benchmarks/ is on sys.path)
    case_arguments,
    comparison_scores,
    repredict_updated,
)

from trainless._io import write_csv
from trainless.bench import UPDATED

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "results" / "momentum_carry.csv"
SUITES = ("bench/results/paper", "bench/results/unseen")


def momentum_cases() -> list[Path]:
    out = []
    for suite in SUITES:
        for path in sorted((ROOT / suite / "cases").glob("*.json")):
            if json.loads(path.read_text(encoding="utf-8"))["case"]["momentum"] > 0:
                out.append(path)
    return out


def main() -> None:
    a = case_arguments(__doc__, OUT, nargs="*")
    rows = []
    for path in a.cases or momentum_cases():
        d = json.loads(path.read_text(encoding="utf-8"))
        case, result, new = repredict_updated(d, {"momentum_buffer": "exact"})
        cached = {c["engine"]: c for c in d["comparisons"]}
        pred = result["predictions"][UPDATED]
        for mode, comp in (
            ("frozen", cached["discrete"]),
            ("updates, J_k B kept", cached[UPDATED]),
            ("updates, carried", new),
        ):
            row = {"case": path.stem, "suite": path.parent.parent.name, "tag": case.tag, "data": case.data}
            row |= {"batch_size": case.batch_size, "momentum": case.momentum, "lr": result["lr"], "mode": mode}
            row |= comparison_scores(comp)
            row |= dict.fromkeys(("carry_seconds", "kernel_seconds", "prediction_seconds", "flags"), "")
            if mode == "updates, carried":
                row["carry_seconds"] = sum(r.get("carry_seconds", 0.0) for r in pred["kernel_path"])
                row["kernel_seconds"] = sum(r["seconds"] for r in pred["kernel_path"])
                row["prediction_seconds"] = pred["seconds"]
                row["flags"] = " ".join(pred["trust"]["flags"])
            rows.append(row)
            print(
                f"{path.stem} {case.tag:6s} {case.data:8s} bs {case.batch_size} {mode:20s} T_eps max "
                f"{row['eps_max']:.0%} median {row['eps_median']:.0%}  levels {row['levels_median']:.0%}  final "
                f"{row['final_loss_pred']:.4f} vs {row['final_loss_real']:.4f} ({row['final_loss_error']:.0%})"
                + (
                    f"  carry {row['carry_seconds']:.1f} s, kernels {row['kernel_seconds']:.1f} s"
                    if mode == "updates, carried"
                    else ""
                ),
                flush=True,
            )
    write_csv(a.out, rows)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
