"""Every benchmark suite's figures in one table, per mode, and the suites written before they ran pooled.

Reads the cached case results of each suite directory (``bench/results/NAME/cases``; nothing is run) and summarizes
them with ``trainless.bench.summarize``, the bench's own pooling: per mode the median and 95th percentile relative
T_eps error for GD and SGD (an eps the prediction never reaches scores 100%), the median relative error of the steps
to reach 50 / 20 / 10% of the initial loss and of the loss at T, and the trust signal's hit rate (bad: largest
relative T_eps error above 25%), and for SGD the share of steps at which the real loss lies inside the predicted
5-95% band over batch orders (median over cases; a calibrated band: about 90%). The modes: the frozen kernel
(``discrete``) and ``discrete+updates/auto`` (what ``--kernel-updates auto`` gives: the updates without momentum,
the frozen kernel with it). The pooled rows join the suites named with ``--unseen`` (written before they were run),
case by case, before taking quantiles: all of them, their cross-entropy cases alone (the MSE runs past the stability
edge are a regime of their own), and those with a fresh head (the regime the fidelity targets are set for; a
linear-probed head starts near its optimum; on the three such GD cases the frozen kernel's median T_eps error per
case was below the updates' on all three, 1 / 5 / 40% against 29 / 20 / 44%, the largest 2 / 30 / 65% against 36 /
21 / 65%), and of those per optimizer regime (full-batch GD, plain SGD, SGD with momentum: the trust signal's hit
rate differs between them), the cases whose lr is below the linearized stability edge at w0 (the trust signal's
``edge`` flag at init; past it real runs can diverge, as two of unseen8's momentum runs at lr 1e-2 did, and the
normalized T_eps of a run that does not converge scores nothing the user asked); and, where the pool holds more than
one network, the fresh-head cross-entropy cases of each (is a figure one network's?), and likewise per kind of image
(grey digits, natural images). Prints a Markdown table and writes it to benchmarks/results/suites_table.md.

    python benchmarks/suites_table.py bench/results/paper --unseen bench/results/longer \
        bench/results/unseen{,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20} \
        bench/results/unseen{21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49} \
        bench/results/{practice,plainsgd,mseedge}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trainless._io import write_text
from trainless.bench import UPDATED_AUTO, summarize
from trainless.bench._run import result_regime

OUT = Path(__file__).resolve().parent / "results" / "suites_table.md"
MODES = (("frozen", "discrete", "trust"), ("auto updates", UPDATED_AUTO, "trust_updates_auto"))
DOMAINS = {"mnist5k": "grey digits", "digits": "grey digits", "photos": "natural images"}


def domain(result: dict) -> str:
    """The kind of image of a cached case's data (``DOMAINS``; a user's factory: ``user data``)."""
    return DOMAINS.get(result["case"]["data"], "user data")


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def rows_of(name: str, results: list[dict]) -> list[str]:
    s = summarize(results)
    out = []
    for label, mode, trust_key in MODES:
        m = s["modes"].get(mode)
        if m is None:
            continue
        t = s[trust_key]
        # The count beside the rate: at the 90% target a rounded rate hides which side a pool is on (44 of 49).
        hits = None if t["hit_rate"] is None else round(t["hit_rate"] * t["bad_cases"])
        hit = "-" if hits is None else f"{t['hit_rate']:.0%} ({hits} of {t['bad_cases']})"
        out.append(
            f"| {name} | {label} | {m['cases']} | {pct(m['gd_rel_error_median'])} / {pct(m['gd_rel_error_p95'])} | "
            f"{pct(m['sgd_rel_error_median'])} / {pct(m['sgd_rel_error_p95'])} | "
            f"{pct(m['abs_steps_rel_error_median'])} | {pct(m['final_loss_rel_error_median'])} | {hit} | "
            f"{t['false_alarms']} | {pct(m['sgd_band_coverage_median'])} |"
        )
    return out


def below_edge(result: dict) -> bool:
    """Whether the case's lr is below the linearized stability edge 2(1+m)/S at w0 (the frozen prediction's
    ``edge_ratio`` at most 1): measured at init, before any update or real step, so a split by it uses nothing
    the real run shows (the trust signal's ``edge`` flag, which also looks at the updated kernels, is the
    prediction's own)."""
    ratio = result["predictions"]["discrete"].get("edge_ratio")
    return ratio is not None and ratio <= 1.0


def load(suite_dir: Path) -> list[dict]:
    paths = sorted((suite_dir / "cases").glob("*.json"))
    if not paths:
        raise SystemExit(f"{suite_dir}: no cached cases under {suite_dir / 'cases'}")
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="*", type=Path, help="suite result directories (each with cases/)")
    ap.add_argument("--unseen", nargs="*", type=Path, default=[], help="suites written before they ran: also pooled")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    lines = [
        "| suite | mode | cases | GD T_eps median / p95 | SGD T_eps median / p95 | steps to levels (median) | "
        "loss at T (median) | trust hit rate (flagged of bad cases) | false alarms | SGD band coverage (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    pooled: list[dict] = []
    for d in [*a.suites, *a.unseen]:
        results = load(d)
        lines += rows_of(d.name + ("*" if d in a.unseen else ""), results)
        if d in a.unseen:
            pooled += results
    if pooled:
        lines += rows_of(f"**{len(a.unseen)} suites* pooled**", pooled)
        ce = [r for r in pooled if r["case"]["loss"] == "ce"]
        if len(ce) < len(pooled):
            lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy only**", ce)
        fresh = [r for r in ce if r["case"].get("head_start", "fresh") == "fresh"]
        if len(fresh) < len(ce):
            lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, fresh head**", fresh)
            # The other head start: heads warmed by linear probing (LP-FT) start near their optimum.
            warm = [r for r in ce if r["case"].get("head_start", "fresh") != "fresh"]
            lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, head warmed by linear probing**", warm)
        below = [r for r in fresh if below_edge(r)]
        if len(below) < len(fresh):
            lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, fresh head, lr below the edge**", below)
        # Per optimizer regime (``trust_regime``): the pooled trust hit rate mixes regimes whose flags work unlike
        # (under momentum the endpoint flag catches most bad runs; on GD it is weaker), so each gets its own row.
        regimes = {"gd-ce": "full-batch GD", "sgd-ce": "plain SGD", "sgd-momentum-ce": "SGD with momentum"}
        for key, label in regimes.items():
            group = [r for r in fresh if result_regime(r) == key]
            if group and len(group) < len(fresh):
                lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, fresh head, {label}**", group)
        # Per network, where the pool holds more than one: are the figures one network's?
        models = sorted({r["case"]["model"] for r in fresh})
        if len(models) > 1:
            for model in models:
                of_model = [r for r in fresh if r["case"]["model"] == model]
                lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, fresh head, {model}**", of_model)
        # Per kind of image, where the pool holds more than one: the digits are far from the pretraining images,
        # photos near them, and the network stays nearer its linearization on the latter (unseen34).
        kinds = sorted({domain(r) for r in fresh})
        if len(kinds) > 1:
            for kind in kinds:
                of_kind = [r for r in fresh if domain(r) == kind]
                lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, fresh head, {kind}**", of_kind)
        # Per resolution: below 64 px most of the head's inputs are zero at init and the kernel grows by factors
        # (unseen37, unseen38); above it less than at 64 px on photos, more on digits (unseen33, unseen35).
        sizes = {"below 64 px": lambda px: px < 64, "64 px": lambda px: px == 64, "above 64 px": lambda px: px > 64}
        by_size = {name: [r for r in fresh if chosen(r["resolution"])] for name, chosen in sizes.items()}
        if sum(1 for group in by_size.values() if group) > 1:
            for name, group in by_size.items():
                if group:
                    lines += rows_of(f"**{len(a.unseen)} suites* pooled, cross-entropy, fresh head, {name}**", group)
    lines.append("")
    lines.append("\\* written before it was run (cases not seen while designing).")
    table = "\n".join(lines) + "\n"
    write_text(a.out, table)
    print(table, end="")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
