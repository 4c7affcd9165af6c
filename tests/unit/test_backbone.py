"""The offline ImageNet weights: key mapping proven against the original implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ai_detector.inference.preprocess import ImageSpec, preprocess_image
from ai_detector.pipeline.backbone import (
    create_backbone,
    map_efficientnet_pytorch_keys,
    pretrained_weights_path,
)
from ai_detector.pipeline.model import DetectorNet

# ImageNet classes 281-287 are the domestic and wild cats (tabby, tiger cat, Persian,
# Siamese, Egyptian cat, cougar, lynx).
CATS = set(range(281, 288))


@pytest.fixture(scope="module")
def backbone():
    return create_backbone()


def test_same_logits_as_the_original_efficientnet_lite(backbone):
    original_module = pytest.importorskip("efficientnet_lite_pytorch")
    original = original_module.EfficientNet.from_name("efficientnet-lite0")
    original.load_state_dict(
        torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    )
    original.eval()
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(original(x), backbone(x), atol=1e-4)


def test_sensible_imagenet_top5_on_a_real_photo(backbone):
    skimage_data = pytest.importorskip("skimage.data")
    photo = Image.fromarray(skimage_data.chelsea())  # a photo of a tabby cat
    x = torch.from_numpy(preprocess_image(photo, ImageSpec()))[None]
    with torch.no_grad():
        top5 = backbone(x).softmax(dim=1).topk(5).indices[0].tolist()
    assert top5[0] in CATS
    assert len(CATS.intersection(top5)) >= 3


def test_unexpected_keys_are_refused():
    with pytest.raises(KeyError, match="_mystery"):
        map_efficientnet_pytorch_keys({"_mystery.weight": torch.zeros(1)}, [])


def test_folding_standardisation_keeps_the_outputs():
    model = DetectorNet(3, pretrained=False).eval()
    raw = torch.randn(64, model.feature_dim) * 3 + 1
    raw[:, 0] = 0.5  # a dead channel: its spread must not be ~0
    model.set_feature_statistics(raw)
    assert float(model.feature_std[0]) > 1e-3
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        before = model(x)
        model.fold_standardization()
        after = model(x)
    assert np.allclose(before.numpy(), after.numpy(), atol=1e-4)
    assert float(model.feature_std.min()) == 1.0
