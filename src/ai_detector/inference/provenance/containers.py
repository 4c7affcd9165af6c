"""Find the metadata blocks in an image file without decoding any pixels.

    found = find_metadata(open("photo.jpg", "rb").read())
    found.xmp, found.exif, found.text, found.has_c2pa, found.problems

JPEG segments, PNG chunks and WebP chunks are walked by their length fields, so a
multi-megabyte photo costs a few dozen steps: the walk stops at a JPEG's first scan
(metadata comes before it) and jumps over PNG/WebP image data. Other formats (TIFF's
own tags aside) are searched for an XMP packet or a C2PA label as bytes. Nothing here
raises on odd input: a length field that points past the end, a block over
:data:`MAX_BLOCK` bytes or a text chunk that does not inflate is noted in
``problems`` and the walk goes on where it safely can.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

# Larger blocks are reported, not read: real XMP packets and settings blocks are a few
# KiB, and this keeps a hostile file from making the service inflate or scan megabytes.
MAX_BLOCK = 1 << 20
MAX_STEPS = 100_000  # chunks/segments walked per file (a PNG may hold thousands of IDATs)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_XMP_KEY = "XML:com.adobe.xmp"
XMP_START, XMP_END = b"<x:xmpmeta", b"</x:xmpmeta>"


@dataclass
class Metadata:
    """The metadata blocks found in one file."""

    format: str = "other"
    xmp: list[str] = field(default_factory=list)
    exif: bytes | None = None  # a TIFF-structured EXIF block ("Exif\0\0" removed)
    text: dict[str, str] = field(default_factory=dict)  # PNG text chunks by keyword
    has_c2pa: bool = False  # a C2PA store seems to be embedded: worth asking c2pa
    problems: list[str] = field(default_factory=list)
    # IFD0 and Exif IFD tags, filled in by the first reader that parses ``exif``.
    exif_tags: tuple[dict[int, Any], dict[int, Any]] | None = None


def find_metadata(data: bytes) -> Metadata:
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    found = Metadata(format="tiff" if data[:4] in (b"II*\x00", b"MM\x00*") else "other")
    if found.format == "tiff":
        found.exif = data
    # HEIF, AVIF, GIF, BMP...: XMP and C2PA stores are stored uncompressed, so a
    # byte search finds them.
    found.has_c2pa = b"c2pa" in data
    start = data.find(XMP_START)
    if start >= 0:
        end = data.find(XMP_END, start, start + MAX_BLOCK)
        if end < 0:
            found.problems.append(f"an XMP packet at byte {start} has no end within 1 MiB")
        else:
            found.xmp.append(data[start : end + len(XMP_END)].decode("utf-8", "replace"))
    return found


def _jpeg(data: bytes) -> Metadata:
    found = Metadata(format="jpeg")
    pos, size = 2, len(data)
    for _ in range(MAX_STEPS):
        if pos + 4 > size:
            break
        if data[pos] != 0xFF:
            found.problems.append(f"jpeg: no segment marker at byte {pos}")
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no metadata after
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > size:
            found.problems.append(
                f"jpeg: segment 0x{marker:02X} at byte {pos} claims {length} bytes, "
                "past the end of the file"
            )
            break
        body = pos + 4
        if marker == 0xE1 and found.exif is None and data.startswith(b"Exif\x00\x00", body):
            found.exif = data[body + 6 : end]
        elif marker == 0xE1 and data.startswith(JPEG_XMP, body):
            found.xmp.append(data[body + len(JPEG_XMP) : end].decode("utf-8", "replace"))
        elif marker == 0xEB and data.startswith(b"JP", body):
            # APP11 "JP": a JPEG XT box, which is how C2PA embeds its JUMBF store.
            found.has_c2pa = True
        pos = end
    return found


def _png(data: bytes) -> Metadata:
    found = Metadata(format="png")
    pos, size = len(PNG_SIGNATURE), len(data)
    for _ in range(MAX_STEPS):
        if pos + 8 > size:
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body, end = pos + 8, pos + 8 + length
        if end > size:
            name = kind.decode("latin-1")
            found.problems.append(f"png: chunk {name!r} at byte {pos} runs past the end")
            break
        if kind == b"IEND":
            break
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(kind, data[body:end], found)
        elif kind == b"eXIf" and found.exif is None:
            found.exif = _bounded(data[body:end], "png: eXIf chunk", found)
        elif kind == b"caBX":
            found.has_c2pa = True
        pos = end + 4  # the CRC
    return found


def _png_text(kind: bytes, chunk: bytes, found: Metadata) -> None:
    keyword, _, rest = chunk.partition(b"\x00")
    key = keyword.decode("latin-1")
    if len(chunk) > MAX_BLOCK:
        found.problems.append(f"png: text chunk {key!r} of {len(chunk)} bytes over 1 MiB: not read")
        return
    try:
        if kind == b"tEXt":
            text = rest.decode("latin-1")
        elif kind == b"zTXt":
            text = _inflate(rest[1:]).decode("latin-1")
        else:  # iTXt: compression flag, method, language\0, translated keyword\0, text
            compressed = rest[:1] == b"\x01"
            payload = rest[2:].split(b"\x00", 2)[-1]
            text = (_inflate(payload) if compressed else payload).decode("utf-8", "replace")
    except (zlib.error, ValueError) as error:
        found.problems.append(f"png: text chunk {key!r} does not inflate: {error}")
        return
    if key == PNG_XMP_KEY:
        found.xmp.append(text)
    else:
        found.text.setdefault(key, text)


def _bounded(block: bytes, what: str, found: Metadata) -> bytes | None:
    if len(block) > MAX_BLOCK:
        found.problems.append(f"{what} of {len(block)} bytes over 1 MiB: not read")
        return None
    return block


def _inflate(payload: bytes) -> bytes:
    """zlib with a ceiling: a small chunk must not inflate into gigabytes."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(payload, MAX_BLOCK)
    if inflater.unconsumed_tail:
        raise ValueError(f"inflates to more than {MAX_BLOCK} bytes")
    return out


def _webp(data: bytes) -> Metadata:
    found = Metadata(format="webp")
    pos, size = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    for _ in range(MAX_STEPS):
        if pos + 8 > size:
            break
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body, end = pos + 8, pos + 8 + length
        if end > size:
            name = kind.decode("latin-1")
            found.problems.append(f"webp: chunk {name!r} at byte {pos} runs past the end")
            break
        if kind == b"EXIF" and found.exif is None:
            exif = _bounded(data[body:end], "webp: EXIF chunk", found)
            found.exif = exif[6:] if exif and exif.startswith(b"Exif\x00\x00") else exif
        elif kind == b"XMP " and (xmp := _bounded(data[body:end], "webp: XMP chunk", found)):
            found.xmp.append(xmp.decode("utf-8", "replace"))
        elif kind == b"C2PA":
            found.has_c2pa = True
        pos = end + (length & 1)  # chunks are padded to an even size
    return found
