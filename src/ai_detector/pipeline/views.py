"""Views of an image at its own resolution, for the recipe experiments (issue #23 item 1).

The serving view shrinks the whole image (shorter side to 256, centre 224), which erases
the pixel-level traces a generator leaves; native-resolution detectors (SPAI, B-Free)
look at crops of the file's own pixels instead, and average a few of them:

- :func:`native_crop`: the centre ``input_size`` square;
- :func:`textured_crops`: the ``count`` most textured squares of a 3x3 grid of
  candidates (by the spread of their grey levels), since flat sky or studio background
  carries little of either a camera's or a generator's traces.

Images smaller than a crop get the serving view. Used by ai_detector.pipeline.recipes:

    python -m ai_detector.pipeline.recipes --only "head, 3 textured native crops"
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ai_detector.inference.metadata import ImageSpec
from ai_detector.inference.preprocess import decode_image, normalize, preprocess_bytes
from ai_detector.pipeline.data.records import Record

GRID = 3


def native_crop(record: Record, spec: ImageSpec) -> np.ndarray:
    """The centre ``input_size`` square at the file's own resolution (the serving view
    when the image is smaller than that)."""
    image = decode_image(record.read_bytes())
    side = spec.input_size
    if min(image.size) < side:
        return preprocess_bytes(record.read_bytes(), spec)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return normalize(image.crop((left, top, left + side, top + side)), spec)


def textured_crops(image: Image.Image, side: int, count: int) -> list[Image.Image]:
    """The ``count`` most textured ``side`` squares of a GRID x GRID lattice, most first."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    lefts = np.linspace(0, image.width - side, GRID).round().astype(int)
    tops = np.linspace(0, image.height - side, GRID).round().astype(int)
    boxes = sorted({(int(x), int(y)) for x in lefts for y in tops})
    spread = [float(grey[y : y + side, x : x + side].std()) for x, y in boxes]
    order = sorted(range(len(boxes)), key=lambda i: (-spread[i], boxes[i]))[:count]
    return [image.crop((*boxes[i], boxes[i][0] + side, boxes[i][1] + side)) for i in order]


def textured_crop(record: Record, spec: ImageSpec, rank: int, count: int) -> np.ndarray:
    """The ``rank``-th of the record's ``count`` most textured crops as model input."""
    image = decode_image(record.read_bytes())
    if min(image.size) < spec.input_size:
        return preprocess_bytes(record.read_bytes(), spec)
    crops = textured_crops(image, spec.input_size, count)
    return normalize(crops[min(rank, len(crops) - 1)], spec)
