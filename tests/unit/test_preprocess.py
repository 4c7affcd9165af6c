"""Decoding and preprocessing: formats, orientation, transparency and every bad input."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from PIL import Image

from ai_detector.inference import preprocess
from ai_detector.inference.errors import (
    CorruptImageError,
    EmptyInputError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
)
from ai_detector.inference.preprocess import (
    ImageSpec,
    center_crop_resize,
    decode_image,
    normalize,
    preprocess_bytes,
)
from tests.conftest import encode_image, textured_image

SPEC = ImageSpec(224, 256, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "AVIF"])
def test_every_supported_format_becomes_model_input(make_image, fmt):
    array = preprocess_bytes(make_image(fmt, size=(200, 150)), SPEC)
    assert array.shape == (3, 224, 224)
    assert array.dtype == np.float32
    # mean/std 0.5 maps [0, 255] to [-1, 1]
    assert -1.0 <= array.min() < array.max() <= 1.0


def test_heic_is_decoded():
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(textured_image((120, 90))).save(buffer, format="HEIF", quality=90)
    assert decode_image(buffer.getvalue()).size == (120, 90)


def test_gif_uses_first_frame():
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    red, _, blue = decode_image(buffer.getvalue()).getpixel((10, 10))
    assert red > 200 and blue < 50


def test_exif_orientation_is_applied_before_anything_else():
    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 50, 100))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode_image(image, "JPEG", exif=exif.tobytes())
    upright = decode_image(data)
    assert upright.size == (100, 300)
    # after a 90° clockwise turn the band that was on the left is on top
    assert np.asarray(upright)[:40].mean() > 200
    assert np.asarray(upright)[-100:].mean() < 50


def test_transparency_is_flattened_on_white():
    image = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    assert decode_image(encode_image(image, "PNG")).getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_greyscale_keeps_its_contrast():
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    decoded = np.asarray(decode_image(encode_image(Image.fromarray(ramp), "PNG")))
    assert decoded[..., 0].min() < 10 and decoded[..., 0].max() > 245


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyInputError),
        (b"hello, this is text and not a picture", NotAnImageError),
        (b"%PDF-1.4 not an image", NotAnImageError),
    ],
)
def test_non_images_are_rejected_with_a_clear_error(data, error):
    with pytest.raises(error) as caught:
        decode_image(data)
    assert caught.value.status in (400, 415)
    assert caught.value.message


def test_truncated_jpeg_is_a_corrupt_image(make_image):
    data = make_image("JPEG")
    with pytest.raises(CorruptImageError) as caught:
        decode_image(data[: len(data) // 2])
    assert caught.value.status == 422


def test_tiny_image_is_rejected(make_image):
    with pytest.raises(ImageTooSmallError, match="at least 16"):
        decode_image(make_image("PNG", size=(15, 200)))


def test_decompression_bomb_is_refused_before_decoding():
    # A 48-megapixel PNG of one colour compresses to a few kilobytes.
    bomb = encode_image(Image.new("L", (8000, 6000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(bomb)
    assert caught.value.status == 413


def test_byte_limit(make_image):
    with pytest.raises(ImageTooLargeError):
        decode_image(make_image("PNG"), max_bytes=100)


def test_jpeg_draft_decoding_stays_close_to_a_full_decode():
    data = encode_image(textured_image((1024, 768), seed=3), "JPEG", quality=90)
    assert decode_image(data, draft_size=256).size == (512, 384)  # decoded at 1/2 scale
    fast = preprocess_bytes(data, SPEC, draft=True)
    full = preprocess_bytes(data, SPEC, draft=False)
    assert np.abs(fast - full).mean() < 0.03


def test_one_step_crop_matches_resize_then_crop():
    image = textured_image((400, 300), seed=5)
    reference = image.resize((341, 256), Image.Resampling.BILINEAR).crop((58, 16, 282, 240))
    ours = center_crop_resize(image, SPEC)
    assert np.abs(normalize(ours, SPEC) - normalize(reference, SPEC)).mean() < 0.05


def test_normalize_uses_the_spec_mean_and_std():
    spec = ImageSpec(224, 256, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    white = Image.new("RGB", (224, 224), (255, 255, 255))
    assert np.allclose(normalize(white, spec), 1.0)


def test_a_header_cut_short_is_a_corrupt_image():
    with pytest.raises(CorruptImageError):
        decode_image(b"\xff\xd8\xff\xe0 truncated")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_damaged_files_only_ever_raise_input_errors(make_image, fmt):
    """Random byte damage must end in a clear 4xx error or a decoded image, never a crash."""
    import random

    from ai_detector.inference.errors import InputError

    rng = random.Random(fmt)
    original = make_image(fmt, size=(48, 40))
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        with contextlib.suppress(InputError):
            preprocess_bytes(bytes(data), SPEC)


def _large(size: tuple[int, int], seed: int) -> Image.Image:
    """A big photo-like image that still compresses under the byte limit."""
    small = textured_image((size[0] // 7, size[1] // 7), seed=seed)
    return small.resize(size, Image.Resampling.BILINEAR)


def _preprocess_without_shrinking(data: bytes, monkeypatch) -> np.ndarray:
    with monkeypatch.context() as patch:
        patch.setattr(preprocess, "SHRINK_ABOVE", 10**12)
        return preprocess_bytes(data, SPEC)


@pytest.mark.slow
def test_images_up_to_the_shrink_limit_keep_their_exact_pixels(monkeypatch):
    """Training data goes through the same function: its pixels must not move."""
    side = int(preprocess.SHRINK_ABOVE**0.5)  # just under the limit
    data = encode_image(_large((side, side - 1), seed=3).convert("RGBA"), "PNG")
    assert np.array_equal(
        preprocess_bytes(data, SPEC), _preprocess_without_shrinking(data, monkeypatch)
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RGBA", "P", "I;16"])
def test_a_huge_image_is_shrunk_on_load_and_stays_close(monkeypatch, mode):
    picture = _large((4200, 3000), seed=5)
    picture = picture.convert("L").convert("I;16") if mode == "I;16" else picture.convert(mode)
    data = encode_image(picture, "PNG")
    decoded = decode_image(data, draft_size=SPEC.resize_size)
    assert decoded.size == (4200 // 5, 3000 // 5)  # reduced by 3000 // (2 * 256)
    shrunk = preprocess_bytes(data, SPEC)
    full = _preprocess_without_shrinking(data, monkeypatch)
    assert np.abs(shrunk - full).mean() < 0.02


def test_a_huge_image_keeps_its_exif_orientation():
    picture = Image.new("RGB", (6000, 2100), (128, 128, 128))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: upright the image is tall
    decoded = decode_image(encode_image(picture, "PNG", exif=exif.tobytes()), draft_size=256)
    assert decoded.width < decoded.height


def test_the_preprocess_command_prints_what_the_model_is_given(tmp_path, caplog):
    """`python -m ai_detector.apps.preprocess photo.jpg` (moved out of preprocess, which
    the Predictor imports): one line per file with the tensor's shape and statistics."""
    from ai_detector.apps.preprocess import main

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode_image(textured_image(), "JPEG"))
    with caplog.at_level("INFO", logger="ai_detector.apps.preprocess"):
        assert main([str(photo)]) == 0
    (line,) = [r.getMessage() for r in caplog.records if str(photo) in r.getMessage()]
    assert "shape=(3, " in line and "mean=" in line and "std=" in line
    assert main([]) == 2  # no file: the usage, and a failing status
