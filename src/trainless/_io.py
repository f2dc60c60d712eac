"""Atomic file output: write to a temporary file beside the target, then move it into place.

An interrupted run therefore leaves either the previous file or the complete new one, never half of it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import TrainlessError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success rename it onto ``path``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file 0600; give it the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def write_csv(
    path: str | os.PathLike[str], rows: Iterable[dict[str, Any]], fieldnames: Sequence[str] | None = None
) -> str:
    """Write dict rows as CSV (a header, then one line per row; ``fieldnames`` default: the first row's keys),
    atomically. Returns the text written."""
    rows = list(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fieldnames if fieldnames is not None else rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(path, buf.getvalue())
    return buf.getvalue()


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` (for savefig and the like)."""
    with atomic_path(path) as tmp:
        writer(tmp)


def ensure_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` if needed and check that a file can be written in it; raise TrainlessError if not."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".trainless-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainlessError(f"output directory {str(out)!r} cannot be written: {exc.strerror or exc}") from exc
    return out
