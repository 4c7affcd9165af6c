"""The benchmark's image mix, generated at start from a fixed seed (no binaries shipped).

Mostly photo-sized JPEGs (1024 px on the long side, as a phone app would upload after
resizing) and a share of small PNGs (screenshots, stickers, some with transparency).
The images are harness.images' photo-like textures (1/f spectrum, edges, sensor noise).

    python -m bench.workload   # logs the mix: kind, size, bytes
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from harness.images import encode, photo_like
from PIL import Image

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
