"""The experiment helpers behind docs/experiments.md: views, origin balancing, CIFAKE picks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ai_detector.inference.preprocess import ImageSpec, normalize, preprocess_bytes
from ai_detector.pipeline.cifake_sizes import cifake_records
from ai_detector.pipeline.data.records import Record, sha256_file
from ai_detector.pipeline.recipes import balanced_rows
from ai_detector.pipeline.views import native_crop
from tests.conftest import encode_image, textured_image


def _record(path: Path, size: tuple[int, int]) -> Record:
    path.write_bytes(encode_image(textured_image(size, seed=3), "PNG"))
    return Record(str(path), "Real", "s", sha256_file(path))


def test_native_crop_is_the_centre_at_the_files_own_resolution(tmp_path):
    spec = ImageSpec(224, 256, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    record = _record(tmp_path / "big.png", (400, 300))
    crop = native_crop(record, spec)
    image = textured_image((400, 300), seed=3)
    expected = normalize(image.crop((88, 38, 312, 262)), spec)
    assert crop.shape == (3, 224, 224)
    np.testing.assert_array_equal(crop, expected)
    assert not np.allclose(crop, preprocess_bytes(record.read_bytes(), spec))
    small = _record(tmp_path / "small.png", (100, 80))  # smaller than the crop: serving view
    np.testing.assert_array_equal(
        native_crop(small, spec), preprocess_bytes(small.read_bytes(), spec)
    )


def test_balanced_rows_give_every_origin_the_same_weight():
    origins = np.array(["big"] * 900 + ["small"] * 100 + ["left-out"] * 50)
    mask = origins != "left-out"
    rows = balanced_rows(mask, origins, seed=1)
    assert len(rows) == 1000 and mask[rows].all()
    counts = Counter(origins[rows])
    assert 400 < counts["small"] < 600 and 400 < counts["big"] < 600
    assert np.array_equal(rows, balanced_rows(mask, origins, seed=1))  # seeded


def test_cifake_records_take_per_class_and_label(tmp_path):
    for folder in ("REAL", "FAKE"):
        (tmp_path / "train" / folder).mkdir(parents=True)
        for index in range(3):
            for suffix in ("", " (2)"):
                image = textured_image((32, 32), seed=index + 10 * len(suffix), tint="none")
                if folder == "FAKE":
                    image = image.rotate(90)
                encoded = encode_image(image, "JPEG")
                (tmp_path / "train" / folder / f"{index}{suffix}.jpg").write_bytes(encoded)
    every = cifake_records(tmp_path, per_class=0)
    assert len(every) == 12
    picked = cifake_records(tmp_path, per_class=2)
    assert Counter((r.group, r.label) for r in picked) == {
        ("1", "Real"): 2,
        ("2", "Real"): 2,
        ("1", "AI-generated"): 2,
        ("2", "AI-generated"): 2,
    }


def test_textured_crops_pick_the_busiest_squares_first():
    from PIL import Image

    from ai_detector.pipeline.views import textured_crops

    rng = np.random.default_rng(0)
    image = Image.new("RGB", (300, 300), (128, 128, 128))
    noise = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    image.paste(Image.fromarray(noise), (200, 200))  # only the bottom-right corner is busy
    crops = textured_crops(image, 100, 3)
    assert len(crops) == 3
    assert np.array_equal(np.asarray(crops[0]), noise)
    assert all(c.size == (100, 100) for c in crops)
    assert np.asarray(crops[0]).std() > np.asarray(crops[1]).std()
