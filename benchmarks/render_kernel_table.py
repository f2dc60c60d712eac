"""Render benchmarks/results/kernel.csv as the markdown table docs/measurements.md shows.

.venv/bin/python benchmarks/render_kernel_table.py [CSV]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

CSV = Path(__file__).resolve().parent / "results" / "kernel.csv"


def fmt(v: str, spec: str) -> str:
    try:
        return format(float(v), spec)
    except ValueError:
        return v or "-"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else CSV
    rows = list(csv.DictReader(path.open()))
    print(
        "| implementation | px | N | D' | seconds | x GD step | vs naive | peak MiB | rel. Frobenius error "
        "| top-10 eig. error | status |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['implementation']} | {r['resolution_px']} | {r['n']} | {r['dim'] or '-'} "
            f"| {fmt(r['seconds'], '.2f')} | {fmt(r['ratio_to_gd_step'], '.2f')} "
            f"| {fmt(r['speedup_vs_naive'], '.2f')} | {fmt(r['peak_mib'], '.0f')} "
            f"| {fmt(r['rel_frobenius_error'], '.2e')} | {fmt(r['top10_eig_rel_error'], '.2e')} | {r['status']} |"
        )
    gd = {(r["resolution_px"], r["n"]): r["gd_step_seconds"] for r in rows}
    print()
    print(
        "One real full-batch GD step (the unit of 'x GD step'): "
        + ", ".join(f"{px} px N={n}: {fmt(s, '.2f')} s" for (px, n), s in gd.items())
    )


if __name__ == "__main__":
    main()
