"""Pieces every subcommand shares: output format and the error exit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_format_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("table", "json"), default="table", help="how to print the result (default: table)"
    )


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress bars on stderr (default: when stderr is a terminal)",
    )


def want_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def render_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, allow_nan=True)


def render_rows(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
