"""Does smoothing the real SGD curves (the paper times "the (smoothed) loss") change the SGD figures?

Every cached minibatch case of the suite directories given is scored again, from its cached curves (nothing is
run), three ways: as the bench does (no smoothing: the real curve is the full-training-set loss after each
step), with the real curve smoothed by a trailing moving average of one epoch (ceil(N / B) steps, so every
sample is seen once per window; ``trainless.dynamics.smooth``), and with both curves smoothed alike (a trailing
average delays a falling curve by about half its window: smoothing the real one alone adds that lag to the
error). Pooled relative T_eps errors over eps {1, 5, 10, 20, 40}% (an eps never reached scores 100%) for the
frozen kernel, the kernel updates (cases without momentum) and the auto mode (updates without momentum, frozen
with it). Prints the table and writes it to benchmarks/results/sgd_smoothing.txt.

    python benchmarks/sgd_smoothing.py bench/results/{paper,unseen,unseen2,practice,plainsgd}
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from fidelity_default import eps_errors

from trainless._io import write_text
from trainless.bench import UPDATED, quantile
from trainless.dynamics import smooth

OUT = Path(__file__).resolve().parent / "results" / "sgd_smoothing.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    pooled: dict[tuple[str, str], list[float]] = {}
    cases = 0
    for path in sorted(p for d in a.suites for p in (d / "cases").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        c = d["case"]
        if not c["batch_size"]:
            continue
        cases += 1
        window = math.ceil(d["n"] / c["batch_size"])
        real = torch.tensor(d["record"]["loss"], dtype=torch.float64)
        modes = {"frozen": "discrete"}
        if not c["momentum"] and UPDATED in d["predictions"]:
            modes["updates"] = UPDATED
        modes["auto"] = modes.get("updates", "discrete")
        for mode, key in modes.items():
            pred = torch.tensor(d["predictions"][key]["loss"], dtype=torch.float64)
            ways = {
                "none (the bench)": (pred, real),
                "real smoothed, one epoch": (pred, smooth(real, window)),
                "both smoothed, one epoch": (smooth(pred, window), smooth(real, window)),
            }
            for way, (p, r) in ways.items():
                pooled.setdefault((mode, way), []).extend(eps_errors(p.numpy(), r.numpy()))
    lines = [f"{cases} minibatch cases of {', '.join(d.name for d in a.suites)}", ""]
    lines.append(f"{'mode':8s} {'smoothing':26s} {'values':>6s} {'median':>7s} {'p95':>5s}")
    for (mode, way), v in pooled.items():
        lines.append(f"{mode:8s} {way:26s} {len(v):6d} {quantile(v, 0.5):7.0%} {quantile(v, 0.95):5.0%}")
    text = "\n".join(lines) + "\n"
    write_text(a.out, text)
    print(text, end="")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
