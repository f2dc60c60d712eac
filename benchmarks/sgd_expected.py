"""The SGD predictions against the real runs' mean, and the band against the real runs' spread (cached runs only).

The bench scores a minibatch prediction's expected curve (the mean over 16 batch orders of the linearized run)
against one real run, whose batch order is one draw: two real runs of a case are p95 40% apart in relative T_eps
(``sgd_noise_floor.py``). Here each SGD case has several real runs that differ only in batch order (the cached
seed-0 run and the reruns ``sgd_noise_floor.py --curves DIR`` kept), and per case:

- the expected curve is scored against the real runs' mean curve (the same T_eps errors as the bench: eps in
  {1, 5, 10, 20, 40}% of each curve's own decrease, a missed eps 100%), next to its score against the seed-0 run
  alone (what the bench reports) on the same cases;
- as the floor of a single-run target, one real run scored against the mean of the others (leave one out);
- the band's width against the real spread: the band's half-width over 1.645 (the 5-95% band of a Gaussian) as
  the predicted standard deviation of the loss at each step, against the real runs' sample standard deviation
  there; the median over steps 1..T of their ratio (real / predicted; a calibrated band: about 1, with the
  scatter of a standard deviation from a few runs);
- the sign: at how many eps the expected curve reaches the level before the real runs' mean does (too fast).

    python benchmarks/sgd_expected.py bench/results/{plainsgd,paper,unseen,unseen2,practice} \
        --curves benchmarks/results/sgd_reruns        # -> results/sgd_expected.csv and .txt
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from fidelity_default import EPS, eps_errors

from trainless._io import write_csv, write_text
from trainless.bench import UPDATED, UPDATED_AUTO, Case, auto_comparison, quantile
from trainless.dynamics import epsilon_time

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "sgd_expected.csv"
Z95 = 1.6449  # the 95% quantile of N(0, 1): a 5-95% band is 2 x 1.645 standard deviations wide


def spread_ratio(pred: dict, runs: np.ndarray) -> float:
    """Median over steps 1..T of the real runs' standard deviation over the band's (half-width / 1.645)."""
    lo, hi = np.asarray(pred["loss_low"])[1:], np.asarray(pred["loss_high"])[1:]
    predicted = (hi - lo) / (2 * Z95)
    real = runs[:, 1:].std(axis=0, ddof=1)
    ok = predicted > 0
    return float(np.median(real[ok] / predicted[ok])) if ok.any() else float("nan")


def earlier(curve: np.ndarray, real: np.ndarray) -> list[bool]:
    """Per eps both curves reach: whether the prediction reaches it before the real curve (a too-fast curve)."""
    out = []
    for e in EPS:
        tp, tr = epsilon_time(curve, e)[0], epsilon_time(real, e)[0]
        if tp is not None and tr is not None and tp != tr:
            out.append(tp < tr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path, help="`trainless bench` output directories (with cases/)")
    ap.add_argument("--curves", type=Path, required=True, help="the reruns' curves (sgd_noise_floor.py --curves)")
    ap.add_argument("--min-runs", type=int, default=3, help="cases with fewer real runs are left out")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    rows = []
    for suite in a.suites:
        for path in sorted((suite / "cases").glob("*.json")):
            r = json.loads(path.read_text(encoding="utf-8"))
            if not r["case"]["batch_size"]:
                continue
            reruns = sorted(a.curves.glob(f"{Case.from_dict(r['case']).run_key}_seed*.json"))
            curves = [r["record"]["loss"]] + [json.loads(p.read_text(encoding="utf-8"))["loss"] for p in reruns]
            if len(curves) < a.min_runs:
                continue
            runs = np.array(curves)
            mean = runs.mean(axis=0)
            auto = auto_comparison(r)
            modes = {"discrete": "discrete", UPDATED: UPDATED, UPDATED_AUTO: auto["engine"] if auto else None}
            loo = [e for i in range(len(runs)) for e in eps_errors(runs[i], np.delete(runs, i, 0).mean(axis=0))]
            for mode, engine in modes.items():
                if engine is None:
                    continue
                pred = r["predictions"][engine]
                curve = np.asarray(pred["loss"])
                rows.append(
                    {
                        "suite": suite.name,
                        "case": r["case_id"],
                        "batch_size": r["case"]["batch_size"],
                        "momentum": r["case"]["momentum"],
                        "runs": len(runs),
                        "mode": mode,
                        "vs_mean": eps_errors(curve, mean),
                        "vs_seed0": eps_errors(curve, runs[0]),
                        "leave_one_out": loo,
                        "spread_ratio": spread_ratio(pred, runs),
                        "earlier": earlier(torch.as_tensor(curve), torch.as_tensor(mean)),
                    }
                )
    if not rows:
        raise SystemExit(f"no SGD case with at least {a.min_runs} real runs under {a.curves}")
    flat = [
        {
            **{k: v for k, v in x.items() if k not in ("vs_mean", "vs_seed0", "leave_one_out", "earlier")},
            "vs_mean_max": max(x["vs_mean"]),
            "vs_seed0_max": max(x["vs_seed0"]),
            "leave_one_out_max": max(x["leave_one_out"]),
        }
        for x in rows
    ]
    write_csv(a.out, flat, list(flat[0]))

    def pooled(sel: list[dict], key: str) -> str:
        v = [e for x in sel for e in x[key]]
        return f"{quantile(v, 0.5):.0%} / {quantile(v, 0.95):.0%}"

    lines = [
        "Relative T_eps error, median / p95 pooled over eps and cases; spread ratio: real runs' standard deviation "
        "over the band's, median over cases",
        "",
        "| mode | momentum | cases | runs per case | vs the real runs' mean | vs the seed-0 run (bench) | "
        "one real run vs the others' mean | spread ratio | reached before the mean |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode in ("discrete", UPDATED, UPDATED_AUTO):
        for heavy in (None, False, True):
            sel = [x for x in rows if x["mode"] == mode and (heavy is None or (x["momentum"] > 0) == heavy)]
            if not sel:
                continue
            m = "all" if heavy is None else ("0.9" if heavy else "0")
            runs = sorted({x["runs"] for x in sel})
            ratio = statistics.median(x["spread_ratio"] for x in sel)
            signs = [b for x in sel for b in x["earlier"]]
            lines.append(
                f"| {mode} | {m} | {len(sel)} | {'-'.join(map(str, (runs[0], runs[-1])))} | {pooled(sel, 'vs_mean')} | "
                f"{pooled(sel, 'vs_seed0')} | {pooled(sel, 'leave_one_out')} | {ratio:.1f} | "
                f"{sum(signs)} of {len(signs)} |"
            )
    lines += ["", "| suite | case | B | m | runs | mode | largest vs mean | vs seed 0 | leave one out | spread ratio |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for x in flat:
        lines.append(
            f"| {x['suite']} | {x['case'][:8]} | {x['batch_size']} | {x['momentum']:g} | {x['runs']} | {x['mode']} | "
            f"{x['vs_mean_max']:.0%} | {x['vs_seed0_max']:.0%} | {x['leave_one_out_max']:.0%} | "
            f"{x['spread_ratio']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    write_text(a.out.with_suffix(".txt"), text)
    print(text, end="")
    print(f"wrote {a.out} and {a.out.with_suffix('.txt')}")


if __name__ == "__main__":
    main()
