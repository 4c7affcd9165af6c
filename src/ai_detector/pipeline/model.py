"""The detector network: EfficientNet-Lite0 with multi-depth pooled features and a linear head.

Real-vs-fake evidence is largely low-level (noise, texture, upsampling traces), which
the ImageNet head's last layer has mostly abstracted away. So the head sees the
globally pooled output of several stages (``taps``) beside the final 1280 features.
Features are standardised with statistics from the training set, stored as buffers,
so the exported ONNX graph needs nothing outside itself.

    python -c "from ai_detector.pipeline.model import DetectorNet; print(DetectorNet(2))"
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ai_detector.pipeline.backbone import create_backbone

DEFAULT_TAPS = (2, 4, 6)


class DetectorNet(nn.Module):
    # Declared for type checkers: nn.Module's __getattr__ hides buffer and timm types.
    backbone: Any
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    classifier: nn.Linear

    def __init__(
        self, num_classes: int, taps: tuple[int, ...] = DEFAULT_TAPS, pretrained: bool = True
    ) -> None:
        super().__init__()
        self.backbone = create_backbone(pretrained=pretrained)
        self.backbone.classifier = nn.Identity()
        self.taps = tuple(taps)
        widths = [
            self.backbone.blocks[i][-1].conv_pwl.out_channels
            if hasattr(self.backbone.blocks[i][-1], "conv_pwl")
            else self.backbone.blocks[i][-1].conv_pw.out_channels
            for i in self.taps
        ]
        self.feature_dim = sum(widths) + self.backbone.num_features
        self.register_buffer("feature_mean", torch.zeros(self.feature_dim))
        self.register_buffer("feature_std", torch.ones(self.feature_dim))
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised pooled features (N, feature_dim)."""
        backbone = self.backbone
        x = backbone.bn1(backbone.conv_stem(x))
        pooled = []
        for index, block in enumerate(backbone.blocks):
            x = block(x)
            if index in self.taps:
                pooled.append(x.mean(dim=(2, 3)))
        x = backbone.bn2(backbone.conv_head(x))
        pooled.append(x.mean(dim=(2, 3)))
        return (torch.cat(pooled, dim=1) - self.feature_mean) / self.feature_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def set_feature_statistics(self, raw_features: torch.Tensor) -> None:
        """Standardise with these (unstandardised) training features from now on."""
        std = raw_features.std(dim=0)
        # Channels that barely vary in training (dead activations) would turn tiny test-time
        # deviations into huge inputs: give them at least a tenth of the typical spread.
        self.feature_mean.copy_(raw_features.mean(dim=0))
        self.feature_std.copy_(std.clamp_min(0.1 * float(std.median()) + 1e-6))

    @torch.no_grad()
    def fold_standardization(self) -> None:
        """Fold the feature statistics into the classifier (same outputs, simpler graph).

        The exported graph then needs no per-feature scaling, which also keeps int8
        quantisation away from the large dynamic range that scaling creates.
        """
        weight = self.classifier.weight / self.feature_std
        self.classifier.bias.sub_(weight @ self.feature_mean)
        self.classifier.weight.copy_(weight)
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
