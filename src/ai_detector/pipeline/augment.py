"""Training augmentations that matter for real-vs-fake detection (CNNDetection's recipe).

Random resized crop and flip for content variety; JPEG re-compression at a random
quality, blur and down-up resizing so the model cannot lean on compression or
resampling traces that differ between sources. Works on decoded PIL images and
ends in :func:`ai_detector.inference.preprocess.normalize`, the same step serving uses.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageFilter

from ai_detector.inference.preprocess import ImageSpec, normalize


def jpeg_recompress(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def random_resized_crop(image: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """A square crop of 40-100% of the shorter side, resized to ``size``."""
    width, height = image.size
    side = min(width, height) * rng.uniform(0.4, 1.0)
    left = rng.uniform(0, width - side)
    top = rng.uniform(0, height - side)
    return image.resize(
        (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
    )


def augment(
    image: Image.Image,
    spec: ImageSpec,
    rng: random.Random,
    jpeg_quality: tuple[int, int] = (60, 100),
    blur_probability: float = 0.1,
) -> np.ndarray:
    """One random training view of ``image`` as model input (3, H, W)."""
    view = random_resized_crop(image, spec.input_size, rng)
    if rng.random() < 0.5:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < blur_probability:
        view = view.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.2, 1.5)))
    if rng.random() < 0.5:
        view = jpeg_recompress(view, rng.randint(*jpeg_quality))
    return normalize(view, spec)
