"""Image files carrying provenance, made on the spot for the tests (nothing is shipped).

    png = png_with_text({"parameters": "a cat, Steps: 20"})   # A1111-style settings
    jpeg = plain("JPEG", exif=camera_exif())                    # a camera's EXIF

C2PA-signed files come from :mod:`harness.signing` (``make_signing_chain``,
``c2pa_sign``), which the benchmark uses too.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

from ai_detector.inference.provenance.result import IPTC_SOURCE_TYPE_PREFIX
from tests.conftest import encode_image, textured_image


def plain(fmt: str = "JPEG", size: tuple[int, int] = (96, 72), **options: object) -> bytes:
    return encode_image(textured_image(size=size), fmt, **options)


def xmp_packet(body: str) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{body}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def iptc_xmp(source_type: str, creator_tool: str = "Test Painter 3") -> str:
    return xmp_packet(
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        f'xmp:CreatorTool="{creator_tool}" '
        f'Iptc4xmpExt:DigitalSourceType="{IPTC_SOURCE_TYPE_PREFIX}{source_type}"/>'
    )


def png_with_text(chunks: dict[str, str], compressed: bool = False) -> bytes:
    """A PNG with tEXt (or zTXt) chunks, as generator front-ends write them."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value, zip=compressed)
    return plain("PNG", pnginfo=info)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def insert_png_chunk(png: bytes, chunk: bytes) -> bytes:
    """``chunk`` placed right after IHDR."""
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    return jpeg[:2] + segment + jpeg[2:]


def camera_exif(make: str = "Canon", model: str = "Canon EOS R5") -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = make, model, "Firmware Version 1.8.1"
    return exif.tobytes()
