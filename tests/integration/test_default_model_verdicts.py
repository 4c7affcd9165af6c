"""What the shipped default model says about images it has never seen.

Its subject is whatever model ships in the package (ai_detector/inference/default_model),
so a retrained default is held to the same bars. The photos are real photographs that
packages install with themselves (scikit-image's and scikit-learn's sample images,
matplotlib's portrait of Grace Hopper): none is in the training data.

There is no test here that a known AI-generated image is called fake, because no such
image can be had honestly: no installed package ships one, shared/data must not be a
dependency of the tests (its README), and an image made by the test is not an AI
image. The development sets measure that side (the model card's test figures; with
``AI_DETECTOR_FAKE_SAMPLES=<folder of AI images>`` the last test here checks a folder).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ai_detector.inference.predictor import DEFAULT_MODEL_DIR, Predictor

skimage_data = pytest.importorskip("skimage.data")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
matplotlib_cbook = pytest.importorskip("matplotlib.cbook")

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "metadata.json").is_file(), reason="no default model in the package"
)

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
FAKE_SAMPLES_ENV = "AI_DETECTOR_FAKE_SAMPLES"


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def scenes() -> dict[str, Image.Image]:
    found = {name: Image.fromarray(getattr(skimage_data, name)()) for name in SKIMAGE_PHOTOS}
    found["motorcycle"] = Image.fromarray(skimage_data.stereo_motorcycle()[0])
    for name in SKLEARN_PHOTOS:
        found[name] = Image.fromarray(sklearn_datasets.load_sample_image(name))
    return {name: image.convert("RGB") for name, image in found.items()}


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(DEFAULT_MODEL_DIR, threads=1)


def fake_scores(predictor: Predictor, images: dict[str, bytes]) -> dict[str, float]:
    """P(not real) of each image, the figure the fake threshold applies to."""
    real = predictor.metadata.real_label
    return {
        name: 1.0 - predictor.predict_one(data).probabilities[real] for name, data in images.items()
    }


def test_photos_it_never_saw_are_called_real(predictor):
    """Nine scenes, each as PNG and as JPEG q90. Measured with the default model of
    2026-11-22 (fake threshold 0.654): every one Real, P(not real) 0.002-0.54, median 0.03
    (china.jpg, 0.54, is the closest); with that of 2026-12-03 (threshold 0.569): every one
    Real, median 0.024; with that of 2026-12-07 (threshold 0.587): every one Real, median
    0.032. The 2026-12-06 retrain with reconstruction pairs failed here (median 0.196, the
    astronaut called fake). The bar leaves room for one miss in the 18."""
    images = {
        f"{name} {fmt}": encode(image, fmt)
        for name, image in scenes().items()
        for fmt in ("PNG", "JPEG")
    }
    scores = fake_scores(predictor, images)
    threshold = predictor.metadata.fake_threshold
    called_fake = sorted(name for name, score in scores.items() if score >= threshold)
    assert len(called_fake) <= 1, scores
    assert float(np.median(list(scores.values()))) < 0.25, scores


@pytest.mark.xfail(
    strict=True,
    reason=(
        "a known weakness, measured with the default models of 2026-11-22, 2026-12-03 "
        "(Grace Hopper 0.971, astronaut face 0.588 against a bar of 0.569) and 2026-12-07 "
        "(Grace Hopper 0.992, astronaut face 0.403 against 0.587): real face "
        "portraits are called AI-generated (matplotlib's Grace Hopper photo P(not real) "
        "0.98; the astronaut's face cropped and enlarged to 384 px 0.91; the cause is not "
        "established). A model that fixes it makes this test pass, and strict xfail then "
        "fails: drop the mark."
    ),
)
def test_real_portraits_are_called_real(predictor):
    hopper = Image.open(matplotlib_cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    astronaut = Image.fromarray(skimage_data.astronaut()).crop((150, 20, 300, 190))
    face = astronaut.resize((384, 384), Image.Resampling.BICUBIC)
    scores = fake_scores(
        predictor, {"grace_hopper": encode(hopper, "JPEG"), "astronaut face": encode(face, "JPEG")}
    )
    assert max(scores.values()) < predictor.metadata.fake_threshold, scores


@pytest.mark.skipif(
    not os.environ.get(FAKE_SAMPLES_ENV), reason=f"set {FAKE_SAMPLES_ENV} to a folder of AI images"
)
def test_a_folder_of_ai_images_is_mostly_called_fake(predictor):
    """Opt-in, for a developer with AI images at hand. Measured with the default model
    of 2026-11-22: shared/data/faces-t2i-sdxl-flux/fake (first 60) 90% called fake,
    generators-misc 41%, quiz-photoreal's fakes 37%: the bar is for a modern face set. The
    default model of 2026-12-03 does not reach it: 53% of those 60 faces (its ROC-AUC on the
    whole set is 0.915, as before; its threshold is fitted on other faces); that of
    2026-12-07 60% (ROC-AUC 0.931)."""
    folder = Path(os.environ[FAKE_SAMPLES_ENV])
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    assert files, f"no images in {folder}"
    scores = fake_scores(predictor, {p.name: p.read_bytes() for p in files[:60]})
    called_fake = np.mean([s >= predictor.metadata.fake_threshold for s in scores.values()])
    assert called_fake >= 0.8, scores
