"""Image sizes read from the headers of encoded PNG, JPEG, GIF and BMP images, without decoding them (the
development server's pixel limit, checked before a model runs)."""

from __future__ import annotations

import struct

from .common import IMAGE_FORMATS
from .errors import ImageHeaderError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def encoded_image_size(data: bytes) -> tuple:
    """`(format, width, height)` read from the header of an encoded PNG, JPEG, GIF or BMP image, without decoding it.

    These are the formats the exported graph decodes (`tf.io.decode_png` / `tf.io.decode_image`).

    Raises:
        ImageHeaderError (a ValueError): the bytes are no such image (code `not_an_image`), its header is truncated
            or corrupt (`corrupt_header`), or says the image is empty (`empty_image`).
    """
    if not data:
        raise ImageHeaderError("empty string (0 bytes), not an image", code="not_an_image")
    if data.startswith(_PNG_MAGIC):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageHeaderError(f"truncated or corrupt PNG header ({len(data)} bytes)")
        kind, (width, height) = "PNG", struct.unpack(">II", data[16:24])
    elif data.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "JPEG", _jpeg_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) < 10:
            raise ImageHeaderError(f"truncated GIF header ({len(data)} bytes)")
        kind, (width, height) = "GIF", struct.unpack("<HH", data[6:10])
    elif data.startswith(b"BM"):
        if len(data) < 26:
            raise ImageHeaderError(f"truncated BMP header ({len(data)} bytes)")
        header_size = struct.unpack("<I", data[14:18])[0]
        size = struct.unpack("<HH", data[18:22]) if header_size == 12 else struct.unpack("<ii", data[18:26])
        kind, width, height = "BMP", abs(size[0]), abs(size[1])  # negative BMP height = top-down rows
    else:
        hint = ""
        if data.startswith((b"iVBOR", b"/9j/", b"R0lGOD")):  # base64 of a PNG, JPEG or GIF header
            hint = "; it looks base64-encoded: send raw bytes over gRPC, or {\"b64\": ...} over REST"
        raise ImageHeaderError(f"not a {IMAGE_FORMATS} image (starts with {data[:8]!r}){hint}",
                              code="not_an_image")
    if width <= 0 or height <= 0:
        raise ImageHeaderError(f"{kind} header gives an empty image ({width}x{height})", code="empty_image")
    return kind, int(width), int(height)


def _jpeg_size(data: bytes) -> tuple:
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise ImageHeaderError(f"corrupt JPEG header (no segment marker at byte {pos})")
        while pos < end and data[pos] == 0xFF:  # markers may be preceded by fill bytes
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # stand-alone markers carry no length
            continue
        if marker in (0xD9, 0xDA):
            raise ImageHeaderError("corrupt JPEG header (scan data or end of image before the frame header)")
        if pos + 2 > end:
            break
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        if length < 2:
            raise ImageHeaderError(f"corrupt JPEG header (segment length {length} at byte {pos})")
        if marker in _JPEG_SOF:
            if pos + 7 > end:
                break
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            return width, height
        pos += length
    raise ImageHeaderError(f"truncated JPEG header (no frame header in {len(data)} bytes)")
