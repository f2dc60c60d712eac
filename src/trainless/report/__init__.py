"""Reports: plots and tables of runs, predictions and benchmark suites."""

from ._bench import write_bench_report
from ._plots import plot_prediction, plot_run

__all__ = ["plot_prediction", "plot_run", "write_bench_report"]
