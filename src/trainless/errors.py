"""Exceptions raised by trainless.

Every check on user input raises :class:`TrainlessError` (a ``ValueError``) with a message that names the
problem and the value given, before any expensive work starts.
"""

from __future__ import annotations


class TrainlessError(ValueError):
    """Bad input to trainless: the message names what is wrong and the value that was given."""


class ConfigError(TrainlessError):
    """A config field outside its declared constraint."""
