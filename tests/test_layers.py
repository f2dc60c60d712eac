"""DESIGN.md's layering: a layer imports only the layers below it."""

from __future__ import annotations

import re
from pathlib import Path

import trainless

ORDER = [
    "models",
    "data",
    "kernel",
    "dynamics",
    "finetune",
    "predict",
    "extrapolate",
    "bench",
    "theory",
    "report",
    "cli",
]


def test_lower_layers_never_import_upper_ones():
    root = Path(trainless.__file__).parent
    bad = []
    for f in root.rglob("*.py"):
        parts = f.relative_to(root).parts
        if len(parts) < 2 or parts[0] not in ORDER:
            continue
        mine = ORDER.index(parts[0])
        for name in re.findall(r"from \.\.(\w+)", f.read_text()):
            if name in ORDER and ORDER.index(name) > mine:
                bad.append(f"{'/'.join(parts)} imports {name}")
    assert not bad, bad
    assert (root / "kernel").is_dir() and (root / "models").is_dir()
