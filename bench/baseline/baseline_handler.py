"""Baseline handler: the "simple way", as TorchServe's built-in ``image_classifier`` does it.

TorchServe's own handler cannot be used as is here (its VisionHandler imports captum, which
is not installed), so this is its preprocess/postprocess inlined: PIL decode at full size,
torchvision Resize(256) + CenterCrop(224) + ToTensor + Normalize, the eager fp32 PyTorch
model loaded by BaseHandler from the model file and state dict, softmax, top classes mapped
through index_to_name.json. No ONNX, no int8, no JPEG draft decode; batch size from the
model config (1 by default). Normalisation is the model's (0.5), not ImageNet's, so the
verdicts are meaningful; the cost is the same.
"""

from __future__ import annotations

import io
from typing import Any

import torch
from PIL import Image
from torch.nn import functional
from torchvision import transforms
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import map_class_to_label


class BaselineImageClassifier(BaseHandler):
    topk = 3
    image_processing = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        ]
    )

    def preprocess(self, data: list[dict[str, Any]]) -> torch.Tensor:
        images = []
        for row in data:
            image: bytes = row.get("data") or row.get("body") or b""
            # convert("RGB"): image_classifier would fail on the mix's RGBA PNGs otherwise.
            picture = Image.open(io.BytesIO(image)).convert("RGB")
            images.append(self.image_processing(picture))
        return torch.stack(images).to(self.device)

    def postprocess(self, data: torch.Tensor) -> list[Any]:
        probabilities, classes = torch.topk(functional.softmax(data, dim=1), self.topk, dim=1)
        return list(map_class_to_label(probabilities.tolist(), self.mapping, classes.tolist()))
