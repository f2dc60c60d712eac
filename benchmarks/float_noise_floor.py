"""How far a real run moves when only its floating-point rounding changes (torch's thread count), scored as the bench
scores a prediction: a floor under any prediction's error, as the batch-order spread is (``sgd_noise_floor.py``).
What is measured was fixed before the first case ran: ``benchmarks/results/float_noise_floor_plan.md``.

    python benchmarks/float_noise_floor.py --stop-at 14:00 \\
        bench/results/{longer,unseen,unseen2,...,unseen52,practice,plainsgd,mseedge}

Per case a line; then the pooled figures per regime. Writes ``benchmarks/results/float_noise_floor.csv`` and keeps
each 1-thread run's loss curve under ``--keep`` (read back when run again).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity_default import eps_errors, fresh_ce_cases, load_cached_case, until_stop

from trainless._io import write_csv, write_json
from trainless.bench import quantile
from trainless.bench._run import result_regime
from trainless.finetune import finetune
from trainless.models import HeadStart

OUT = Path(__file__).resolve().parent / "results" / "float_noise_floor.csv"
CHECK_STEPS = 5
ORDER = {"momentum": 0, "sgd": 1, "gd": 2}
# the bench's regime of a cached case (trust_regime: full batch, minibatch, momentum; the cases here are all CE)
SHORT = {"sgd-momentum-ce": "momentum", "sgd-ce": "sgd", "gd-ce": "gd"}


def regime(d: dict) -> str:
    return SHORT[result_regime(d)]


def rerun(d: dict, threads: int, stop_after: int | None) -> np.ndarray:
    """The cached case's real run again from w0 under ``threads`` torch threads (its first ``stop_after`` steps)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        case, config, _, model, data = load_cached_case(d)
        record = finetune(
            model, data, config, trainable=case.trainable, head_start=HeadStart(case.head_start), stop_after=stop_after
        )
    finally:
        torch.set_num_threads(before)
    return np.asarray(record.loss, dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--stop-at", default=None, help="start no case after this UTC time of day (HH:MM)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep", type=Path, default=Path("bench/results/floatnoise"))
    ap.add_argument("--threads", type=int, default=1, help="the thread count of the rerun (the cache's: 2)")
    a = ap.parse_args()
    cases = sorted((ORDER[regime(d)], p.stem, p) for p, d in fresh_ce_cases(a.suites, 150))
    print(f"# {len(cases)} runs selected from {len(a.suites)} suites: momentum, plain SGD, GD, each in case-id order")
    rows, pooled = [], {}
    for _, stem, p in until_stop(cases, a.stop_at):
        d = json.loads(p.read_text(encoding="utf-8"))
        real = np.asarray(d["record"]["loss"], dtype=float)
        kind = regime(d)
        keep = a.keep / p.parent.parent.name / f"{stem}.json"
        kept = json.loads(keep.read_text(encoding="utf-8")) if keep.is_file() else None
        t0 = time.perf_counter()
        if kept is None:
            check = rerun(d, torch.get_num_threads(), CHECK_STEPS)
            gap = float(np.max(np.abs(check - real[: len(check)])))
            other = rerun(d, a.threads, None) if gap == 0.0 else None
            kept = {"check_gap": gap, "loss": None if other is None else list(other)}
            keep.parent.mkdir(parents=True, exist_ok=True)
            write_json(keep, kept)
        lr = d["record"]["config"]["lr"]
        name = f"{stem[:8]} {p.parent.parent.name} {kind} N={d['n']} B={d['case'].get('batch_size')} lr={lr:g}"
        if kept["loss"] is None:
            print(
                f"{name}: the cache is not this machine's rounding (first {CHECK_STEPS} steps off by "
                f"{kept['check_gap']:.2g}); not scored",
                flush=True,
            )
            rows.append({"case": stem, "suite": p.parent.parent.name, "regime": kind, "check_gap": kept["check_gap"]})
            continue
        other = np.asarray(kept["loss"], dtype=float)
        errs = eps_errors(other, real)
        final = abs(other[-1] - real[-1]) / real[-1]
        gap = np.abs(other - real)
        first = int(np.argmax(gap > 0)) if (gap > 0).any() else None
        acc = pooled.setdefault(kind, {"eps": [], "max": [], "final": []})
        acc["eps"] += errs
        acc["max"].append(max(errs) if errs else float("nan"))
        acc["final"].append(final)
        rows.append(
            {
                "case": stem,
                "suite": p.parent.parent.name,
                "regime": kind,
                "check_gap": 0.0,
                "first_differing_step": first,
                "largest_loss_gap": float(gap.max()),
                "eps_max": max(errs) if errs else float("nan"),
                "final_loss_error": final,
                "seconds": time.perf_counter() - t0,
            }
        )
        print(
            f"{name}: first differs at step {first}, largest loss gap {gap.max():.2g}; T_eps largest "
            f"{max(errs) if errs else float('nan'):.0%}, loss at T {final:.1%}",
            flush=True,
        )
    write_csv(a.out, rows, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
    print(f"# the {a.threads}-thread rerun against the cached run (this machine's 2 threads), pooled over (case, eps):")
    for kind in sorted(pooled, key=ORDER.get):
        acc = pooled[kind]
        print(
            f"{kind:9s}: {len(acc['max'])} runs, T_eps p95 {quantile(acc['eps'], 0.95):.1%} median "
            f"{quantile(acc['eps'], 0.5):.1%} ({len(acc['eps'])} values); largest per case median "
            f"{statistics.median(acc['max']):.1%}; loss at T median {statistics.median(acc['final']):.1%}"
        )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
