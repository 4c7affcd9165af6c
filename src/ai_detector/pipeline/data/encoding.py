"""Re-encoding an image as a file is shared: one JPEG encoder for every pipeline step that
writes one (normalised sources, reconstruction pairs, robustness and re-encoded evaluation).

    data = jpeg_bytes(to_long_side(image, 512, enlarge=False), quality=90)
"""

from __future__ import annotations

import io

from PIL import Image


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def to_long_side(
    image: Image.Image, long_side: int, enlarge: bool = True, min_side: int = 1
) -> Image.Image:
    """``image`` resized (Lanczos) so its long side is ``long_side``; unchanged when that is
    its size, or when it is smaller and ``enlarge`` is false. No side falls below ``min_side``."""
    scale = long_side / max(image.size)
    if scale > 1 and not enlarge:
        return image
    size = (max(min_side, round(image.width * scale)), max(min_side, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
