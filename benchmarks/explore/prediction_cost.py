"""Exploration: what the default's prediction cost against the real run it predicts, over cached bench cases.

Per regime (full-batch GD, plain SGD, SGD with momentum) and N, the ratio of the default's prediction seconds
(``bench.auto_comparison`` picks the prediction the default makes: kernel updates, the guarded flow or the frozen
kernel) to the real run's training seconds (the record's total less its evaluation passes), both measured in the same
bench process on the same machine. Cross-entropy cases with a kernel-updates prediction. Nothing is run. Suites that
ran beside other jobs slowed both sides; the ratio is what to read, not the seconds.

    python benchmarks/explore/prediction_cost.py bench/results/paper bench/results/{longer,unseen} \
        bench/results/unseen{2..71} bench/results/{practice,plainsgd,mseedge}
"""

import argparse
import json
import statistics
from pathlib import Path

from trainless.bench import auto_comparison
from trainless.predict._config import is_full_batch

ap = argparse.ArgumentParser()
ap.add_argument("suites", nargs="+", type=Path, help="bench result folders (bench/results/SUITE)")
a = ap.parse_args()

ratios: dict[tuple[str, str, str], list[float]] = {}
for suite in a.suites:
    for p in sorted((suite / "cases").glob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        c, r = d["case"], d["record"]
        if c["loss"] != "ce":
            continue
        comp = auto_comparison(d)
        if comp is None:
            continue
        pred = d["predictions"][comp["engine"]]
        run = r["total_seconds"] - r.get("eval_seconds", 0.0)
        if c.get("momentum", 0):
            regime = "SGD, momentum"
        elif is_full_batch(c["batch_size"], r["n"]):
            regime = "full-batch GD"
        else:
            regime = "plain SGD"
        size = "N >= 200" if r["n"] >= 200 else "N < 200"
        kind = "frozen kernel" if comp["engine"] == "discrete" else "kernel updates"
        ratios.setdefault((regime, size, kind), []).append(pred["seconds"] / run)

print("prediction seconds / real run's training seconds, the default's prediction")
for (regime, size, kind), v in sorted(ratios.items()):
    v.sort()
    p90 = v[min(len(v) - 1, int(0.9 * len(v)))]
    print(
        f"  {regime:14s} {size:9s} {kind:15s} {len(v):4d} runs: median {statistics.median(v):5.2f}x, "
        f"90th percentile {p90:5.2f}x, largest {v[-1]:5.2f}x"
    )
