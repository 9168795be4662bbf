"""Decode a mask PNG (1-bit or 8-bit grayscale) to its pixels with zlib and numpy; refuse anything else by name.

Mask PNGs are 1-bit grayscale, one IDAT, not interlaced, every scanline filter 0 (none); filters 1-4 are
undone too. Every refusal is a ``MaskPngError`` whose ``kind`` is one of the reject reasons below.
``encode`` is the inverse: a mask written as the release writes them (1-bit, filter 0, zlib level 1, Z_RLE).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from pipeline.masks.errors import MaskPngError


def _inflater_module() -> ModuleType:
    """zlib-ng when installed: it inflates mask PNGs (long runs of zeros) many times faster than zlib."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return zlib
    return zlib_ng


INFLATE: ModuleType = _inflater_module()
DEFLATE: ModuleType = INFLATE  # zlib-ng deflates with Z_RLE ~5x faster than zlib, to the same bytes (tested)

NOT_PNG = "not a PNG"
CORRUPT = "corrupt"
WRONG_MODE = "not 1-bit or 8-bit grayscale"
INTERLACED = "interlaced"
KINDS = (NOT_PNG, CORRUPT, WRONG_MODE, INTERLACED)

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 1 << 28  # a mask claiming more pixels than this is refused before anything is inflated
_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale + alpha", 6: "RGBA"}
_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


@dataclass(frozen=True)
class Scanlines:
    """A decoded mask PNG: ``rows`` are its unfiltered scanlines, ``(height, stride)`` uint8.

    For a 1-bit PNG a row packs 8 pixels a byte, most significant bit first (as ``np.packbits``); for
    8-bit a byte is a pixel. A pixel is set when it is not 0.
    """

    width: int
    height: int
    bit_depth: int
    rows: np.ndarray

    def mask(self) -> np.ndarray:
        """The boolean ``(height, width)`` mask."""
        if self.bit_depth == 1:
            return np.unpackbits(self.rows, axis=1, count=self.width).view(np.bool_)
        return self.rows != 0


def decode(data: bytes) -> Scanlines:
    """The scanlines of a 1-bit or 8-bit grayscale PNG; ``MaskPngError`` names why any other input is refused."""
    width, height, bit_depth, compressed = _read_chunks(data)
    stride = (width * bit_depth + 7) // 8
    expected = height * (stride + 1)
    inflater = INFLATE.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected)
        more = b"" if inflater.eof else inflater.decompress(inflater.unconsumed_tail, 1)  # only the stream's end left?
    except INFLATE.error as exc:
        raise MaskPngError(CORRUPT, f"the image data does not inflate ({exc})") from exc
    if len(raw) < expected:
        raise MaskPngError(CORRUPT, f"the image data holds {len(raw):,} bytes, not the {expected:,} of its size")
    if more:
        raise MaskPngError(CORRUPT, f"the image data is longer than the {expected:,} bytes of its size")
    if not inflater.eof:
        raise MaskPngError(CORRUPT, "the image data's zlib stream is cut short (no end and checksum)")
    lines = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    rows = _unfilter(lines) if lines[:, 0].any() else lines[:, 1:]  # mask PNGs use filter 0 on every line
    return Scanlines(width, height, bit_depth, rows)


def decode_mask(data: bytes) -> np.ndarray:
    """The boolean ``(height, width)`` mask of a mask PNG."""
    return decode(data).mask()


def encode(mask: np.ndarray) -> bytes:
    """A 2-D mask as a 1-bit grayscale PNG (any non-zero pixel set), written as the release writes them.

    One IDAT, filter 0 on every scanline, zlib level 1 with the run-length strategy (``Z_RLE``): the five
    genuine masks decode and encode back to their exact bytes. The inverse of ``decode_mask``.
    """
    if mask.ndim != 2 or 0 in mask.shape:
        raise ValueError(f"a mask is a non-empty 2-D array, not one of shape {mask.shape}")
    set_pixels = mask if mask.dtype == np.bool_ else mask != 0
    return encode_packed(np.packbits(set_pixels, axis=1), mask.shape[1])


def encode_packed(rows: np.ndarray, width: int) -> bytes:
    """A 1-bit PNG of packed rows (``(height, ceil(width / 8))`` uint8, MSB first, as ``np.packbits``).

    Bits past ``width`` are written as they are: ``np.packbits`` leaves them 0, as the genuine masks have them.
    """
    height, stride = rows.shape
    if height == 0 or width <= 0 or stride != (width + 7) // 8:
        raise ValueError(f"packed rows of shape {rows.shape} cannot hold a 1-bit mask {width} pixels wide")
    lines = np.zeros((height, stride + 1), np.uint8)  # filter byte 0, then the row
    lines[:, 1:] = rows
    return encode_lines(lines, width)


def encode_lines(lines: np.ndarray, width: int) -> bytes:
    """A 1-bit PNG of its filtered scanlines: ``(height, 1 + ceil(width / 8))`` uint8, filter byte first."""
    height = lines.shape[0]
    compressor = DEFLATE.compressobj(1, DEFLATE.DEFLATED, 15, 8, DEFLATE.Z_RLE)
    data = compressor.compress(np.ascontiguousarray(lines).data) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _read_chunks(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, bit depth and the concatenated IDAT data; chunk CRCs checked."""
    if not data.startswith(SIGNATURE):
        found = data[:8].hex(" ") if data else "an empty member"
        raise MaskPngError(NOT_PNG, f"it does not start with the PNG signature (found {found})")
    position, size = len(SIGNATURE), len(data)
    header: tuple[int, int, int] | None = None
    idat: list[bytes] = []
    while True:
        if position + 12 > size:
            raise MaskPngError(CORRUPT, f"truncated: the data ends after {size:,} bytes, before the IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > size:
            name = kind.decode("latin-1")
            raise MaskPngError(
                CORRUPT, f"truncated: chunk {name!r} needs {length:,} bytes, {size - position - 12:,} remain"
            )
        body = data[position + 8 : end - 4]
        if zlib.crc32(data[position + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise MaskPngError(CORRUPT, f"chunk {kind.decode('latin-1')!r} at byte {position:,} fails its CRC")
        position = end
        if header is None and kind != b"IHDR":
            raise MaskPngError(CORRUPT, f"the first chunk is {kind.decode('latin-1')!r}, not IHDR")
        if kind == b"IHDR":
            header = _header(body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        elif kind[0] & 0x20 == 0 and kind != b"PLTE":  # an unknown critical chunk cannot be skipped
            raise MaskPngError(CORRUPT, f"unknown critical chunk {kind.decode('latin-1')!r}")
    if not idat:
        raise MaskPngError(CORRUPT, "no IDAT chunk: the PNG holds no image data")
    assert header is not None
    return (*header, b"".join(idat))


def _header(body: bytes) -> tuple[int, int, int]:
    if len(body) != 13:
        raise MaskPngError(CORRUPT, f"the IHDR chunk is {len(body)} bytes, not 13")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if width == 0 or height == 0 or width >= 1 << 31 or height >= 1 << 31:
        raise MaskPngError(CORRUPT, f"the IHDR gives an impossible size {width} x {height}")
    if color not in _COLOR_TYPES or depth not in _BIT_DEPTHS[color] or compression or filtering or interlace > 1:
        raise MaskPngError(
            CORRUPT,
            f"the IHDR is invalid (color type {color}, bit depth {depth}, compression {compression}, "
            f"filter method {filtering}, interlace {interlace})",
        )
    if color != 0 or depth not in (1, 8):
        raise MaskPngError(WRONG_MODE, f"it is {depth}-bit {_COLOR_TYPES[color]} (color type {color})")
    if interlace:
        raise MaskPngError(INTERLACED, "it is Adam7-interlaced; mask PNGs are read non-interlaced only")
    if width * height > MAX_PIXELS:
        raise MaskPngError(CORRUPT, f"{width} x {height} pixels is more than a mask can hold ({MAX_PIXELS:,})")
    return width, height, depth


def _unfilter(lines: np.ndarray) -> np.ndarray:
    """Undo the per-scanline filters (1 Sub, 2 Up, 3 Average, 4 Paeth); one byte per pixel step (bpp = 1)."""
    height = lines.shape[0]
    rows = np.empty((height, lines.shape[1] - 1), np.uint8)
    prior = np.zeros(rows.shape[1], np.uint8)
    for y in range(height):
        kind, line = int(lines[y, 0]), lines[y, 1:]
        if kind == 0:
            rows[y] = line
        elif kind == 1:
            rows[y] = np.cumsum(line, dtype=np.uint8)
        elif kind == 2:
            rows[y] = line + prior
        elif kind == 3:
            rows[y] = _average(line, prior)
        elif kind == 4:
            rows[y] = _paeth(line, prior)
        else:
            raise MaskPngError(CORRUPT, f"scanline {y} has filter type {kind}; PNG defines 0-4")
        prior = rows[y]
    return rows


def _average(line: np.ndarray, prior: np.ndarray) -> np.ndarray:
    out = bytearray(len(line))
    left = 0
    for i, (value, up) in enumerate(zip(line.tolist(), prior.tolist(), strict=True)):
        left = (value + ((left + up) >> 1)) & 0xFF
        out[i] = left
    return np.frombuffer(bytes(out), np.uint8)


def _paeth(line: np.ndarray, prior: np.ndarray) -> np.ndarray:
    out = bytearray(len(line))
    left = upper_left = 0
    for i, (value, up) in enumerate(zip(line.tolist(), prior.tolist(), strict=True)):
        estimate = left + up - upper_left
        to_left, to_up, to_corner = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
        if to_left <= to_up and to_left <= to_corner:
            predicted = left
        elif to_up <= to_corner:
            predicted = up
        else:
            predicted = upper_left
        left = (value + predicted) & 0xFF
        upper_left = up
        out[i] = left
    return np.frombuffer(bytes(out), np.uint8)
