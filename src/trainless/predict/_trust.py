"""The trust signal: flags measurable at init, mapped to the error band the benchmark measured for them.

The flags (:func:`trust_flags`) come from the prediction itself; the bands and the endpoint threshold come
from ``trust_bands.json`` next to this file, written by ``benchmarks/trust_bands.py`` from a calibration
suite's cases (and checked there on a validation suite the threshold was not taken from):

- ``edge``: the lr above the linearized stability edge (ratio > 1; no calibration);
- ``endpoint``: the real network at the predicted final weights has a loss more than R times the predicted
  final loss (R per mode, calibrated: the smallest such ratio among the calibration suite's bad cases that
  ``edge`` does not flag). Without a calibrated R the older rule applies: the output gap there above
  ``PredictConfig.endpoint_warning`` of the predicted change (safe but flags almost every fresh-head case).

The ``updates`` mode's R and bands were calibrated on the default kernel-updates predictions, with the weights
moved between updates (``path_stride="auto"``); a prediction made with another stride reads the same band.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from ..dynamics import EpsTime
from ..dynamics._eps import EpsDefinition
from ._config import is_full_batch
from ._result import LevelTime, StepsBand

BANDS_FILE = Path(__file__).with_name("trust_bands.json")


def endpoint_ratio(endpoint: dict[str, Any] | None) -> float | None:
    """The real network's loss at the predicted final weights over the predicted final loss (None without an
    endpoint check; inf when the prediction reaches 0 and the real network does not)."""
    if endpoint is None:
        return None
    real, linear = float(endpoint["loss_real"]), float(endpoint["loss_linear"])
    if not (math.isfinite(real) and math.isfinite(linear)):
        return math.inf
    if linear <= 0:
        return math.inf if real > 0 else 1.0
    return real / linear


def trust_flags(
    edge_ratio: float | None,
    endpoint: dict[str, Any] | None,
    endpoint_warning: float,
    ratio_threshold: float | None = None,
) -> list[str]:
    """``edge`` when the lr is above the linearized loss's stability edge 2(1+m)/sharpness at w0;
    ``endpoint`` when the real network at the predicted final weights has more than ``ratio_threshold`` x
    the predicted final loss, or (no threshold given) departs from the linearized outputs by more than
    ``endpoint_warning`` of the predicted output change."""
    flags = []
    if edge_ratio is not None and edge_ratio > 1.0:
        flags.append("edge")
    if endpoint is not None:
        if ratio_threshold is not None:
            ratio = endpoint_ratio(endpoint)
            if ratio is not None and ratio > ratio_threshold:
                flags.append("endpoint")
        elif endpoint["output_gap"] > endpoint_warning:
            flags.append("endpoint")
    return flags


def endpoint_threshold(mode: str, bands_file: Path = BANDS_FILE) -> float | None:
    """The calibrated endpoint-loss ratio R for ``mode`` (``frozen`` | ``updates``); None if none packaged."""
    bands = _bands(Path(bands_file))
    value = None if bands is None else bands.get(mode, {}).get("endpoint_ratio")
    return None if value is None else float(value)


def trust_regime(batch_size: int | None, n: int, momentum: float, loss: str) -> str:
    """The regime a trust band's direction figures are kept under: ``gd`` (full batch: ``batch_size`` None, 0
    or >= N), ``sgd`` or ``sgd-momentum``, then the loss, e.g. ``sgd-ce``."""
    full = is_full_batch(batch_size, n)
    return f"{'gd' if full else ('sgd-momentum' if momentum > 0 else 'sgd')}-{loss}"


BAND_MIN_CASES = 5
"""The fewest cases a regime's band on the suites written before they ran must rest on to be quoted for it."""

DIRECTION_MIN_PAIRS = 10
"""The fewest (case, eps) pairs a regime's direction figure must rest on to be quoted to the user."""


def largest_edge_ratio(edge_ratio: float | None, kernel_path: Iterable[dict[str, Any]] = ()) -> float | None:
    """The largest lr-over-stability-edge ratio of a prediction: at w0 and at each updated kernel (entries
    of ``Prediction.kernel_path``; a diverged update's NaN, or a missing value, is skipped)."""
    ratios = [edge_ratio, *(row.get("edge_ratio") for row in kernel_path)]
    return max((r for r in ratios if r is not None and math.isfinite(r)), default=None)


def _side(share: float) -> int:
    """Which way a share of pairs reached first leans: 1 from two thirds up (the real run slower), -1 from one
    third down (faster), 0 between."""
    return 1 if share >= 2 / 3 else (-1 if share <= 1 / 3 else 0)


@cache
def _bands(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _lead(flags: list[str], mode: str) -> str:
    """The trust sentence's opening: which flags are up and why, or "no flag"."""
    reasons = {
        "edge": "the lr is above the linearized stability edge"
        + (" (at w0 or at a kernel updated along the predicted path)" if mode == "updates" else ""),
        "endpoint": "the real network at the predicted final weights does much worse than the linearized model",
    }
    return "flagged: " + "; ".join(reasons[f] for f in flags) if flags else "no flag"


def trust_summary(
    flags: list[str],
    mode: str,
    bands_file: Path = BANDS_FILE,
    steps: int | None = None,
    endpoint_checked: bool = True,
    regime: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The flags, the benchmark band of cases flagged alike (``mode``: ``frozen`` or ``updates``, the
    predictor the band was measured with; read from ``bands_file``: the calibration suite's and, where packaged,
    the pooled band of the suites written before they ran, ``validation_band``), and a sentence for the user. ``steps``:
    the predicted run's length T (in optimizer steps); outside the calibration runs' range of T the sentence
    says so, since the endpoint ratio grows as the predicted loss nears zero (at T = 300 it flagged every case
    of bench/suites/longer.toml, none of them bad, against R from T = 150). ``endpoint_checked``: whether the
    prediction evaluated the real network at its final weights; the bands were measured on predictions that did,
    so without it the sentence says the endpoint flag could not be raised. ``regime``: the run's
    :func:`trust_regime`; where the calibration suite has at least ``DIRECTION_MIN_PAIRS`` (case, eps) pairs of
    it, the sentence says at what share of them this mode's prediction reached the eps level before the real run
    did (and, from two thirds on either side, which way to expect the real run to differ, unless the suites
    written before they ran, ``validation_direction``, do not lean the same way). ``model``: the predicted
    network's name; where the bands list the networks they were measured on and it is not one of them, the
    sentence says the figures are those networks'.

    Returns ``flags``, ``mode``, ``band``, ``direction``, ``text`` (the sentence) and ``basis`` (the sentence after
    its opening on the flags: what the band rests on, for a caller that words its own opening)."""
    bands = _bands(Path(bands_file))
    key = "flagged" if flags else "unflagged"
    # This mode's calibration: its bands, and the calibration and validation suites' direction counts.
    of_mode = {} if bands is None else bands.get(mode, {})
    band = of_mode.get(key)
    if band is None or band.get("p95") is None:
        where = "no benchmark band is packaged for this mode"
    else:
        where = (
            f"on the {bands['suite']} suite, {key} cases were within {band['p95']:.0%} "
            f"(95th percentile of the relative T_eps error; median {band['median']:.0%}, {band['cases']} cases)"
        )
        held = of_mode.get("validation_band", {})
        # The calibration suite chose R; the suites written before they ran say how far its band carries: their
        # band for this regime where it rests on enough cases (momentum runs miss by several times GD's), else all.
        of_regime = held.get(regime or "", {}).get(key)
        use_regime = bool(of_regime) and of_regime["cases"] >= BAND_MIN_CASES and of_regime["p95"] is not None
        held_band = of_regime if use_regime else held.get("all", {}).get(key)
        if held_band and held_band.get("p95") is not None:
            what = f"{regime} cases " if use_regime else ""
            where += (
                f", on the {len(held.get('suites', []))} suites written before they ran {what}within "
                f"{held_band['p95']:.0%} (median {held_band['median']:.0%}, {held_band['cases']} cases)"
            )
    lead = _lead(flags, mode)
    calibrated = None if bands is None else bands.get("steps")
    if steps is not None and calibrated and not min(calibrated) <= steps <= max(calibrated):
        at = "/".join(str(t) for t in calibrated)
        if steps < min(calibrated):
            why = "the band was not measured on runs this short"
        elif endpoint_checked:
            why = (
                "the endpoint flag fires more often at a longer T (its loss ratio grows as the predicted loss "
                "nears zero), so read it with care"
            )
        else:
            why = "the band was not measured on runs this long"
        where += f"; measured on runs of T = {at} steps, this one predicts {steps}: {why}"
    direction = None if regime is None else of_mode.get("direction", {}).get(regime)
    if direction and direction["pairs"] >= DIRECTION_MIN_PAIRS:
        share = direction["early"] / direction["pairs"]
        side = _side(share)
        held = of_mode.get("validation_direction", {}).get(regime)
        lean = {
            1: ": expect the real run to be slower than predicted",
            -1: ": expect the real run to be faster than predicted",
        }
        held_share = held["early"] / held["pairs"] if held and held["pairs"] >= DIRECTION_MIN_PAIRS else None
        if side and held_share is not None and _side(held_share) != side:
            # The lean is quoted only where the suites written before they ran show it too.
            tail = f", but {held_share:.0%} of {held['pairs']} on the suites written before they ran: no side to expect"
        elif side and held_share is not None:
            # Quoted beside it: the held-out share may sit near the two-thirds line the side is drawn at.
            tail = f", and at {held_share:.1%} of {held['pairs']} on the suites written before they ran" + lean[side]
        else:
            tail = lean.get(side, "")
        where += (
            f"; on the {bands['suite']} suite this mode's predictions of {regime} runs reached the eps levels before "
            f"the real run at {share:.0%} of {direction['pairs']} (case, eps) pairs{tail}"
        )
    measured_on = [] if bands is None else bands.get("models", [])
    if model is not None and measured_on and model not in measured_on:
        where += (
            f"; every figure here was measured on fine-tuning {', '.join(measured_on)}, not {model}: "
            "how the method fares on those networks, not a measurement of yours (trainless validate runs one)"
        )
    if not endpoint_checked:
        where += (
            "; the real network was not evaluated at the predicted final weights (no model and data given, "
            "endpoint_check off, or the linearized run diverged), so the endpoint flag, which the band's "
            "predictions could raise, could not be"
        )
    return {
        "flags": list(flags),
        "mode": mode,
        "band": band,
        "direction": direction,
        "text": f"{lead}; {where}",
        "basis": where,
    }


def closed_loop_trust(
    trust: dict[str, Any],
    observed: int,
    steps: int,
    regime: str,
    bands_file: Path = BANDS_FILE,
    *,
    frozen: bool = False,
) -> dict[str, Any]:
    """The trust signal of a closed-loop prediction (``observed`` = k real steps of a run of ``steps`` = T, then
    predicted from w_k): ``trust``, the :func:`trust_summary` of the prediction from w_k, with its band and
    sentence replaced by what the benchmark measured for the closed loop on runs of this ``regime``
    (:func:`trust_regime`; ``closed_loop`` in ``bands_file``, one entry per regime, written by
    ``benchmarks/closed_loop_held_out.py --bands-out``): per measured k of T, the relative T_eps error of the eps
    levels the real run reached after the observed steps (those before are the real run's own) and the loss at T.
    The open-loop bands do not apply: the closed loop starts from the real w_k.

    ``band`` is the measured k whose share k / T of the run is nearest this one's; the sentence quotes every
    measured k, and says where this k / T lies outside them. Where the closed loop was measured on other regimes
    only, the sentence says so and quotes the open loop's band as a reference, and ``band`` is None. ``flags`` and
    ``mode`` stay the prediction's; ``direction`` (an open-loop figure) is dropped.

    ``frozen``: the prediction was asked to keep the kernel frozen at w_k (``kernel_updates=()``). It quotes the
    frozen closed loop's own measurement of its regime (``closed_loop_frozen`` in ``bands_file``) where one was
    made, and otherwise the default closed loop's, saying that it was measured with ``kernel_updates='auto'``."""
    closed, measured, of, regimes = _closed_loop_bands(bands_file, regime, frozen=True) if frozen else (None,) * 4
    how = "" if closed is None else ", the kernel frozen at w_k"
    if closed is None:
        closed, measured, of, regimes = _closed_loop_bands(bands_file, regime)
    lead = _lead(trust["flags"], trust["mode"])
    head = f"{lead}; closed loop{how}, {observed} of {steps} steps observed"
    if not regimes:
        return _closed(trust, None, head, "no closed-loop band is packaged")
    if closed is None:
        return _closed(
            trust,
            None,
            head,
            f"the closed loop was measured on {' and '.join(regimes)} runs only, not on {regime} runs; the open "
            f"loop's band for these, as a reference: {trust['basis']}",
        )
    ks = " / ".join(str(k) for k, _ in measured)

    what = (
        f"on {closed['open_loop']['cases']} {regime} runs of the {len(closed['suites'])} suites written before they "
        f"ran, with {ks} of {of} steps observed, the levels the real run reached after them came within "
        f"{_per_k(measured, 'p95')} of its T_eps (95th percentile of the relative error; median "
        f"{_per_k(measured, 'median')}) and the loss at T a median {_per_k(measured, 'loss_at_T_median')} off "
        f"({_open_loop_beside(closed, measured)})"
    )
    if frozen and not how:
        what += ", measured with kernel_updates='auto', not this prediction's frozen kernel"
    share = observed / steps
    k_near, band = _nearest(measured, of, share)
    where = ""
    if share < measured[0][0] / of:
        where = f"; this run observes {share:.0%} of its steps, fewer than any measured ({measured[0][0]} of {of})"
    elif share > measured[-1][0] / of:
        where = f"; this run observes {share:.0%} of its steps, more than any measured ({measured[-1][0]} of {of})"
    return _closed(
        trust,
        band,
        head,
        f"{what}; nearest this run, {k_near} of {of}: {band['p95']:.0%} (median {band['median']:.0%}){where}",
    )


def closed_loop_hint(regime: str, steps: int, bands_file: Path = BANDS_FILE) -> str | None:
    """What observing real steps first (the closed loop: ``--observe K``, :func:`predict_closed_loop`) bought on the
    benchmark's runs of this ``regime`` (:func:`trust_regime`), for an open-loop prediction that is flagged: per
    packaged mode (``closed_loop``, the default kernel updates; ``closed_loop_frozen``, the kernel frozen at w_k) and
    measured k of T, the 95th percentile and median of the relative T_eps error on the levels the real run reached
    after the k steps, the cost against the real run and the open loop's p95 on the same levels where measured; and
    those k as the same shares of this run's ``steps`` (each at least 1 and below ``steps``). None where no closed
    loop of ``regime`` is packaged."""
    parts, ks_here = [], set()
    cases = None
    for frozen in (False, True):
        closed, measured, of, _ = _closed_loop_bands(bands_file, regime, frozen=frozen)
        measured = [(k, b) for k, b in measured if b.get("p95") is not None]
        if closed is None or not measured:
            continue
        cases = cases or closed["open_loop"]["cases"]
        # a mode measured on part of the runs says on how many
        runs = f"on {closed['open_loop']['cases']} of them, " if closed["open_loop"]["cases"] != cases else ""
        ks_here.update(min(max(round(k / of * steps), 1), steps - 1) for k, _ in measured)
        cost = (
            f", at a median {_per_k(measured, 'cost_median', '{:.2f}x')} the real run's cost"
            if all("cost_median" in b for _, b in measured)
            else ""
        )
        how = "with the kernel frozen at w_k (--kernel-updates none), " if frozen else ""
        same = _same_levels(measured)
        opened = "" if same is None else f"; the open loop from w0 on the same levels: {_per_k(same, 'p95')}"
        parts.append(
            f"{how}{runs}{' / '.join(str(k) for k, _ in measured)} of {of} steps observed came within "
            f"{_per_k(measured, 'p95')} (median {_per_k(measured, 'median')}{opened}){cost}"
        )
    if not parts or steps < 2:
        return None
    return (
        f"what observing real steps first bought (the closed loop, --observe K; predict_closed_loop) on the "
        f"benchmark's {cases} {regime} runs written before they ran, at the p95 of the relative T_eps error on the "
        f"levels left: {'; '.join(parts)}; the same shares of this run's {steps} steps: --observe "
        + " / ".join(str(k) for k in sorted(ks_here))
    )


def _open_loop_beside(closed: dict[str, Any], measured: list[tuple[int, dict]]) -> str:
    """The open loop from w0 on the closed loop's runs, for comparison: on the same levels as each measured k (those
    the real run reached after it; later levels are easier for both) where the band file has them, else on every
    level."""
    opened = closed["open_loop"]
    end = f"loss at T {opened['loss_at_T_median']:.0%}"
    same = _same_levels(measured)
    if same is not None:
        return (
            f"the open loop from w0 on the same levels: {_per_k(same, 'p95')} (median {_per_k(same, 'median')}), {end}"
        )
    return f"the open loop from w0: {opened['p95']:.0%} / median {opened['median']:.0%}, {end}"


def _same_levels(measured: list[tuple[int, dict]]) -> list[tuple[int, dict]] | None:
    """The open loop's figures on the levels each measured k was scored on (``open_loop_same_levels``, as (k, band)
    pairs like ``measured``); None where a band file does not carry them for every k."""
    if not all("open_loop_same_levels" in b for _, b in measured):
        return None
    return [(k, b["open_loop_same_levels"]) for k, b in measured]


def _per_k(measured: list[tuple[int, dict]], key: str, fmt: str = "{:.0%}") -> str:
    """One figure of every measured (k, band), in order of k, as "a / b / c" ("-" where it is None)."""
    return " / ".join("-" if b[key] is None else fmt.format(b[key]) for _, b in measured)


def _closed(trust: dict[str, Any], band: dict | None, head: str, basis: str) -> dict[str, Any]:
    """``trust`` with the closed loop's ``band`` and sentence (``head``: its opening; ``basis``: the rest), and
    without the open loop's ``direction``."""
    return trust | {"band": band, "direction": None, "text": f"{head}: {basis}", "basis": basis}


def _closed_loop_bands(
    bands_file: Path, regime: str, *, frozen: bool = False
) -> tuple[dict[str, Any] | None, list[tuple[int, dict]], int, list[str]]:
    """The packaged ``closed_loop`` entry of ``bands_file`` for ``regime`` (:func:`trust_regime`; with ``frozen``,
    the ``closed_loop_frozen`` entry: the closed loop with the kernel frozen at w_k), its measured (k, band) pairs in
    order of k, the runs' length T the k were observed of, and every regime measured (sorted); (None, [], 0,
    regimes) where none is packaged for ``regime``."""
    bands = _bands(Path(bands_file))
    packaged = (None if bands is None else bands.get("closed_loop_frozen" if frozen else "closed_loop")) or {}
    regimes = sorted(r for r, entry in packaged.items() if entry.get("observed"))
    closed = packaged.get(regime) if regime in regimes else None
    if closed is None:
        return None, [], 0, regimes
    measured = sorted(((int(k), b) for k, b in closed["observed"].items()), key=lambda kb: kb[0])
    return closed, measured, max(closed["steps"]), regimes


def _nearest(measured: list[tuple[int, dict]], of: int, share: float) -> tuple[int, dict]:
    """The measured (k, band) whose share k / ``of`` of the run is nearest ``share`` (the smaller k on a tie)."""
    return min(measured, key=lambda kb: (abs(kb[0] / of - share), kb[0]))


def closed_loop_level_note(
    observed: int, steps: int, regime: str, bands_file: Path = BANDS_FILE, *, frozen: bool = False
) -> str | None:
    """A warning for a closed-loop prediction: on which side of the real loss at T the benchmark's closed loops
    ended, per measured k (the ``regime``'s ``closed_loop`` entry in ``bands_file``; with ``frozen``, the kernel
    frozen at w_k, its ``closed_loop_frozen`` entry), and what to expect at the k nearest this run's share
    ``observed`` / ``steps``. None where nothing was measured for ``regime`` and this mode (the open loop's figures
    on the loss at T do not carry over: the closed loop starts from the real w_k; nor do those of another mode)."""
    closed, measured, of, _ = _closed_loop_bands(bands_file, regime, frozen=frozen)
    if closed is None or any("loss_at_T_above" not in b for _, b in measured):
        return None
    k_near, band = _nearest(measured, of, observed / steps)
    lean = {
        1: "expect the real run to end lower",
        -1: "expect the real run to end higher",
        0: "no side to expect",
    }[_side(band["loss_at_T_above"] / band["cases"])]
    how = ", the kernel frozen at w_k" if frozen else ""
    return (
        f"closed loop{how}: on the benchmark's {closed['regime']} runs ({band['cases']}, from the suites written "
        "before they ran) the predicted loss at T ended above the real one on "
        + _per_k(measured, "loss_at_T_above", "{}")
        + f" of them with {' / '.join(str(k) for k, _ in measured)} of {of} steps observed (predicted / real, median "
        + _per_k(measured, "loss_at_T_ratio_median", "{:.2f}x")
        + f"); nearest this run, {k_near} of {of}: {lean}"
    )


EDGE_BINS = (1.0, 1.5, 2.0, 3.0)
"""Bounds of the bins of lr over the stability edge at w0 (``Prediction.edge_ratio``, 1 at the edge) in which
``benchmarks/trust_bands.py`` counts what the benchmark's real runs past their edge did (``edge_outcomes``); the last
bin is open. Fixed before unseen53 (the first suite far past the edge) ran."""

EDGE_OUTCOMES = ("converged", "stalled", "diverged")
"""What a real run did by step T (``bench.run_outcome``): diverged (its loss at T above its initial loss, not
finite, or the run stopped as diverged), stalled (above half its initial loss), else converged."""


def edge_bin(edge_ratio: float | None) -> int | None:
    """The index of the :data:`EDGE_BINS` bin holding ``edge_ratio`` (lower bound open, upper closed: 1.5 is in
    the first), or None at or below the edge (1) and for None or NaN."""
    if edge_ratio is None or not edge_ratio > EDGE_BINS[0]:
        return None
    return sum(edge_ratio > b for b in EDGE_BINS[1:])


def _bin_name(i: int) -> str:
    hi = EDGE_BINS[i + 1] if i + 1 < len(EDGE_BINS) else None
    return f"{EDGE_BINS[i]:g}-{hi:g}x" if hi is not None else f"more than {EDGE_BINS[i]:g}x"


def _outcomes(counts: dict[str, int]) -> str:
    total = sum(counts.get(o, 0) for o in EDGE_OUTCOMES)
    return (
        f"{counts.get('converged', 0)} of {total} converged, {counts.get('stalled', 0)} stalled (loss at T above "
        f"half the initial), {counts.get('diverged', 0)} diverged (above the initial)"
    )


def edge_outcome_note(edge_ratio: float | None, regime: str, bands_file: Path = BANDS_FILE) -> str | None:
    """What the benchmark's real runs did at about this lr over their stability edge at w0 (``edge_ratio``, in the
    same :data:`EDGE_BINS` bin), for a prediction past its edge: those of its ``regime`` (:func:`trust_regime`;
    whether a run past its edge recovers depends on it: full-batch GD did far past it, momentum did not), then all
    those of the same loss (the last part of ``regime``) where they are more. Counted by
    ``benchmarks/trust_bands.py`` (``edge_outcomes``: per regime, per bin, the runs that converged, stalled or
    diverged, :data:`EDGE_OUTCOMES`). None at or below the edge, or where no run of the loss is in the bin."""
    i = edge_bin(edge_ratio)
    bands = _bands(Path(bands_file))
    table = None if bands is None else bands.get("edge_outcomes")
    if i is None or table is None or tuple(table["bins"]) != EDGE_BINS:  # counted in other bins: not these
        return None
    loss = regime.rsplit("-", 1)[-1]
    same_loss = [rows[i] for r, rows in sorted(table["runs"].items()) if r.rsplit("-", 1)[-1] == loss]
    pooled = {o: sum(row.get(o, 0) for row in same_loss) for o in EDGE_OUTCOMES}
    if not sum(pooled.values()):
        return None
    name = {"ce": "cross-entropy", "mse": "MSE"}.get(loss, loss)
    own = table["runs"].get(regime, [{}] * len(EDGE_BINS))[i]
    n_own = sum(own.get(o, 0) for o in EDGE_OUTCOMES)
    where = f"at {_bin_name(i)} the stability edge at w0"
    if not n_own:
        return f"no {regime} run of the benchmark was {where}; its {name} runs there: {_outcomes(pooled)}"
    note = f"the benchmark's {regime} runs {where}: {_outcomes(own)}"
    return note + (f"; all its {name} runs there: {_outcomes(pooled)}" if n_own < sum(pooled.values()) else "")


LOSS_BAND_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""The shares t / T of a run's length at which ``benchmarks/trust_bands.py`` measures how far the real loss lay
from the predicted one (``loss_band`` in trust_bands.json): early on densely, where the curves move fastest."""

LOSS_BAND_LEVEL = 0.9
"""The share of benchmark runs a loss band holds at each of :data:`LOSS_BAND_FRACTIONS` (5% below, 5% above)."""

LOSS_BAND_MIN_CASES = 19
"""The fewest runs a loss band may rest on: with fewer, the split-conformal order statistics of a 90% band
(the ceil(0.95 (n + 1))-th smallest of n) fall off the sample and the band is unbounded."""


def _cell_info(table: dict[str, Any], cell: dict[str, Any], mode: str, regime: str, key: str) -> dict[str, Any]:
    """What a band's ``info`` says of the packaged cell it was read from, and how it held suite by suite."""
    return {
        "mode": mode,
        "regime": regime,
        "cell": key,
        "level": table["level"],
        "cases": cell["cases"],
        "suites": len(table["suites"]),
        "held_out_coverage": cell.get("held_out_coverage"),
    }


def loss_band(
    loss: Iterable[float], mode: str, regime: str, flagged: bool, bands_file: Path = BANDS_FILE
) -> tuple[tuple[float, ...], tuple[float, ...], dict[str, Any]] | None:
    """Where the real loss lay around predictions like this one on the benchmark: ``(low, high, info)``.

    ``loss``: the predicted curve L_0..L_T (optimizer steps). The band is the packaged ``loss_band`` of the
    cell (``mode``: ``frozen`` | ``updates``; ``regime``: :func:`trust_regime`; ``flagged``: whether the trust
    signal raised a flag): at each share s of :data:`LOSS_BAND_FRACTIONS`, the 5% and 95% split-conformal
    bounds of log(L_real(sT) / L_pred(sT)) over the cell's benchmark runs, applied here as
    L_pred(t) exp(q(t / T)), with q linear in t / T between the shares and 0 at step 0 (both curves start at
    the same f0). So it is a band per step, not for the whole curve at once, and it says how the method fared
    on the benchmark's runs, not how this run's own noise spreads (that is ``loss_low``/``loss_high``). An
    unbounded side (a cell with real runs that diverged) is inf (high) or 0 (low). ``info``: the cell, its
    number of runs and suites, and how often the band held when each suite was left out of it in turn (at
    every share, and at T). None when no band is packaged for the cell (fewer than
    :data:`LOSS_BAND_MIN_CASES` runs), or the predicted curve is not finite. float64 arithmetic.

    The cells were measured on the benchmark's default predictions (``kernel_updates="auto"``; mode ``frozen``:
    the kernel frozen at w0), mostly of T = 150 steps; a prediction made with other options reads its mode's
    band all the same."""
    curve = [float(v) for v in loss]
    bands = _bands(Path(bands_file))
    table = None if bands is None else bands.get("loss_band")
    if table is None or tuple(table["fractions"]) != LOSS_BAND_FRACTIONS or len(curve) < 2:
        return None
    if not all(math.isfinite(v) for v in curve):
        return None
    key = "flagged" if flagged else "unflagged"
    cell = table["cells"].get(mode, {}).get(regime, {}).get(key)
    if cell is None:
        return None
    steps = len(curve) - 1
    shares = (0.0, *LOSS_BAND_FRACTIONS)

    def at(bounds: list[float | None], t: int, unbounded: float) -> float:
        s = t / steps
        q = (0.0, *(unbounded if b is None else float(b) for b in bounds))
        j = next(i for i in range(1, len(shares)) if s <= shares[i])
        lo, hi = q[j - 1], q[j]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return unbounded
        w = (s - shares[j - 1]) / (shares[j] - shares[j - 1])
        return lo + w * (hi - lo)

    def scaled(v: float, q: float) -> float:
        # an unbounded side stays unbounded even where the predicted loss is 0 (0 x inf would be NaN)
        return math.inf if q == math.inf else (0.0 if q == -math.inf else v * math.exp(q))

    low = tuple(scaled(v, at(cell["low"], t, -math.inf)) for t, v in enumerate(curve))
    high = tuple(scaled(v, at(cell["high"], t, math.inf)) for t, v in enumerate(curve))
    info = {
        **_cell_info(table, cell, mode, regime, key),
        "held_out_coverage_at_T": cell.get("held_out_coverage_at_T"),
        "ratio_at_T": [low[-1] / curve[-1] if curve[-1] > 0 else None, high[-1] / curve[-1] if curve[-1] > 0 else None],
    }
    return low, high, info


def loss_band_text(info: dict[str, Any], final_low: float, final_high: float) -> str:
    """A sentence on a prediction's loss band (``info`` from :func:`loss_band`) for the user."""
    cell = f"{info['regime']}, {info['mode']}, {info['cell']}"
    high = "unbounded (some diverged)" if not math.isfinite(final_high) else f"{final_high:.4g}"
    held = info.get("held_out_coverage")
    check = (
        ""
        if held is None
        else f"; with each suite left out of the band in turn it held {held:.0%} of the runs (at T "
        f"{info['held_out_coverage_at_T']:.0%})"
    )
    return (
        f"at T {final_low:.4g} to {high}: at each step the band held the real loss of {info['level']:.0%} of the "
        f"{info['cases']} benchmark runs alike ({cell}; {info['suites']} suites){check}"
    )


def steps_target(kind: str, value: float) -> str:
    """The key of a steps-band target in trust_bands.json: ``"level 0.5"`` (steps to 0.5 L_0), ``"eps 0.1"``."""
    return f"{kind} {value:g}"


def steps_label(kind: str, value: float) -> str:
    """How a steps-band target reads to a user: ``"0.5 L0"`` (steps to 0.5 L_0), ``"T_eps 0.1"``."""
    return f"{value:g} L0" if kind == "level" else f"T_eps {value:g}"


def steps_band(
    eps_times: Iterable[EpsTime],
    level_times: Iterable[LevelTime],
    steps: int,
    mode: str,
    regime: str,
    flagged: bool,
    bands_file: Path = BANDS_FILE,
) -> tuple[tuple[StepsBand, ...], dict[str, Any]] | None:
    """Where the real run's steps to the loss levels and the eps levels lay around predictions like this one on
    the benchmark: ``(bands, info)``.

    ``eps_times`` (the ``decrease`` definition; those on the loss are read) and ``level_times``: the prediction's,
    over a budget of ``steps``. For each target the prediction reaches and the cell (``mode``, ``regime``,
    ``flagged``, as :func:`loss_band`) has a band for, the band is the packaged 5% and 95% split-conformal
    bounds q_lo, q_hi of log(t_real / t_pred) over the cell's benchmark runs whose prediction reached the
    target (a real run that never got there counts as +inf), applied as [floor(t_pred e^q_lo),
    ceil(t_pred e^q_hi)] steps (None for an unbounded high side), a T_eps band held within [1, T] (a run's own
    T_eps never passes T; a level band may: the real run may not get there). So each band holds the real steps of 90% of
    the runs alike, target by target, not all targets at once. ``info``: the cell, its number of runs and
    suites, and how often the bands held with each suite left out of them in turn. None when no band is packaged
    for the cell or the prediction reaches none of its targets. float64 arithmetic; steps are optimizer steps."""
    bands = _bands(Path(bands_file))
    table = None if bands is None else bands.get("steps_band")
    if table is None:
        return None
    key = "flagged" if flagged else "unflagged"
    cell = table["cells"].get(mode, {}).get(regime, {}).get(key)
    if cell is None:
        return None
    reached = [("level", lv.level, lv.steps) for lv in level_times]
    reached += [
        ("eps", e.eps, e.steps) for e in eps_times if e.basis == "loss" and e.definition == EpsDefinition.DECREASE
    ]
    out = []
    for kind, value, predicted in reached:
        bounds = cell["targets"].get(steps_target(kind, value))
        # a low bound of None: at least 95% of the runs alike never got there within their budget; no band in steps
        if predicted is None or bounds is None or bounds["low"] is None:
            continue
        # outward to whole steps; the tolerance keeps float rounding of an exact ratio from widening it a step
        low = max(1, math.floor(predicted * math.exp(bounds["low"]) + 1e-9))
        high = None if bounds["high"] is None else math.ceil(predicted * math.exp(bounds["high"]) - 1e-9)
        if kind == "eps":
            # a run's own T_eps is at most T (L_T is within any eps of itself): a band need not pass it
            low = min(low, steps)
            high = None if high is None else min(high, steps)
        out.append(StepsBand(kind, value, predicted, low, high, bounds["cases"]))
    if not out:
        return None
    info = {**_cell_info(table, cell, mode, regime, key), "steps": steps}
    return tuple(out), info


def steps_band_text(bands: Iterable[StepsBand], info: dict[str, Any]) -> str:
    """A sentence on a prediction's steps bands (``bands``, ``info`` from :func:`steps_band`) for the user."""

    def one(b: StepsBand) -> str:
        what = steps_label(b.target, b.value)
        if b.high is None:
            high = "unbounded (some never got there)"
        else:
            high = f"{b.high}" + (" (past T)" if b.high > info["steps"] else "")
        return f"{what} {b.low}-{high} (predicted {b.predicted})"

    return f"real steps {', '.join(one(b) for b in bands)}: {steps_band_basis(info)}"


def steps_band_basis(info: dict[str, Any]) -> str:
    """What a prediction's steps bands rest on (``info`` from :func:`steps_band`), for the user."""
    cell = f"{info['regime']}, {info['mode']}, {info['cell']}"
    held = info.get("held_out_coverage")
    check = "" if held is None else f"; with each suite left out of the bands in turn they held {held:.0%}"
    return (
        f"each band held {info['level']:.0%} of the {info['cases']} benchmark runs alike ({cell}; "
        f"{info['suites']} suites){check}"
    )
