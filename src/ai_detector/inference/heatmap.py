"""Drawing a heatmap: a coloured layer over the image, PNG encoding, a coarse grid, the peak.

    from ai_detector.inference.heatmap import heat_layer, overlay, encode_png
    layer = heat_layer(image, heat, box, max_side=512)   # RGBA, transparent where cold
    Path("heat.png").write_bytes(base64.b64decode(encode_png(overlay(image, layer))))

``heat`` is a square array in [0, 1] over ``box`` (left, top, right, bottom in the image's
pixels: the square the model saw); outside the box the layer stays transparent, since the
model saw nothing there. The colour scale runs from dark violet through red to pale
yellow (perceptually ordered like matplotlib's "inferno", built here so the worker needs
no plotting library); the layer's opacity grows with the heat, so cold areas show the
photo unchanged.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# Anchors of the colour scale at heat 0, 0.25, 0.5, 0.75, 1.
_ANCHORS = np.array(
    [[20, 11, 52], [120, 28, 109], [210, 60, 70], [245, 140, 30], [252, 240, 150]],
    dtype=np.float32,
)
_LUT = np.stack(
    [
        np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, c])
        for c in range(3)
    ],
    axis=1,
).astype(np.uint8)
MAX_OPACITY = 0.75


def scaled_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def heat_layer(
    image: Image.Image, heat: np.ndarray, box: tuple[float, ...], max_side: int = 512
) -> Image.Image:
    """An RGBA layer the size of ``image`` scaled to ``max_side``: colour by heat, alpha too."""
    width, height = scaled_size(image.size, max_side)
    scale = width / image.size[0]
    left, top, right, bottom = (round(v * scale) for v in box)
    side = max(1, right - left)
    resized = Image.fromarray(heat.astype(np.float32), "F").resize(
        (side, max(1, bottom - top)), Image.Resampling.BILINEAR
    )
    full = np.zeros((height, width), np.float32)
    # The box can reach a pixel past the image by rounding: clip both sides alike.
    patch = np.clip(np.asarray(resized), 0.0, 1.0)
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(height, top + patch.shape[0]), min(width, left + patch.shape[1])
    full[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = _LUT[np.round(full * 255).astype(np.uint8)]
    rgba[..., 3] = np.round(full * MAX_OPACITY * 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def overlay(image: Image.Image, layer: Image.Image) -> Image.Image:
    """``layer`` composited over ``image`` (scaled to the layer's size)."""
    base = image.convert("RGBA").resize(layer.size, Image.Resampling.BILINEAR)
    return Image.alpha_composite(base, layer).convert("RGB")


def encode_png(image: Image.Image) -> str:
    """Base64 PNG. Level 1: measured on a 512x384 photo overlay, 24 ms against 70 ms for
    Pillow's default 6, for 11% more bytes; encoding is most of an explanation's cost."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def heat_grid(heat: np.ndarray, cells: int) -> list[list[float]]:
    """Mean heat in ``cells`` x ``cells`` blocks of the box, rows top to bottom."""
    edges = np.linspace(0, heat.shape[0], cells + 1).round().astype(int)
    return [
        [
            round(float(heat[edges[r] : edges[r + 1], edges[c] : edges[c + 1]].mean()), 3)
            for c in range(cells)
        ]
        for r in range(cells)
    ]


def peak(heat: np.ndarray, box: tuple[float, ...]) -> tuple[float, float]:
    """Where the heat is highest, in the image's pixels (x, y)."""
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    left, top, right, bottom = box
    return (
        left + (column + 0.5) * (right - left) / heat.shape[1],
        top + (row + 0.5) * (bottom - top) / heat.shape[0],
    )
