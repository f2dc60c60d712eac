"""Loading the model and the data subset a configuration names (shared by the CLI and the benchmark)."""

from __future__ import annotations

from ..data import ImageData, load_dataset
from ..models import LoadedModel, default_resolution, load_model

# A user model declares no input size; its images are rendered at this one.
FALLBACK_RESOLUTION = 64


def load_model_and_data(
    model: str,
    data: str,
    *,
    classes: int,
    per_class: int,
    resolution: int | None,
    data_seed: int,
    seed: int,
) -> tuple[LoadedModel, ImageData, int | None]:
    """The seeded class subset of ``data`` and ``model`` with a fresh head seeded by ``seed``, at
    ``resolution`` px (None: the built-in model's default). Returns them and the resolution the model was
    built for (None for a user model, whose images come at 64 px)."""
    resolution = resolution if resolution is not None else default_resolution(model)
    subset = load_dataset(
        data,
        classes=classes,
        per_class=per_class,
        seed=data_seed,
        resolution=resolution if resolution is not None else FALLBACK_RESOLUTION,
    )
    return load_model(model, subset.num_classes, resolution=resolution, seed=seed), subset, resolution
