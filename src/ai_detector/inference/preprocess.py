"""The one place that turns image bytes into model input.

Training, evaluation, export calibration, batch prediction and the TorchServe
handler all call these functions, so a model always sees pixels prepared the same
way (fsdl-text-recognizer's "stems"). Steps: decode (with the JPEG draft shortcut),
apply EXIF orientation, flatten to RGB, resize the shorter side and centre-crop in
one resampling, normalise to float32 CHW.

    python -m ai_detector.apps.preprocess photo.jpg   # prints the tensor shape and stats

(That command lives in apps/: it finds the model through the Predictor's
``resolve_model_dir``, and the Predictor imports this module, so here it made a cycle.)
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ai_detector.inference.errors import (
    CorruptImageError,
    EmptyInputError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
)
from ai_detector.inference.metadata import ImageSpec

log = logging.getLogger(__name__)

MIN_SIDE = 16
# 40 megapixels: larger than any phone photo, small enough that a crafted
# "decompression bomb" cannot exhaust a worker's memory.
MAX_PIXELS = 40_000_000
MAX_BYTES = 20 * 1024 * 1024
# Above this many pixels a decoded non-JPEG image is shrunk by an integer factor right
# after decoding, before orientation and colour conversion copy it: a 40 MP RGBA PNG
# otherwise took ~780 MB per request (four full-size copies), now ~170 MB. JPEG needs
# no such step (draft decodes it small), and images up to this size, all the training
# data among them, give exactly the pixels they gave before.
SHRINK_ABOVE = 12_000_000
# Image.reduce averages these modes correctly; palette, 1-bit and 16-bit images are
# converted first.
REDUCIBLE_MODES = ("RGB", "RGBA", "L", "LA", "I", "F", "CMYK")


def _register_plugins() -> None:
    """Teach Pillow HEIC and AVIF; both plugins are optional at run time."""
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - depends on the install
        log.debug("pillow-heif not installed: HEIC disabled")
    try:
        import pillow_avif  # noqa: F401  (registers itself on import)
    except ImportError:  # pragma: no cover - depends on the install
        log.debug("pillow-avif-plugin not installed: AVIF relies on Pillow's own support")


_register_plugins()


def decode_image(
    data: bytes,
    draft_size: int | None = None,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
) -> Image.Image:
    """Decode bytes into an upright RGB image, or raise an :class:`InputError`.

    ``draft_size`` lets JPEG decode at the smallest DCT scale whose shorter side is
    still at least that many pixels: about twice as fast on large photos, and the
    result differs from a full decode by far less than JPEG noise.
    """
    if not data:
        raise EmptyInputError("the request has no image data")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"the image is {len(data)} bytes; the limit is {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise NotAnImageError("the data is not an image in a supported format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"the image has too many pixels (limit {max_pixels})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # A known format whose header is already broken (e.g. a JPEG cut after a few bytes).
        raise CorruptImageError(f"the image is truncated or corrupt: {exc}") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmallError(
            f"the image is {width}x{height}; each side must be at least {MIN_SIDE} pixels"
        )
    if draft_size and image.format == "JPEG":
        scale = draft_size / min(width, height)
        image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
    try:
        image.load()
        loaded: Image.Image = _shrink_huge(image, draft_size) if draft_size else image
        return _to_rgb(ImageOps.exif_transpose(loaded))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError(f"the image is truncated or corrupt: {exc}") from exc


def _shrink_huge(image: Image.Image, min_side: int) -> Image.Image:
    """A huge image reduced (box filter) to a shorter side of at least twice
    ``min_side``, so the final resize still averages; other images unchanged."""
    width, height = image.size
    factor = min(width, height) // (2 * min_side)
    if width * height <= SHRINK_ABOVE or factor < 2:
        return image
    if image.mode not in REDUCIBLE_MODES:
        image = _to_rgb(image)
    exif = image.getexif()  # reduce() drops it, and orientation is applied after this
    reduced = image.reduce(factor)
    if exif:
        reduced.info["exif"] = exif.tobytes()
    return reduced


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency on white (as the training data was) and convert to RGB."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits before Pillow's clipping conversion.
        array = np.asarray(image, dtype=np.float32)
        peak = float(array.max()) or 1.0
        image = Image.fromarray((array * (255.0 / peak)).astype(np.uint8))
    return image if image.mode == "RGB" else image.convert("RGB")


def center_crop_resize(image: Image.Image, spec: ImageSpec) -> Image.Image:
    """Resize the shorter side to ``resize_size`` and centre-crop ``input_size``.

    Done as one resampling of the central box, which is cheaper than resizing the
    whole image first and gives the same pixels up to rounding.
    """
    width, height = image.size
    box_side = min(width, height) * spec.input_size / spec.resize_size
    left = (width - box_side) / 2
    top = (height - box_side) / 2
    return image.resize(
        (spec.input_size, spec.input_size),
        Image.Resampling[spec.interpolation.upper()],
        box=(left, top, left + box_side, top + box_side),
    )


def normalize(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """RGB image -> float32 array (3, H, W) normalised with the model's mean/std."""
    array = np.asarray(image, dtype=np.float32)
    scale = 1.0 / (255.0 * np.asarray(spec.std, dtype=np.float32))
    shift = np.asarray(spec.mean, dtype=np.float32) / np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray((array * scale - shift).transpose(2, 0, 1))


def preprocess_image(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """Decoded RGB image -> model input (3, input_size, input_size)."""
    return normalize(center_crop_resize(image, spec), spec)


def preprocess_bytes(data: bytes, spec: ImageSpec, draft: bool = True) -> np.ndarray:
    """Encoded image bytes -> model input; raises :class:`InputError` on bad input."""
    image = decode_image(data, draft_size=spec.resize_size if draft else None)
    return preprocess_image(image, spec)
