"""``trainless models`` and ``trainless datasets``: what is built in."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

from ..data import DatasetInfo, list_datasets
from ..models import ModelInfo, list_models
from ._common import add_format_argument, render_json


@dataclass(frozen=True)
class ListingReport:
    models: tuple[ModelInfo, ...] = ()
    datasets: tuple[DatasetInfo, ...] = ()


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the built-in models",
        description="List the built-in models. Any other model: --model package.module:factory.",
    )
    add_format_argument(p)
    p.set_defaults(handler=lambda a: render_listing(run_models(), a.format))
    p = sub.add_parser(
        "datasets",
        help="list the built-in datasets",
        description="List the built-in datasets. Any other data: --data package.module:factory.",
    )
    add_format_argument(p)
    p.set_defaults(handler=lambda a: render_listing(run_datasets(), a.format))


def run_models() -> ListingReport:
    return ListingReport(models=list_models())


def run_datasets() -> ListingReport:
    return ListingReport(datasets=list_datasets())


def render_listing(report: ListingReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(
            {"models": [asdict(m) for m in report.models], "datasets": [asdict(d) for d in report.datasets]}
        )
    lines = []
    for m in report.models:
        lines.append(f"{m.name:<20} {m.default_resolution:>4} px  {m.description}; weights: {m.pretrained}")
    for d in report.datasets:
        lines.append(
            f"{d.name:<10} {d.num_classes:>3} classes {d.num_samples:>5} images "
            f"({d.native_px} px)  {d.description}; from {d.source}"
        )
    return "\n".join(lines)
