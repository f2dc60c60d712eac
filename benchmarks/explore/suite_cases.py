"""One suite's cases, the default against the frozen kernel, case by case (nothing is run).

For each cached case of a ``trainless bench`` output directory: its network, data, resolution, lr, N, the share of
zero penultimate features and the edge ratio at w0, then frozen (``discrete``) -> default (``discrete+updates/auto``,
the bench's ``auto_comparison``) by the largest relative T_eps error on the loss, the median level error and the loss
at T, the default's trust flags and its cost against the real run; then the tally (better / worse / tie within 1
point, pooled (eps, loss) p95 and median) over the suite. What a suite's questions (2)-(3) ask of the default.
``--regime R`` keeps only the cases of one trust regime (``sgd-ce``: plain SGD; the bench's ``result_regime``), the
tally of a held-out test asked of one regime (unseen72's question 1).

    python benchmarks/explore/suite_cases.py bench/results/unseen47  # log suite_cases_unseen47.txt
    python benchmarks/explore/suite_cases.py bench/results/unseen72 --regime sgd-ce
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import Tally, expected

from trainless.bench import UPDATED
from trainless.bench._run import auto_comparison, result_regime


def main(suite: Path, regime: str | None = None) -> None:
    largest, final = Tally(), Tally("final_loss_error")
    for path in sorted((suite / "cases").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        case, default = d["case"], auto_comparison(d)
        if default is None or (regime is not None and result_regime(d) != regime):
            continue
        frozen = expected(d, "discrete")
        a, b = largest.add(frozen, default)
        final.add(frozen, default)
        pred = d["predictions"][default["engine"]]
        share = d["predictions"].get(UPDATED, {}).get("inactive_share")
        print(
            f"{path.stem[:8]} {case['model'][-5:]} {case['data']:7s} {d['resolution']:3d}px lr={d['lr']:.0e} "
            f"N={d['n']} zero {'n/a' if share is None else f'{share:.0%}'} edge {pred['edge_ratio']:.2f} | largest "
            f"{a['eps_max']:.0%} -> {b['eps_max']:.0%}, levels {a['levels_median']:.0%} -> {b['levels_median']:.0%}, "
            f"loss at T {a['final_loss_error']:.0%} -> {b['final_loss_error']:.0%} | flags {pred['trust']['flags']} | "
            f"cost {pred['seconds']:.0f} s against the real run's {d['record']['total_seconds']:.0f} s"
        )
    if not largest.cases:
        of = f" of regime {regime!r}" if regime is not None else ""
        raise SystemExit(f"{suite}: no cached case{of} with the default's comparison")
    print(
        f"largest per case: the default better on {largest.better}, worse on {largest.worse}, tie {largest.tie}; "
        f"pooled p95 {largest.p95('base'):.0%} -> {largest.p95('new'):.0%}, median {largest.median('base'):.0%} -> "
        f"{largest.median('new'):.0%}; loss at T better on {final.better}, worse on {final.worse}, tie {final.tie}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", type=Path, help="a bench result folder (bench/results/SUITE)")
    ap.add_argument("--regime", default=None, help="only this trust regime (gd-ce, sgd-ce, sgd-momentum-ce, ...)")
    a = ap.parse_args()
    main(a.suite, a.regime)
