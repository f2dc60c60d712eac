"""Held-out test of a lead for the trust signal under the guarded flow (written 2026-12-07, before unseen70 ran).

Why: six of the seven bad momentum predictions the trust signal misses (largest relative T_eps error above 25%,
unflagged) are predictions along the gradient flow on natural images (unseen55, unseen62, unseen66 twice, unseen67,
unseen69), whose endpoint ratio stays low. Of the 18 unflagged flow predictions cached, the 12 with under 55% zero
penultimate features at init (``inactive_share``; all on photos; grey digits and MNIST sit at 66-78%) hold 6 of the 7
misses and 6 good runs. Seen after, so it counts only held out.

The candidate flag: a momentum prediction the default takes along the flow (``bench.auto_comparison`` picks
``discrete+updates``) with ``inactive_share`` below ``SHARE`` = 0.55. The test, fixed before unseen70 ran: over the
suite's default flow predictions the current signal leaves unflagged, the candidate adds a flag to some; passed if at
least half of those it adds are bad (the share of bad cases among everything the signal flags on the 73 suites is
168 of 290, 58%), on at least three added. Otherwise the lead is reported as it is and nothing changes. Nothing is
predicted.

    python benchmarks/explore/flow_share_flag.py bench/results/unseen70
"""

import json
import sys
from pathlib import Path

from trainless.bench import UPDATED, auto_comparison, scored_eps_errors
from trainless.bench._run import BAD_CASE, _flags, trust_mode
from trainless.predict._trust import endpoint_threshold

SHARE = 0.55


def main(suites: list[Path]) -> None:
    added = bad_added = 0
    for suite in suites:
        for path in sorted((suite / "cases").glob("*.json")):
            d = json.loads(path.read_text(encoding="utf-8"))
            c = d["case"]
            if c["loss"] != "ce" or not c.get("momentum", 0):
                continue
            comp = auto_comparison(d)
            if comp is None:
                continue
            errs = scored_eps_errors(comp)
            pred = d["predictions"][comp["engine"]]
            mode = trust_mode(comp["engine"])
            flags = _flags(pred, mode, endpoint_threshold(mode))
            share = pred.get("inactive_share")
            flow = comp["engine"] == UPDATED
            adds = flow and not flags and share is not None and share < SHARE
            worst = max(errs) if errs else float("nan")
            print(
                f"{suite.name} {path.stem[:8]} {c.get('tag', '')} {c['data']}: {'flow' if flow else 'frozen'}, zero "
                f"{share:.0%}, flags {flags}, largest T_eps error {worst:.0%}"
                + (" <- the candidate adds a flag" if adds else "")
            )
            if adds:
                added += 1
                bad_added += worst > BAD_CASE
    verdict = "passed" if added >= 3 and 2 * bad_added >= added else ("too few added" if added < 3 else "FAILED")
    print(f"the candidate adds a flag to {added} unflagged flow predictions, {bad_added} of them bad: {verdict}")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
