"""Reports: plots and tables of runs and predictions."""

from ._plots import plot_run

__all__ = ["plot_run"]
