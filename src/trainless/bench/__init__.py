"""Bench: predicted vs real fine-tuning, compared figure by figure, over suites of cases."""

from ._baseline import extrapolate, steps_to_match
from ._compare import Comparison, EpsComparison, LevelComparison, compare
from ._run import (
    CSV_COLUMNS,
    MISSED_EPS_ERROR,
    UPDATED,
    UPDATED_AUTO,
    auto_comparison,
    csv_rows,
    quantile,
    run_case,
    run_suite,
    scored_eps_errors,
    summarize,
)
from ._suite import Case, Suite, load_suite, parse_suite

__all__ = [
    "CSV_COLUMNS",
    "MISSED_EPS_ERROR",
    "UPDATED",
    "UPDATED_AUTO",
    "Case",
    "Comparison",
    "EpsComparison",
    "LevelComparison",
    "Suite",
    "auto_comparison",
    "compare",
    "csv_rows",
    "extrapolate",
    "load_suite",
    "parse_suite",
    "quantile",
    "run_case",
    "run_suite",
    "scored_eps_errors",
    "steps_to_match",
    "summarize",
]
