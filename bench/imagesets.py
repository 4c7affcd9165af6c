"""Named image sets for the per-set benchmark, generated from fixed seeds (no binaries shipped).

    python -m bench.imagesets            # logs each set: count, size, bytes, decode cost

Each set stands for one kind of upload, since the decode, not the model, sets the floor
for some of them:

- ``jpeg1024``: baseline JPEGs about 1024 px on the long side (a phone app's resized upload);
- ``progressive1600``: progressive JPEGs of 1600x1200 with photo-level noise (what web
  pages and many editors write): every scan must be entropy-decoded even in draft mode;
- ``png``: lossless PNGs of 512 to 1024 px (screenshots, generator outputs);
- ``phone4000``: 4000x3000 baseline JPEGs as a phone camera writes them (12 MP).

The textures are ``harness.images.photo_like`` (1/f spectrum, edges, sensor noise), so file
sizes and decode costs are photo-like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from harness.images import encode, photo_like

from bench.workload import Item

log = logging.getLogger("bench")


def _jpeg1024(rng: np.random.Generator, count: int) -> list[Item]:
    sizes = ((1024, 768), (768, 1024), (1024, 683), (1024, 1024))
    items = []
    for index in range(count):
        width, height = sizes[index % len(sizes)]
        data = encode(photo_like(rng, width, height), "JPEG", quality=int(rng.integers(80, 93)))
        items.append(Item(f"jpeg1024_{index:02d}_{width}x{height}.jpg", "jpeg", data))
    return items


def _progressive1600(rng: np.random.Generator, count: int) -> list[Item]:
    items = []
    for index in range(count):
        image = photo_like(rng, 1600, 1200, noise=4.0)
        data = encode(image, "JPEG", quality=90, progressive=True)
        items.append(Item(f"progressive1600_{index:02d}.jpg", "jpeg", data))
    return items


def _png(rng: np.random.Generator, count: int) -> list[Item]:
    sizes = ((1024, 768), (800, 600), (512, 512))
    items = []
    for index in range(count):
        width, height = sizes[index % len(sizes)]
        data = encode(photo_like(rng, width, height, noise=1.0), "PNG")
        items.append(Item(f"png_{index:02d}_{width}x{height}.png", "png", data))
    return items


def _phone4000(rng: np.random.Generator, count: int) -> list[Item]:
    items = []
    for index in range(count):
        image = photo_like(rng, 4000, 3000, noise=4.0)
        items.append(Item(f"phone4000_{index:02d}.jpg", "jpeg", encode(image, "JPEG", quality=90)))
    return items


# name -> (builder, how many images: enough variety, little memory for the 12 MP ones)
IMAGE_SETS: dict[str, tuple[Callable[[np.random.Generator, int], list[Item]], int]] = {
    "jpeg1024": (_jpeg1024, 12),
    "progressive1600": (_progressive1600, 6),
    "png": (_png, 6),
    "phone4000": (_phone4000, 3),
}


def make_set(name: str, count: int | None = None, seed: int = 11) -> list[Item]:
    """The images of set ``name``: the same bytes for the same seed and count."""
    builder, default = IMAGE_SETS[name]
    return builder(np.random.default_rng(seed), count or default)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for set_name in IMAGE_SETS:
        images = make_set(set_name)
        mean_kb = np.mean([item.size_kb for item in images])
        log.info("%-16s %2d images, mean %7.1f KB", set_name, len(images), mean_kb)
