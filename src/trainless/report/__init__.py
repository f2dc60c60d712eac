"""Reports: plots and tables of runs, predictions and benchmark suites."""

from ._bench import write_bench_report
from ._early import plot_early_curves, plot_early_horizons
from ._golikov import plot_golikov_assumption, plot_golikov_bounds, plot_golikov_optimistic
from ._plots import plot_prediction, plot_run
from ._spectral import plot_extrapolation, plot_spectral

__all__ = [
    "plot_early_curves",
    "plot_early_horizons",
    "plot_extrapolation",
    "plot_golikov_assumption",
    "plot_golikov_bounds",
    "plot_golikov_optimistic",
    "plot_prediction",
    "plot_run",
    "plot_spectral",
    "write_bench_report",
]
