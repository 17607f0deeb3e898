"""One PNG grid of several PNG images, with the standard library and numpy alone (the client's REST path imports
neither TensorFlow nor an imaging library).

The layout is the translate CLI's (`i2i_keras.translate.png_grid`): ceil(sqrt(N)) columns, filled row by row,
cells left over black. Decoding covers what exports answer: non-interlaced PNGs of 8 or 16 bits per sample, grey,
grey + alpha, RGB or RGBA; the grid is written unfiltered with the first image's bit depth and channels.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Sequence

import numpy as np

from .errors import ClientError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # PNG colour type -> samples per pixel
_COLOUR_TYPES = {v: k for k, v in _CHANNELS.items()}


def grid_shape(count: int) -> tuple:
    """(rows, columns) of a grid of `count` images: ceil(sqrt(count)) columns, filled row by row."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / columns)), columns


def _chunks(data: bytes, where: str):
    if not data.startswith(_SIGNATURE):
        raise ClientError(f"{where}: not a PNG image", code="bad_response")
    offset = len(_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        yield kind, data[offset + 8:offset + 8 + length]
        offset += 12 + length


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    """Reverses the PNG scanline filters (None, Sub, Up, Average, Paeth) -> [height, stride] uint8."""
    rows = np.zeros((height, stride), np.uint8)
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + previous[x]) >> 1)) & 0xFF
        elif kind == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b, c = previous[x], previous[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif kind != 0:
            raise ValueError(f"unknown scanline filter {kind}")
        rows[y] = np.frombuffer(bytes(line), np.uint8)
        previous = line
    return rows


def decode_png(data: bytes, where: str = "PNG") -> np.ndarray:
    """PNG bytes -> [H, W, C] uint8 or uint16 array."""
    header, compressed = None, []
    for kind, body in _chunks(bytes(data), where):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"IDAT":
            compressed.append(body)
    if header is None:
        raise ClientError(f"{where}: PNG without a header chunk", code="bad_response")
    width, height, depth, colour, _, _, interlace = header
    if colour not in _CHANNELS or depth not in (8, 16) or interlace:
        raise ClientError(f"{where}: unsupported PNG (bit depth {depth}, colour type {colour}, interlace "
                          f"{interlace}); expected non-interlaced 8/16-bit grey, RGB or with alpha",
                          code="bad_response")
    channels = _CHANNELS[colour]
    bpp = channels * depth // 8
    try:
        rows = _unfilter(zlib.decompress(b"".join(compressed)), height, width * bpp, bpp)
    except (zlib.error, ValueError, IndexError) as err:
        raise ClientError(f"{where}: corrupt PNG data ({err})", code="bad_response") from None
    if depth == 16:
        return rows.view(">u2").astype(np.uint16).reshape(height, width, channels)
    return rows.reshape(height, width, channels)


def encode_png(image: np.ndarray) -> bytes:
    """[H, W, C] uint8 or uint16 array (C in 1..4) -> PNG bytes (unfiltered, zlib level 6)."""
    height, width, channels = image.shape
    depth = 16 if image.dtype == np.uint16 else 8
    rows = image.astype(">u2" if depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPES[channels], 0, 0, 0)
    return _SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def png_grid(pngs: Sequence[bytes], where: str = "response") -> bytes:
    """Same-size PNGs -> one PNG of them in a `grid_shape` grid."""
    images = [decode_png(data, f"{where}: image {i}") for i, data in enumerate(pngs)]
    if not images:
        raise ClientError(f"{where}: no images to put in a grid", code="bad_response")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ClientError(f"{where}: images of different shapes {sorted(shapes)} cannot share a grid",
                          code="bad_response")
    rows, columns = grid_shape(len(images))
    height, width, channels = images[0].shape
    grid = np.zeros((rows * height, columns * width, channels), images[0].dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return encode_png(grid)
