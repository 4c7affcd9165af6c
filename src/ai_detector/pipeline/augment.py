"""Training augmentations that matter for real-vs-fake detection (CNNDetection's recipe).

Random resized crop and flip for content variety; JPEG re-compression at a random
quality, blur, noise and down-up resizing so the model cannot lean on compression or
resampling traces that differ between sources. Before the crop, the whole image may be
shrunk by a random factor and saved again as JPEG, WebP or PNG (issue #12's format and
size augmentation), as a file is when it is shared, so that neither a file's format nor
its size tells the label. Works on decoded PIL images and ends in
:func:`ai_detector.inference.preprocess.normalize`, the same step serving uses.

The settings are ``train``'s in params.yaml (:class:`ai_detector.pipeline.params.TrainParams`).
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageFilter

from ai_detector.inference.metadata import ImageSpec
from ai_detector.inference.preprocess import normalize
from ai_detector.pipeline.params import TrainParams

# Resampling filters drawn at random, so that no one filter's traces mark a class.
FILTERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)


def jpeg_recompress(image: Image.Image, quality: int) -> Image.Image:
    return reencode(image, "JPEG", quality)


def reencode(image: Image.Image, file_format: str, quality: int) -> Image.Image:
    """``image`` saved as ``file_format`` (quality ignored by PNG) and decoded again."""
    buffer = io.BytesIO()
    image.save(buffer, format=file_format, quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def reshare(image: Image.Image, rng: random.Random, params: TrainParams) -> Image.Image:
    """The whole image shrunk by a factor in ``params.rescale`` and saved again in one of
    ``params.reencode_formats`` at a quality in ``params.jpeg_quality``."""
    scale = rng.uniform(*params.rescale)
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, rng.choice(FILTERS))
    return reencode(image, rng.choice(params.reencode_formats), rng.randint(*params.jpeg_quality))


def add_noise(image: Image.Image, sigma: float, rng: random.Random) -> Image.Image:
    """Gaussian sensor-like noise of ``sigma`` (0-255 scale), seeded by ``rng``."""
    noise = np.random.default_rng(rng.getrandbits(32)).normal(
        0.0, sigma, (image.height, image.width, 3)
    )
    pixels = np.asarray(image, dtype=np.float32) + noise
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))


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
    image: Image.Image, spec: ImageSpec, rng: random.Random, params: TrainParams
) -> np.ndarray:
    """One random training view of ``image`` as model input (3, H, W)."""
    if rng.random() < params.reshare_probability:
        image = reshare(image, rng, params)
    view = random_resized_crop(image, spec.input_size, rng)
    if rng.random() < 0.5:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < params.blur_probability:
        view = view.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.2, 1.5)))
    if rng.random() < params.noise_probability:
        view = add_noise(view, rng.uniform(1.0, 5.0), rng)
    if rng.random() < 0.5:
        view = jpeg_recompress(view, rng.randint(*params.jpeg_quality))
    return normalize(view, spec)
