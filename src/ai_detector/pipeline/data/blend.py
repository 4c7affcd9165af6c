"""Synthetic deepfakes by self-blending (SBI, Shiohara & Yamasaki 2022; Face X-ray, Li et al. 2020).

A deepfake pastes a generated or swapped face into a real photo; the tell-tale
signs are at the blending boundary and in the colour and frequency mismatch
between the pasted region and its surroundings. Self-blended images reproduce
exactly that without any generator: a real aligned face is blended with a
slightly transformed copy of itself through a soft, randomly deformed mask over
the inner face. The model then has to learn the blending artefacts, not identity.

    python -m ai_detector.pipeline.data.blend face.jpg out.jpg
"""

from __future__ import annotations

import io
import random
import sys

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def _jitter_copy(image: Image.Image, rng: random.Random) -> Image.Image:
    """The 'source face': colour, sharpness and scale differ a little from the target."""
    copy = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
    copy = ImageEnhance.Contrast(copy).enhance(rng.uniform(0.85, 1.15))
    copy = ImageEnhance.Color(copy).enhance(rng.uniform(0.8, 1.2))
    shift = np.array([rng.uniform(-12, 12) for _ in range(3)], dtype=np.float32)
    copy = Image.fromarray(
        np.clip(np.asarray(copy, dtype=np.float32) + shift, 0, 255).astype(np.uint8)
    )
    width, height = image.size
    if rng.random() < 0.5:
        # Down-up resampling: the pasted face carries less high frequency than its frame.
        factor = rng.uniform(0.4, 0.8)
        small = copy.resize(
            (max(16, int(width * factor)), max(16, int(height * factor))), Image.Resampling.BILINEAR
        )
        copy = small.resize((width, height), Image.Resampling.BILINEAR)
    else:
        copy = copy.filter(
            ImageFilter.UnsharpMask(radius=rng.uniform(1, 3), percent=int(rng.uniform(50, 150)))
        )
    scale = rng.uniform(0.96, 1.04)
    dx, dy = rng.uniform(-0.02, 0.02) * width, rng.uniform(-0.02, 0.02) * height
    return copy.transform(
        (width, height),
        Image.Transform.AFFINE,
        (1 / scale, 0, dx, 0, 1 / scale, dy),
        Image.Resampling.BILINEAR,
    )


def face_mask(size: tuple[int, int], rng: random.Random) -> np.ndarray:
    """A soft elliptical mask over the inner face of an aligned portrait, values in [0, 1]."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * rng.uniform(0.47, 0.53), height * rng.uniform(0.50, 0.58)
    ax, ay = width * rng.uniform(0.20, 0.30), height * rng.uniform(0.26, 0.36)
    # A low-frequency wobble of the radius deforms the ellipse, so the edge is not one
    # shape the model could memorise.
    angle = np.arctan2(y - cy, x - cx)
    wobble = 1 + sum(
        rng.uniform(-0.06, 0.06) * np.sin(k * angle + rng.uniform(0, 6.28)) for k in (2, 3, 5)
    )
    radius = np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2) / wobble
    hard = Image.fromarray(((radius <= 1.0) * 255).astype(np.uint8))
    soft = hard.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.02, 0.08) * width))
    mask = np.asarray(soft, dtype=np.float32) / 255.0
    return mask * rng.choice([0.6, 0.8, 1.0, 1.0, 1.0])


def self_blend(image: Image.Image, rng: random.Random) -> Image.Image:
    """A self-blended 'deepfake' of a real aligned face photo (RGB in, RGB out)."""
    image = image.convert("RGB")
    source = np.asarray(_jitter_copy(image, rng), dtype=np.float32)
    target = np.asarray(image, dtype=np.float32)
    mask = face_mask(image.size, rng)[..., None]
    return Image.fromarray(np.clip(mask * source + (1 - mask) * target, 0, 255).astype(np.uint8))


def encode_like(image: Image.Image, reference_format: str | None, quality: int = 90) -> bytes:
    """Encode as the real images of the set are encoded, so the format gives nothing away."""
    buffer = io.BytesIO()
    if reference_format == "PNG":
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source, target = args
    with Image.open(source) as image:
        Image.open(io.BytesIO(encode_like(self_blend(image, random.Random(0)), image.format))).save(
            target
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
