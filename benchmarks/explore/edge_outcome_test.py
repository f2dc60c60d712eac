"""The held-out test of the edge warning's counts that unseen54 and unseen55 fix in their suite files: for each run of
SUITE past its stability edge at w0, the outcome its regime's bin of lr over the edge made likeliest in the counts
packaged at COMMIT (``edge_outcomes`` in trust_bands.json, read with ``git show``: the majority of converged against
stalled or diverged; a tie or an empty bin, the nearest bin below with a majority), against what the real run did
(``bench._run.run_outcome``). Nothing is run.

    python benchmarks/explore/edge_outcome_test.py 9836770 bench/results/unseen54
    python benchmarks/explore/edge_outcome_test.py 626d608 bench/results/unseen55

Log: benchmarks/results/explore/edge_outcome_test.txt (2026-12-07).
"""

import json
import subprocess
import sys
from pathlib import Path

from trainless.bench._run import result_regime, run_outcome
from trainless.predict import edge_bin


def majority(rows: list[dict[str, int]] | None, i: int) -> str | None:
    """``converged`` or ``failed`` (stalled or diverged), whichever holds more of bin ``i``'s runs, else of the nearest
    bin below that has a majority; None where none has."""
    for row in reversed((rows or [])[: i + 1]):
        converged, failed = row["converged"], row["stalled"] + row["diverged"]
        if converged != failed:
            return "converged" if converged > failed else "failed"
    return None


def main() -> None:
    commit, suite = sys.argv[1], Path(sys.argv[2])
    packaged = subprocess.check_output(["git", "show", f"{commit}:src/trainless/predict/trust_bands.json"])
    table = json.loads(packaged)["edge_outcomes"]["runs"]
    agree = past = 0
    for path in sorted((suite / "cases").glob("*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        ratio, outcome, regime = r["predictions"]["discrete"]["edge_ratio"], run_outcome(r), result_regime(r)
        i = edge_bin(ratio)
        head = f"{path.stem[:8]} {regime:16s} batch {r['case']['batch_size'] or 'full':>4} edge {ratio:.2f}"
        if i is None:
            print(f"{head}: below the edge, {outcome} (not tested)")
            continue
        expected = majority(table.get(regime), i)
        real = "converged" if outcome == "converged" else "failed"
        past += 1
        agree += expected == real
        print(f"{head}: the counts say {expected}, the real run {outcome}{'' if expected == real else '  (miss)'}")
    print(f"{suite.name}: the counts at {commit} named the real outcome of {agree} of the {past} runs past the edge")


if __name__ == "__main__":
    main()
