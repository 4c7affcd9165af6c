"""Photo-like images made from a seed: the only image generator of the benchmark, the
load test and the tests (no binaries shipped).

    from harness.images import encode, photo_like
    jpeg = encode(photo_like(7, 1024, 768), "JPEG", quality=90)
    red = photo_like(3, 320, 240, tint="red")   # channel means fixed: mid-grey + a tint
    python -m harness.images                     # logs a few: size, bytes

Textures follow a 1/f amplitude spectrum like natural photos, with a few hard-edged
shapes and a little sensor noise, so file sizes and decode costs are photo-like rather
than those of flat colours or white noise. With ``tint`` the channel means are set to
mid-grey plus the tint's offset, so a model that looks at colour (the tests' tiny ONNX
model) calls a "none" image Real, a "red" one AI-generated and a "blue" one Deepfake.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageDraw

log = logging.getLogger(__name__)

# Per-channel offsets from mid-grey (128) of the channel means, by tint.
TINTS = {"none": (0, 0, 0), "red": (80, 0, -80), "blue": (-80, 0, 80)}


def pink_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A (height, width) field in [0, 1] with a 1/f amplitude spectrum."""
    spectrum = np.fft.rfft2(rng.standard_normal((height, width)))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    spectrum /= np.maximum(np.hypot(fx, fy), 1.0 / max(height, width))
    field = np.fft.irfft2(spectrum, s=(height, width))
    low, high = np.percentile(field, (1, 99))
    return np.clip((field - low) / (high - low + 1e-9), 0.0, 1.0)


def photo_like(
    seed: np.random.Generator | int,
    width: int,
    height: int,
    noise: float = 2.5,
    tint: str | None = None,
) -> Image.Image:
    """An RGB image with photo statistics: correlated colour texture, edges, noise.
    ``seed``: an int, or a generator to draw from (a sequence of images from one seed)."""
    rng = np.random.default_rng(seed) if isinstance(seed, int) else seed
    luma = pink_field(rng, height, width)
    palette = rng.uniform(40, 215, size=(2, 3))
    rgb = palette[0] + (palette[1] - palette[0]) * luma[..., None]
    for _ in range(2):  # weaker, independent chroma texture
        rgb += rng.uniform(-25, 25, size=3) * (pink_field(rng, height, width)[..., None] - 0.5)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    # Shapes of 20 px up to a third of the image (a quarter of a side in tiny images).
    low_x, low_y = min(20.0, width / 4), min(20.0, height / 4)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        x1, y1 = x0 + rng.uniform(low_x, width / 3), y0 + rng.uniform(low_y, height / 3)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, noise, size=(height, width, 3))
    if tint is not None:
        target = 128.0 + np.array(TINTS[tint], np.float32)
        pixels += target - pixels.mean(axis=(0, 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for size in ((1024, 768), (320, 240), (64, 48)):
        for tint in (None, "none", "red"):
            data = encode(photo_like(7, *size, tint=tint), "JPEG", quality=90)
            log.info("%4dx%-4d tint %-5s %7.1f KB", *size, tint, len(data) / 1024)
