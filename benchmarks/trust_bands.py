"""Package the trust signal's error bands from a benchmark suite's summary.

Reads SUMMARY (a `trainless bench` summary.json), takes the relative T_eps error bands of its flagged and
unflagged cases for the frozen kernel (`trust`) and for kernel updates along the predicted path
(`trust_updates`), prints them and writes src/trainless/predict/trust_bands.json, which every prediction
quotes ("on the paper suite, unflagged cases were within X%"). Regenerate after the suite is re-run:

    python benchmarks/trust_bands.py bench/results/paper/summary.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trainless._io import write_json
from trainless.predict._trust import BANDS_FILE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summary", help="a `trainless bench` summary.json")
    ap.add_argument("--out", default=str(BANDS_FILE), help=f"where to write (default {BANDS_FILE})")
    a = ap.parse_args()
    summary = json.loads(Path(a.summary).read_text(encoding="utf-8"))
    bands: dict = {"suite": summary["suite"], "source": a.summary}
    for mode, key in (("frozen", "trust"), ("updates", "trust_updates")):
        t = summary.get(key)
        if not t or not t["cases"]:
            continue
        bands[mode] = {
            "flagged": t["band_flagged"],
            "unflagged": t["band_unflagged"],
            "hit_rate": t["hit_rate"],
            "bad_cases": t["bad_cases"],
            "false_alarms": t["false_alarms"],
        }
        print(
            f"{mode}: {t['cases']} cases, {t['bad_cases']} above {t['bad_case_threshold']:.0%}, "
            f"flagged {t['flagged']}, hit rate {t['hit_rate']}, "
            f"unflagged {t['band_unflagged']}, flagged {t['band_flagged']}"
        )
    write_json(Path(a.out), bands)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
