"""Training augmentations: seeded, the right shape, and each step really applied."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from ai_detector.inference.preprocess import ImageSpec, normalize
from ai_detector.pipeline.augment import augment, jpeg_recompress, random_resized_crop, reencode
from tests.conftest import repo_params, textured_image

SPEC = ImageSpec(input_size=64, resize_size=72, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
PARAMS = repo_params("train")


def settings(**changes):
    return repo_params("train", **changes)


def test_a_view_is_model_input_and_the_seed_repeats_it():
    image = textured_image((160, 120), seed=3)
    for seed in range(12):  # every random step must draw from the given generator
        first = augment(image, SPEC, random.Random(seed), PARAMS)
        assert first.shape == (3, 64, 64) and first.dtype == np.float32
        np.testing.assert_array_equal(first, augment(image, SPEC, random.Random(seed), PARAMS))
    assert not np.array_equal(first, augment(image, SPEC, random.Random(99), PARAMS))


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
    steps = settings(jpeg_quality=(60, 70), blur_probability=1.0, reshare_probability=0.0)
    views = [augment(image, SPEC, random.Random(s), steps) for s in range(20)]
    assert seen and all(60 <= q <= 70 for q in seen)
    # Never more than normalize's range: a view is what serving feeds the model.
    low = normalize(Image.new("RGB", (64, 64), (0, 0, 0)), SPEC).min()
    high = normalize(Image.new("RGB", (64, 64), (255, 255, 255)), SPEC).max()
    assert all(low <= v.min() and v.max() <= high for v in views)


def test_noise_roughens_the_views_and_its_seed_repeats_it():
    image = Image.new("RGB", (96, 96), (120, 130, 140))  # flat: any texture is the noise

    def views(noise: float) -> list[np.ndarray]:
        steps = settings(
            jpeg_quality=(100, 100),
            blur_probability=0.0,
            noise_probability=noise,
            reshare_probability=0.0,
        )
        return [augment(image, SPEC, random.Random(s), steps) for s in range(8)]

    assert all(v.std(axis=(1, 2)).max() < 1e-3 for v in views(0.0))
    noisy = views(1.0)
    assert all(v.std(axis=(1, 2)).min() > 0.01 for v in noisy)
    assert all(np.array_equal(a, b) for a, b in zip(noisy, views(1.0), strict=True))


def test_blur_softens_the_views():
    image = textured_image((96, 96), seed=4)

    def roughness(blur: float) -> float:
        steps = settings(jpeg_quality=(100, 100), blur_probability=blur, reshare_probability=0.0)
        views = [augment(image, SPEC, random.Random(s), steps) for s in range(12)]
        return float(np.mean([np.abs(np.diff(v, axis=2)).mean() for v in views]))

    assert roughness(1.0) < 0.9 * roughness(0.0)


def test_resharing_draws_every_format_and_shrinks_the_whole_image_within_the_range(monkeypatch):
    saved = []
    real_reencode = reencode

    def spy(image, file_format, quality):
        saved.append((file_format, image.size, quality))
        return real_reencode(image, file_format, quality)

    monkeypatch.setattr("ai_detector.pipeline.augment.reencode", spy)
    image = textured_image((200, 100), seed=5)
    steps = settings(reshare_probability=1.0, rescale=(0.5, 0.8), jpeg_quality=(70, 90))
    for seed in range(30):
        augment(image, SPEC, random.Random(seed), steps)
    # The late JPEG step of the 64 px view goes through reencode too: only whole images here.
    whole = [entry for entry in saved if entry[1] != (64, 64)]
    assert {f for f, _, _ in whole} == {"JPEG", "WEBP", "PNG"}
    widths = [size[0] for _, size, _ in whole]
    assert min(widths) >= 100 and max(widths) <= 160 and max(widths) - min(widths) > 20
    assert all(size[1] * 2 == size[0] or abs(size[1] * 2 - size[0]) <= 1 for _, size, _ in whole)


@pytest.mark.parametrize("file_format", ["JPEG", "WEBP", "PNG"])
def test_each_format_round_trips_and_only_png_is_exact(file_format):
    image = textured_image((64, 48), seed=6)
    again = reencode(image, file_format, 80)
    assert again.size == image.size and again.mode == "RGB"
    exact = np.array_equal(np.asarray(again), np.asarray(image))
    assert exact == (file_format == "PNG")


def test_settings_outside_the_known_formats_or_range_are_refused():
    with pytest.raises(ValueError, match="reencode_formats"):
        settings(reencode_formats=("JPEG", "GIF"))
    with pytest.raises(ValueError, match="rescale"):
        settings(rescale=(0.5, 1.5))
