"""Which file names are images: the one suffix list.

The batch CLI picks files in a folder by it, the data sources pick training images by
it, the bot uses it for documents sent without an image MIME type, and the load test
for a folder of real images. Every format here is one the decoder
(:mod:`ai_detector.inference.preprocess`, with the HEIF and AVIF plugins) reads. Kept
free of PIL so light clients (the bot) can import it.

    from ai_detector.inference.formats import IMAGE_SUFFIXES
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
"""

from __future__ import annotations

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".avif"}
)
