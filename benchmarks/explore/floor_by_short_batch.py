"""Exploration (after the fact, 2026-12-07): how far a real run is from itself under another rounding
(``benchmarks/results/float_noise_floor.csv``: the largest T_eps gap of each cached run rerun under 1 thread instead
of 2), split by whether its epochs end in a short batch (at most half a full one, kept: the short-batch warning's
bound under momentum, ``trainless.predict._config.short_last_batch``).

    python benchmarks/explore/floor_by_short_batch.py

Log: benchmarks/results/explore/floor_by_short_batch.txt.
"""

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from trainless.predict._config import short_last_batch

ROOT = Path(__file__).resolve().parent.parent.parent
cases = {p.stem: p for p in sorted(ROOT.glob("bench/results/*/cases/*.json"))}
gaps: dict[tuple[str, bool], list[float]] = defaultdict(list)
with open(ROOT / "benchmarks/results/float_noise_floor.csv", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        if row["eps_max"] in ("", "None") or row["case"] not in cases:
            continue
        d = json.loads(cases[row["case"]].read_text(encoding="utf-8"))
        c, n = d["case"], d["record"]["n"]
        short = short_last_batch(n, c["batch_size"] or None, c.get("drop_last", False))
        gaps[(row["regime"], short)].append(float(row["eps_max"]))
for (regime, short), v in sorted(gaps.items()):
    print(
        f"{regime:9s} short last batch {short!s:5s} {len(v):3d} runs: largest T_eps gap median "
        f"{statistics.median(v):.0%}, above 15% on {sum(x > 0.15 for x in v)}, above 25% on {sum(x > 0.25 for x in v)}"
    )
