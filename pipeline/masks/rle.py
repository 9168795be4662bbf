"""COCO RLE, vectorized: run lengths in column-major order starting with zeros, and pycocotools' counts string.

``counts`` alternate runs of 0s and 1s over the mask read column by column (Fortran order), the first run
being 0s (of length 0 when the top-left pixel is set), as pycocotools' ``rleEncode`` writes them. The
compressed string is ``rleToString``'s: each count (minus the count two before it, from the fourth on)
as 5-bit groups, least significant first, 0x20 marking "more follows", plus 48 — so any COCO tool reads it.
"""

from __future__ import annotations

import threading

import numpy as np

from pipeline.masks.errors import RleError

_MAX_COUNT = (1 << 32) - 1  # pycocotools keeps counts as uint32
_MAX_GROUPS = 12  # 60 bits: more 5-bit groups in one value than any uint32 delta needs is a corrupt string


def encode(mask: np.ndarray) -> np.ndarray:
    """The COCO RLE counts (uint32) of a 2-D mask; any non-zero pixel is set. Equals pycocotools' ``encode``."""
    if mask.ndim != 2:
        raise RleError(f"a mask is a 2-D array, not one of shape {mask.shape}")
    height, width = mask.shape
    if height == 0 or width == 0:
        return np.zeros(1, np.uint32)
    set_pixels = mask if mask.dtype == np.bool_ else mask != 0
    return encode_packed(np.packbits(set_pixels, axis=1), width)


def encode_packed(rows: np.ndarray, width: int) -> np.ndarray:
    """The COCO RLE counts of a 1-bit mask given as packed rows (PNG scanlines, ``np.packbits``: MSB first).

    ``rows`` is ``(height, ceil(width / 8))`` uint8; bits past ``width`` are ignored. Only the bytes where a
    column changes between two rows are unpacked, so the cost follows the mask's outline, not its area.
    """
    height, stride = rows.shape
    if stride != (width + 7) // 8:
        raise RleError(f"packed rows of {stride} bytes cannot hold a mask {width} pixels wide")
    if height == 0 or width == 0:
        return np.zeros(1, np.uint32)
    words = -(-stride // 8)  # rows padded to whole 64-bit words, so that changes are found 64 pixels at a time
    padded = _scratch("padded", (height + 2) * words * 8).reshape(height + 2, words * 8)
    padded[0] = padded[-1] = 0
    padded[1:-1, stride:] = 0
    padded[1:-1, :stride] = rows
    if width % 8:
        padded[:, stride - 1] &= np.uint8((0xFF << (8 - width % 8)) & 0xFF)
    as_words = padded.view(np.uint64)
    changed = _scratch("changed", (height + 1) * words * 8).view(np.uint64).reshape(height + 1, words)
    np.bitwise_xor(as_words[1:], as_words[:-1], out=changed)  # bit set where a column changes between rows
    # the 64-pixel words with a change, then their bytes, then their bits (nonzero is fastest on booleans)
    where = np.flatnonzero(changed.ravel() != 0)
    in_words = changed.ravel()[where].view(np.uint8)
    byte = np.flatnonzero(in_words != 0)
    bit = np.flatnonzero(np.unpackbits(in_words[byte]).view(np.bool_))
    byte = byte[bit >> 3]
    position = (where[byte >> 3] * 8 + (byte & 7)) * 8 + (bit & 7)
    row_bits = words * 64
    return _counts(position % row_bits, position // row_bits, height, width)


_SCRATCH = threading.local()
_SCRATCH_LIMIT = 8 << 20  # buffers up to this size are kept (a 1600 x 1200 mask needs 2 x 250 KB)


def _scratch(name: str, size: int) -> np.ndarray:
    """A uint8 buffer of ``size`` bytes kept per thread: large fresh arrays cost a page fault per 4 KiB."""
    if size > _SCRATCH_LIMIT:
        return np.empty(size, np.uint8)
    buffer: np.ndarray | None = getattr(_SCRATCH, name, None)
    if buffer is None or buffer.size < size:
        buffer = np.empty(max(size, 1 << 18), np.uint8)
        setattr(_SCRATCH, name, buffer)
    return buffer[:size]


def _counts(cols: np.ndarray, rows: np.ndarray, height: int, width: int) -> np.ndarray:
    """Counts from the run boundaries of every column (``rows`` in [0, height]), in any order."""
    if cols.size == 0:
        return np.array([height * width], np.uint32)
    edges = np.sort(cols.astype(np.int64) * height + rows)  # column-major position; starts and ends alternate
    starts, ends = edges[0::2], edges[1::2]
    if starts.size > 1:  # a run down to a column's bottom goes on at the top of the next column
        apart = starts[1:] != ends[:-1]
        starts = np.concatenate((starts[:1], starts[1:][apart]))
        ends = np.concatenate((ends[:-1][apart], ends[-1:]))
    tail = height * width - int(ends[-1])
    counts = np.empty(2 * starts.size + (tail > 0), np.int64)
    counts[0] = starts[0]
    counts[2 : 2 * starts.size : 2] = starts[1:] - ends[:-1]
    counts[1 : 2 * starts.size : 2] = ends - starts
    if tail:
        counts[-1] = tail
    return counts.astype(np.uint32)


def decode(counts: np.ndarray, height: int, width: int) -> np.ndarray:
    """The boolean ``(height, width)`` mask of ``counts``; they must add up to ``height * width``."""
    counts = np.asarray(counts)
    total = int(counts.sum(dtype=np.int64))
    if total != height * width:
        raise RleError(f"RLE counts add up to {total:,} pixels, not {height} x {width} = {height * width:,}")
    values = (np.arange(counts.size) % 2).astype(np.bool_)
    return np.repeat(values, counts.astype(np.int64)).reshape(width, height).T


def to_string(counts: np.ndarray) -> str:
    """The compressed counts string, exactly pycocotools' ``rleToString`` (as ``str``; pycocotools gives bytes)."""
    counts = np.asarray(counts, np.int64)
    if counts.size == 0:
        return ""
    values = counts.copy()
    values[3:] -= counts[1:-2]  # from the fourth count on, the difference to the count two before
    magnitude = np.where(values < 0, ~values, values)  # < 2^34: exact as float64
    groups = (np.frexp(magnitude.astype(np.float64))[1] + 5) // 5  # 5-bit groups: fits in 5 * groups signed bits
    ends = np.cumsum(groups)
    owner = np.repeat(np.arange(values.size), groups)  # the value each character encodes
    shift = np.arange(int(ends[-1])) - np.repeat(ends - groups, groups)
    chars = ((values[owner] >> (5 * shift)) & 0x1F) | 0x20
    chars[ends - 1] &= 0x1F  # the last character of each value says nothing more follows
    return (chars + 48).astype(np.uint8).tobytes().decode("ascii")


def from_string(text: str | bytes) -> np.ndarray:
    """The counts (uint32) of a compressed counts string, exactly pycocotools' ``rleFrString``."""
    try:
        raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError as exc:
        raise RleError(f"RLE string: character {exc.start + 1} ({text[exc.start]!r}) is outside '0'..'o'") from exc
    if not raw:
        return np.zeros(0, np.uint32)
    chars = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    if chars.min() < 0 or chars.max() > 63:
        bad = int(np.flatnonzero((chars < 0) | (chars > 63))[0])
        raise RleError(f"RLE string: character {bad + 1} ({raw[bad : bad + 1]!r}) is outside '0'..'o'")
    more = (chars & 0x20) != 0
    if more[-1]:
        raise RleError("RLE string is truncated: its last character says more follows")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_GROUPS:
        raise RleError(f"RLE string: a value of {int(lengths.max())} characters is too long for a count")
    position = np.arange(chars.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((chars & 0x1F) << (5 * position), starts)
    negative = (chars[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    counts = values.copy()
    counts[1::2] = np.cumsum(values[1::2])  # undo the differences: counts[i] = values[i] + counts[i - 2], i > 2
    counts[2::2] = np.cumsum(values[2::2])
    if counts.min() < 0 or counts.max() > _MAX_COUNT:
        raise RleError("RLE string decodes to a count outside 0..2^32-1: it is not a valid COCO RLE")
    return counts.astype(np.uint32)


def area(counts: np.ndarray) -> int:
    """The number of set pixels (pycocotools' ``area``)."""
    return int(np.asarray(counts)[1::2].sum(dtype=np.int64))


def bbox(counts: np.ndarray, height: int) -> tuple[int, int, int, int] | None:
    """The set pixels' box ``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive; None for an empty mask."""
    counts = np.asarray(counts, np.int64)
    edges = np.concatenate(([0], np.cumsum(counts)))
    starts, ends = edges[1:-1:2], edges[2::2]
    keep = ends > starts
    if not keep.any() or height <= 0:
        return None
    starts, last = starts[keep], ends[keep] - 1
    first_col, last_col = starts // height, last // height
    across = last_col > first_col  # a run over two columns covers the bottom row of one and the top of the next
    top = np.where(across, 0, starts % height)
    bottom = np.where(across, height - 1, last % height)
    return int(first_col.min()), int(top.min()), int(last_col.max()) + 1, int(bottom.max()) + 1


def coco_bbox(counts: np.ndarray, height: int) -> list[float]:
    """pycocotools' ``toBbox``: ``[x, y, width, height]``, zeros for an empty mask."""
    box = bbox(counts, height)
    if box is None:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0, x1, y1 = box
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
