"""A tiny CNN with BatchNorm for fast tests (randomly initialised from a seed, not pretrained)."""

from __future__ import annotations

from torch import nn


class TinyCNN(nn.Module):
    """conv3x3(3->8)-BN-ReLU, conv3x3 stride 2 (8->16)-BN-ReLU, global average pool, Linear(16->C).

    Input (N, 3, R, R) for any R >= 2; output (N, C) logits. About 1.4k parameters plus the head.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 8) -> None:
        super().__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x):  # type: ignore[no-untyped-def]
        x = self.block2(self.block1(x))
        return self.head(self.pool(x).flatten(1))
