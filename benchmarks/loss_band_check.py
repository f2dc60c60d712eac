"""How often the packaged loss band and steps band held the real runs of suites they were not made from.

Each prediction from w0 carries a loss band (``Prediction.real_loss_low`` / ``real_loss_high``,
:func:`trainless.predict.loss_band`): where the real loss lay, at each step, on 90% of the benchmark's runs of the
same trust cell (mode, regime, flagged or not). This script applies the band packaged in
``src/trainless/predict/trust_bands.json`` to the cached cases of the suites named (which must not be among the
band's own suites: it says so and stops) and prints, per cell and pooled, the share of (run, share of T) values
inside the band, the share at T alone, and the band's width at T, and the same for the steps band
(``Prediction.steps_band``, :func:`trainless.predict.steps_band`) over (run, target) pairs; it writes them to
``benchmarks/results/loss_band_check_SUITE.json`` (SUITE: the first named; ``--out`` elsewhere). Nothing is run: the
cases' predictions and real runs are cached.

    python benchmarks/loss_band_check.py bench/results/unseen56
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from suites_table import load  # the sibling script (benchmarks/ is on sys.path)

from trainless._io import write_json
from trainless.bench._loss_band import (
    band_hits,
    loss_band_table,
    loss_band_vectors,
    steps_band_ratios,
    steps_band_table,
    steps_hits,
)
from trainless.predict import LOSS_BAND_FRACTIONS, endpoint_threshold
from trainless.predict._trust import BANDS_FILE, _bands

RESULTS = Path(__file__).resolve().parent / "results"


def _shares(total: dict[str, int]) -> dict[str, float | int | None]:
    runs = total["runs"]
    return {
        "runs": runs,
        "inside": total["inside"] / (runs * len(LOSS_BAND_FRACTIONS)) if runs else None,
        "inside_at_T": total["inside_at_T"] / runs if runs else None,
    }


def _steps_check(
    results: list[dict], table: dict, thresholds: dict[str, float | str | None]
) -> dict[str, list | dict[str, float | int | None]]:
    """The steps band (``steps_band`` in trust_bands.json) on ``results``: per cell, and pooled over every
    prediction and over the default's, the share of (run, target) pairs whose real steps lay inside it (a real run
    that never got there is outside a finite band), and the pairs outside (target, real / predicted steps)."""
    rows = []
    pooled = {"every prediction": [0, 0], "the default's prediction of each case": [0, 0]}
    for name, default_only in (("every prediction", False), ("the default's prediction of each case", True)):
        for (mode, regime, key), ratios in sorted(steps_band_ratios(results, thresholds, default_only).items()):
            cell = table["cells"].get(mode, {}).get(regime, {}).get(key)
            hits = [] if cell is None else steps_hits(ratios, cell["targets"])
            pooled[name][0] += sum(hits)
            pooled[name][1] += len(hits)
            if default_only:
                continue
            # the (target, log ratio) pairs steps_hits judged, in its order
            judged = [(t, x) for d in ratios for t, x in sorted(d.items()) if cell is not None and t in cell["targets"]]
            outside = [[t, math.exp(x)] for (t, x), hit in zip(judged, hits, strict=True) if not hit]
            rows.append(
                {
                    "mode": mode,
                    "regime": regime,
                    "cell": key,
                    "runs": len(ratios),
                    "pairs": len(hits),
                    "inside": sum(hits) / len(hits) if hits else None,
                    "outside": outside,
                }
            )
            print(
                f"steps band {mode:8s} {regime:16s} {key:9s} {len(ratios):3d} runs: "
                + ("no band for this cell" if cell is None else f"{sum(hits)} of {len(hits)} (run, target) inside")
                + (" (the outside ones' real / predicted steps in the JSON)" if outside else "")
            )
    shares = {name: {"pairs": n, "inside": k / n if n else None} for name, (k, n) in pooled.items()}
    for name, sh in shares.items():
        if sh["pairs"]:
            print(
                f"steps band pooled, {name}: {sh['pairs']} (run, target) pairs with a band, {sh['inside']:.0%} inside"
            )
    return {
        "cells": rows,
        "pooled": shares["every prediction"],
        "default": shares["the default's prediction of each case"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", type=Path, help="suite result directories (each with cases/)")
    ap.add_argument("--band-from", nargs="*", type=Path, default=[], help="make the band from these suites instead")
    ap.add_argument(
        "--out", type=Path, default=None, help="default: results/loss_band_check_SUITE.json, SUITE the first named"
    )
    a = ap.parse_args()
    thresholds = {mode: endpoint_threshold(mode) for mode in ("frozen", "updates")}
    if a.band_from:
        made_from = {d.name: load(d) for d in a.band_from}
        table = loss_band_table(made_from, thresholds)
        steps_table = steps_band_table(made_from, thresholds)
    else:
        packaged = _bands(BANDS_FILE)
        table, steps_table = packaged["loss_band"], packaged["steps_band"]
        if tuple(table["fractions"]) != LOSS_BAND_FRACTIONS:
            raise SystemExit(
                f"the packaged band was measured at shares {table['fractions']}, not {LOSS_BAND_FRACTIONS}"
            )
    seen = [d.name for d in a.suites if d.name in table["suites"]]
    if seen:
        raise SystemExit(f"{seen}: the band was made from these suites; name suites it has not seen")
    results = [r for d in a.suites for r in load(d)]
    rows = []
    total = {"runs": 0, "inside": 0, "inside_at_T": 0}
    default = {"runs": 0, "inside": 0, "inside_at_T": 0}
    for (mode, regime, key), vectors in sorted(loss_band_vectors(results, thresholds, default_only=True).items()):
        cell = table["cells"].get(mode, {}).get(regime, {}).get(key)
        if cell is not None:
            hits = band_hits(vectors, cell["low"], cell["high"])
            default["runs"] += len(vectors)
            default["inside"] += sum(map(sum, hits))
            default["inside_at_T"] += sum(h[-1] for h in hits)
    for (mode, regime, key), vectors in sorted(loss_band_vectors(results, thresholds).items()):
        cell = table["cells"].get(mode, {}).get(regime, {}).get(key)
        if cell is None:
            print(f"{mode:8s} {regime:16s} {key:9s} {len(vectors):3d} runs: no band for this cell")
            continue
        hits = band_hits(vectors, cell["low"], cell["high"])
        inside, at_t = sum(map(sum, hits)), sum(h[-1] for h in hits)
        row = {
            "mode": mode,
            "regime": regime,
            "cell": key,
            "runs": len(vectors),
            "inside": inside / (len(vectors) * len(LOSS_BAND_FRACTIONS)),
            "inside_at_T": at_t / len(vectors),
            "band_at_T": [
                0.0 if cell["low"][-1] is None else math.exp(cell["low"][-1]),
                math.inf if cell["high"][-1] is None else math.exp(cell["high"][-1]),
            ],
            "outside_at_T": [math.exp(vec[-1]) for vec, h in zip(vectors, hits, strict=True) if not h[-1]],
        }
        rows.append(row)
        total["runs"] += len(vectors)
        total["inside"] += inside
        total["inside_at_T"] += at_t
        print(
            f"{mode:8s} {regime:16s} {key:9s} {len(vectors):3d} runs: {row['inside']:.0%} of (run, share) inside, "
            f"at T {row['inside_at_T']:.0%}; band at T {row['band_at_T'][0]:.3g}-{row['band_at_T'][1]:.3g} x the "
            "prediction"
            + (f"; outside at T: {', '.join(f'{v:.3g}' for v in row['outside_at_T'])}" if row["outside_at_T"] else "")
        )
    pooled, of_default = _shares(total), _shares(default)
    for name, s in (("every prediction", pooled), ("the default's prediction of each case", of_default)):
        if s["runs"]:
            print(
                f"pooled, {name}: {s['runs']} predictions with a band, {s['inside']:.0%} of (run, share) inside, "
                f"at T {s['inside_at_T']:.0%}"
            )
    out = a.out or RESULTS / f"loss_band_check_{a.suites[0].name}.json"
    write_json(
        out,
        {
            "suites": [d.name for d in a.suites],
            "band_from": table["suites"],
            "level": table["level"],
            "cells": rows,
            "pooled": pooled,
            "default": of_default,
            "steps_band": _steps_check(results, steps_table, thresholds),
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
