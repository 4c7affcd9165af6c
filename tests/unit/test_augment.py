"""Training augmentations: seeded, the right shape, and each step really applied."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

from ai_detector.inference.preprocess import ImageSpec, normalize
from ai_detector.pipeline.augment import augment, jpeg_recompress, random_resized_crop
from tests.conftest import textured_image

SPEC = ImageSpec(input_size=64, resize_size=72, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_a_view_is_model_input_and_the_seed_repeats_it():
    image = textured_image((160, 120), seed=3)
    for seed in range(12):  # every random step must draw from the given generator
        first = augment(image, SPEC, random.Random(seed))
        assert first.shape == (3, 64, 64) and first.dtype == np.float32
        np.testing.assert_array_equal(first, augment(image, SPEC, random.Random(seed)))
    assert not np.array_equal(first, augment(image, SPEC, random.Random(99)))


def test_the_crop_is_square_within_the_image_and_40_to_100_percent_of_the_short_side():
    # Red is the column, green the row: a crop's range of each is the side it covers.
    rows, columns = np.mgrid[0:100, 0:200]
    canvas = np.stack([columns, rows, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    sides = []
    for seed in range(40):
        crop = np.asarray(random_resized_crop(Image.fromarray(canvas), 32, random.Random(seed)))
        assert crop.shape == (32, 32, 3)
        width = int(crop[..., 0].max()) - int(crop[..., 0].min())
        height = int(crop[..., 1].max()) - int(crop[..., 1].min())
        assert abs(width - height) <= 3  # square
        sides.append(height)
    assert min(sides) >= 40 - 4 and max(sides) <= 100
    assert max(sides) - min(sides) > 20  # the size really varies


def test_jpeg_recompression_loses_detail_as_quality_drops():
    image = textured_image((96, 96), seed=1)
    original = np.asarray(image, np.float32)
    errors = [
        np.abs(np.asarray(jpeg_recompress(image, q), np.float32) - original).mean()
        for q in (95, 30)
    ]
    assert 0 < errors[0] < errors[1]


def test_every_step_can_happen_and_the_view_ends_in_normalize(monkeypatch):
    seen = []
    monkeypatch.setattr(
        "ai_detector.pipeline.augment.jpeg_recompress",
        lambda image, quality: seen.append(quality) or image,
    )
    image = textured_image((96, 96), seed=2)
    views = [augment(image, SPEC, random.Random(s), (60, 70), 1.0) for s in range(20)]
    assert seen and all(60 <= q <= 70 for q in seen)
    # Never more than normalize's range: a view is what serving feeds the model.
    low = normalize(Image.new("RGB", (64, 64), (0, 0, 0)), SPEC).min()
    high = normalize(Image.new("RGB", (64, 64), (255, 255, 255)), SPEC).max()
    assert all(low <= v.min() and v.max() <= high for v in views)


def test_blur_softens_the_views():
    image = textured_image((96, 96), seed=4)

    def roughness(blur: float) -> float:
        views = [augment(image, SPEC, random.Random(s), (100, 100), blur) for s in range(12)]
        return float(np.mean([np.abs(np.diff(v, axis=2)).mean() for v in views]))

    assert roughness(1.0) < 0.9 * roughness(0.0)
