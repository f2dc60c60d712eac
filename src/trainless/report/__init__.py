"""Reports: plots and tables of runs and predictions."""

from ._plots import plot_prediction, plot_run

__all__ = ["plot_prediction", "plot_run"]
