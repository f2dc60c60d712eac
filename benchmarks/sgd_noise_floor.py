"""How far apart two real SGD runs of the same case are: the floor under any single-curve prediction's error.

The bench scores a prediction against one real run, and an SGD run's curve depends on its minibatch order
(``FinetuneConfig.seed``). For every cached SGD case, the real run is repeated with other seeds (same model,
head, data and config otherwise) and scored, by the bench's metrics, (a) against the cached seed-0 run, as if
it were a prediction of it, and (b) the case's cached predictions (frozen ``discrete``, ``discrete+updates``;
both average 16 batch orders, none of them the real ones) against each seed's run. If (a) is as large as
the predictions' errors, the SGD targets ask for less noise than the real runs have among themselves.

    python benchmarks/sgd_noise_floor.py bench/results/paper bench/results/unseen   # -> results/sgd_noise_floor.csv

--curves DIR keeps each rerun's loss and error curves (DIR/<run key>_seed<k>.json, ``Case.run_key``: the fields
that decide the real run, so a case whose predictions change keeps its reruns) for analyses that need the real
runs themselves (``sgd_expected.py``: the predicted expected curve against the real runs' mean), and skips a
rerun whose curves are already there (resumable; its row is then not in --out).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
from fidelity_default import eps_errors, level_errors, load_cached_case

from trainless._io import write_csv, write_json
from trainless.bench import UPDATED, quantile
from trainless.finetune import finetune
from trainless.models import HeadStart

OUT = Path(__file__).resolve().parent / "results" / "sgd_noise_floor.csv"
CURVES = ("discrete", UPDATED)


def scores(curve, real) -> dict[str, float]:
    eps, lv = eps_errors(np.asarray(curve), np.asarray(real)), level_errors(np.asarray(curve), np.asarray(real))
    return {
        "eps_errors": eps,
        "eps_max": max(eps) if eps else float("nan"),
        "levels_median": statistics.median(lv) if lv else float("nan"),
        "final_loss_error": abs(curve[-1] - real[-1]) / real[-1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path, help="`trainless bench` output directories (with cases/)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="minibatch-order seeds to run again")
    ap.add_argument("--check", action="store_true", help="also rerun seed 0 on the first case (determinism)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--curves", type=Path, default=None, help="keep each rerun's curves here (and skip those kept)")
    a = ap.parse_args()
    rows, pooled = [], {"real": [], **{c: [] for c in CURVES}}
    checked = not a.check
    for suite in a.suites:
        for path in sorted((suite / "cases").glob("*.json")):
            d = json.loads(path.read_text(encoding="utf-8"))
            if not d["case"].get("batch_size"):
                continue
            case, config = load_cached_case(d)[:2]
            real0 = d["record"]["loss"]
            seeds = a.seeds if checked else [0, *a.seeds]
            checked = True
            for seed in seeds:
                kept = None if a.curves is None else a.curves / f"{case.run_key}_seed{seed}.json"
                if kept is not None and kept.is_file():
                    continue
                t0 = time.perf_counter()
                model, data = load_cached_case(d)[3:]  # at w0 again: finetune trains the model in place
                record = finetune(
                    model,
                    data,
                    dataclasses.replace(config, seed=seed),
                    trainable=case.trainable,
                    head_start=HeadStart(case.head_start),
                )
                real = record.loss
                if kept is not None:
                    write_json(
                        kept,
                        {
                            "case": path.stem,
                            "suite": suite.name,
                            "seed": seed,
                            "loss": record.loss,
                            "error": record.error,
                            "batches": record.batches,
                        },
                    )
                row = {
                    "suite": suite.name,
                    "case": path.stem,
                    "tag": case.tag,
                    "batch_size": config.batch_size,
                    "momentum": config.momentum,
                    "seed": seed,
                    "seconds": time.perf_counter() - t0,
                }
                if seed == 0:
                    row["rerun_max_loss_gap"] = float(np.max(np.abs(np.array(real) - np.array(real0))))
                    print(f"{path.stem[:8]} seed 0 again: largest loss gap {row['rerun_max_loss_gap']:.2e}")
                    rows.append(row)
                    continue
                s = scores(real, real0)
                pooled["real"].extend(s["eps_errors"])
                row |= {f"real_vs_seed0_{k}": v for k, v in s.items() if k != "eps_errors"}
                line = f"seed {seed} vs seed 0: T_eps max {s['eps_max']:.0%} loss at T {s['final_loss_error']:.0%}"
                for name in CURVES:
                    p = scores(d["predictions"][name]["loss"], real)
                    pooled[name].extend(p["eps_errors"])
                    row |= {f"{name}_{k}": v for k, v in p.items() if k != "eps_errors"}
                    line += f" | {name} vs seed {seed}: max {p['eps_max']:.0%}"
                rows.append(row)
                print(f"{path.stem[:8]} {case.tag:6s} m={config.momentum} B={config.batch_size} {line}", flush=True)
    for name, errs in pooled.items():
        if errs:
            print(
                f"pooled relative T_eps errors, {name:17s} (vs the reruns): median {quantile(errs, 0.5):.0%} "
                f"p95 {quantile(errs, 0.95):.0%} ({len(errs)} values)"
            )
    write_csv(a.out, rows, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
