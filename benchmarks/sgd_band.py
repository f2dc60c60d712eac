"""How well the predicted SGD band (5-95% over batch orders) holds the real runs: per minibatch case of the cached
suites, nothing run.

The band is the linearized model's spread over batch orders (``PredictConfig.batch_orders``), and is shown to the
user as the range the run will follow. For each cached SGD case and band-carrying prediction (the frozen kernel
``discrete``, ``discrete+updates``), per case:

- ``coverage``: the share of steps 1..T at which the real loss lies inside the band (``trainless.bench``'s
  ``band_coverage``; a calibrated band holds the run about 90% of the time);
- ``width``: the band's width over the predicted mean loss, median over the steps;
- ``z``: |real - predicted mean| over the band's half-width on the side of the real run, median over the steps
  (for a Gaussian spread the median |deviation| is 0.41 of the 5-95% half-width; above 1 the run lies outside
  the band at most steps): the off-centre error and a too narrow band together. ``sgd_expected.py`` separates
  them, with several real runs per case: the expected curve against their mean, the band's width against their
  spread.

    python benchmarks/sgd_band.py bench/results/{paper,unseen,unseen2,practice,plainsgd}
        # -> results/sgd_band.csv and results/sgd_band.txt
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from trainless._io import write_csv, write_text
from trainless.bench import UPDATED
from trainless.bench._run import with_band_coverage

OUT = Path(__file__).resolve().parent / "results" / "sgd_band.csv"
ENGINES = ("discrete", UPDATED)
EPS = (0.01, 0.05, 0.1, 0.2, 0.4)
GAUSSIAN_MEDIAN_Z = 0.6745 / 1.6449  # median |N(0, 1)| over its 95% quantile


def z_median(pred: dict, real: list[float], steps: list[int]) -> float:
    zs = []
    for s, r in zip(steps[1:], real[1:], strict=True):
        mean, lo, hi = pred["loss"][s], pred["loss_low"][s], pred["loss_high"][s]
        half = (hi - mean) if r >= mean else (mean - lo)
        zs.append(abs(r - mean) / half if half > 0 else float("inf"))
    return statistics.median(zs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path, help="`trainless bench` output directories (with cases/)")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    rows = []
    for suite in a.suites:
        for path in sorted((suite / "cases").glob("*.json")):
            r = with_band_coverage(json.loads(path.read_text(encoding="utf-8")))
            case = r["case"]
            if not case["batch_size"]:
                continue
            for comp in r["comparisons"]:
                if comp["engine"] not in ENGINES or comp["band_coverage"] is None:
                    continue
                pred, steps = r["predictions"][comp["engine"]], comp["steps"]
                width = statistics.median(
                    (pred["loss_high"][s] - pred["loss_low"][s]) / pred["loss"][s] for s in steps[1:]
                )
                rows.append(
                    {
                        "suite": suite.name,
                        "case": r["case_id"],
                        "batch_size": case["batch_size"],
                        "momentum": case["momentum"],
                        "lr": r["lr"],
                        "engine": comp["engine"],
                        "coverage": comp["band_coverage"],
                        "width": width,
                        "z": z_median(pred, r["record"]["loss"], steps),
                    }
                )
    write_csv(a.out, rows, list(rows[0]))
    lines = [
        "Predicted SGD band (5-95% over batch orders) against the real runs; median over cases "
        f"(a calibrated band: coverage about 90%, z about {GAUSSIAN_MEDIAN_Z:.2f})",
        "",
        "| engine | momentum | cases | coverage | band width / loss | z |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for engine in ENGINES:
        for heavy in (False, True):
            sel = [x for x in rows if x["engine"] == engine and (x["momentum"] > 0) == heavy]
            if not sel:
                continue
            med = {k: statistics.median(x[k] for x in sel) for k in ("coverage", "width", "z")}
            lines.append(
                f"| {engine} | {'0.9' if heavy else '0'} | {len(sel)} | {med['coverage']:.0%} | {med['width']:.0%} | "
                f"{med['z']:.1f} |"
            )
    lines += ["", "| suite | case | B | m | engine | coverage | width | z |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for x in rows:
        lines.append(
            f"| {x['suite']} | {x['case'][:8]} | {x['batch_size']} | {x['momentum']:g} | {x['engine']} | "
            f"{x['coverage']:.0%} | {x['width']:.0%} | {x['z']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    write_text(a.out.with_suffix(".txt"), text)
    print(text, end="")
    print(f"wrote {a.out} and {a.out.with_suffix('.txt')}")


if __name__ == "__main__":
    main()
