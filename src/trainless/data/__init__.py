"""Data: built-in digit datasets (offline), user data, seeded class subsets, batch orders."""

from ._batches import batch_schedule
from ._datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DatasetInfo,
    ImageData,
    check_dataset_name,
    check_finite_data,
    from_tensors,
    list_datasets,
    load_dataset,
    load_test_split,
    sample_classes,
    subset_per_class,
    to_model_images,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DatasetInfo",
    "ImageData",
    "batch_schedule",
    "check_dataset_name",
    "check_finite_data",
    "from_tensors",
    "list_datasets",
    "load_dataset",
    "load_test_split",
    "sample_classes",
    "subset_per_class",
    "to_model_images",
]
