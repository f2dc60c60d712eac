from __future__ import annotations

import pytest

from trainless import load_dataset, load_model


@pytest.fixture
def digits16():
    """5 classes x 12 images of sklearn digits at 16 px (60 samples)."""
    return load_dataset("digits", classes=5, per_class=12, seed=1, resolution=16)


@pytest.fixture
def tiny(digits16):
    return load_model("tiny-cnn", digits16.num_classes, seed=3)
