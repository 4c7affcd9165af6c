"""The benchmark's image mix, generated at start from a fixed seed (no binaries shipped).

Mostly photo-sized JPEGs (1024 px on the long side, as a phone app would upload after
resizing) and a share of small PNGs (screenshots, stickers, some with transparency).
Textures follow a 1/f amplitude spectrum like natural photos, with a few hard-edged
shapes and a little sensor noise, so file sizes and decode costs are photo-like rather
than those of flat colours or white noise.

    python -m bench.workload   # logs the mix: kind, size, bytes
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

log = logging.getLogger("bench")

JPEG_SIZES = ((1024, 768), (768, 1024), (1024, 683), (1024, 1024), (1024, 576))
PNG_SIZES = ((320, 240), (400, 400), (512, 384), (256, 256))


@dataclass(frozen=True)
class Item:
    name: str
    kind: str  # "jpeg" or "png": latencies are also reported per kind
    data: bytes

    @property
    def size_kb(self) -> float:
        return len(self.data) / 1024


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
    rng: np.random.Generator, width: int, height: int, noise: float = 2.5
) -> Image.Image:
    """An RGB image with photo statistics: correlated colour texture, edges, noise."""
    luma = pink_field(rng, height, width)
    palette = rng.uniform(40, 215, size=(2, 3))
    rgb = palette[0] + (palette[1] - palette[0]) * luma[..., None]
    for _ in range(2):  # weaker, independent chroma texture
        rgb += rng.uniform(-25, 25, size=3) * (pink_field(rng, height, width)[..., None] - 0.5)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        x1, y1 = x0 + rng.uniform(20, width / 3), y0 + rng.uniform(20, height / 3)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, noise, size=(height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def make_mix(n_jpeg: int = 24, n_png: int = 8, seed: int = 7) -> list[Item]:
    """``n_jpeg`` ~1024 px JPEGs then ``n_png`` small PNGs, the same bytes for a given seed."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(n_jpeg):
        width, height = JPEG_SIZES[index % len(JPEG_SIZES)]
        quality = int(rng.integers(80, 93))
        data = encode(photo_like(rng, width, height), "JPEG", quality=quality)
        items.append(Item(f"photo{index:02d}_{width}x{height}_q{quality}.jpg", "jpeg", data))
    for index in range(n_png):
        width, height = PNG_SIZES[index % len(PNG_SIZES)]
        # Generated or drawn, not photographed: less sensor noise than the photos.
        image = photo_like(rng, width, height, noise=1.0)
        if index % 2:  # stickers and UI captures often carry an alpha channel
            alpha = np.linspace(80, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
            image.putalpha(Image.fromarray(alpha.astype(np.uint8), "L"))
        items.append(Item(f"small{index:02d}_{width}x{height}.png", "png", encode(image, "PNG")))
    return items


def interleave(items: list[Item], seed: int = 7) -> list[Item]:
    """A fixed shuffled order, so every phase sees kinds in the same proportion."""
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order]


def describe(items: list[Item]) -> dict[str, dict[str, float]]:
    kinds: dict[str, dict[str, float]] = {}
    for kind in sorted({item.kind for item in items}):
        sizes = [item.size_kb for item in items if item.kind == kind]
        kinds[kind] = {"count": len(sizes), "mean_kb": round(float(np.mean(sizes)), 1)}
    return kinds


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for item in make_mix():
        log.info("%-32s %-5s %7.1f KB", item.name, item.kind, item.size_kb)
