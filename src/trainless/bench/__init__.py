"""Bench: predicted vs real fine-tuning, compared figure by figure."""

from ._compare import Comparison, EpsComparison, LevelComparison, compare

__all__ = ["Comparison", "EpsComparison", "LevelComparison", "compare"]
