"""Vectorized text building: numpy digit tables and pyarrow string kernels, never a Python loop per row.

Strings are pyarrow ``StringArray``s. Fixed-width fields come from ``(n, w)`` uint8 matrices without a
copy; categorical fields are ``take``s from small tables; rows are joined by
``binary_join_element_wise``. A chunk's text is the data buffer of its joined lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Part: TypeAlias = pa.Array | str

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)


@cache
def _digit_table(width: int) -> np.ndarray:
    """``(10**width, width)`` uint8: the zero-padded decimal text of every number below ``10**width``."""
    values = np.arange(10**width)
    out = np.empty((10**width, width), np.uint8)
    for k in range(width - 1, -1, -1):
        out[:, k] = 48 + values % 10
        values //= 10
    return out


def from_matrix(mat: np.ndarray) -> pa.StringArray:
    """The rows of an ``(n, w)`` uint8 matrix as ``n`` strings of ``w`` bytes (no copy of the text)."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, width = mat.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


def from_slices(data: pa.Buffer | np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """Strings ``data[offsets[i]:offsets[i + 1]]`` (no copy of the text)."""
    buffer = data if isinstance(data, pa.Buffer) else pa.py_buffer(np.ascontiguousarray(data))
    offsets = np.ascontiguousarray(offsets, dtype=np.int32)
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), buffer)


def ragged(mat: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """Row ``i`` of ``mat`` cut to its first ``lengths[i]`` bytes."""
    width = mat.shape[1]
    keep = np.arange(width, dtype=np.int16)[None, :] < lengths.astype(np.int16)[:, None]
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return from_slices(mat[keep], offsets)


def offsets_of(strings: pa.StringArray) -> np.ndarray:
    """The ``len + 1`` offsets of ``strings`` into its data buffer."""
    return np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)


def data_of(strings: pa.StringArray) -> pa.Buffer:
    """The concatenated text of ``strings`` (no nulls): its data buffer between the first and last offset."""
    offsets = offsets_of(strings)
    data = strings.buffers()[2]
    if data is None:
        return pa.py_buffer(b"")
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def hex_digits(values: np.ndarray, digits: int = 16) -> np.ndarray:
    """``(n, digits)`` lowercase hex of uint64 values (the last ``digits`` digits, zero-padded)."""
    raw = np.ascontiguousarray(values, dtype=np.uint64).astype(">u8").view(np.uint8).reshape(-1, 8)
    out = np.empty((len(raw), 16), np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    return out[:, 16 - digits :]


@cache
def _head_words() -> np.ndarray:
    """uint32 words of ``d.dd`` for ``d · 100 + dd`` (the first four bytes of a decimal)."""
    text = np.empty((1000, 4), np.uint8)
    text[:, 0] = 48 + np.arange(1000) // 100
    text[:, 1] = ord(".")
    text[:, 2:] = _digit_table(2)[np.arange(1000) % 100]
    return text.view(np.uint32).reshape(-1)


@cache
def _tail_words(digits: int, end: bytes) -> np.ndarray:
    """uint32 words of ``digits`` zero-padded digits followed by ``end`` (4 bytes in all)."""
    text = np.empty((10**digits, 4), np.uint8)
    text[:, :digits] = _digit_table(digits)
    text[:, digits:] = np.frombuffer(end, np.uint8)
    return text.view(np.uint32).reshape(-1)


def decimals(units: np.ndarray, places: int, end: bytes = b"") -> np.ndarray:
    """``(n, places + 2 + len(end))`` text ``d.ddd…`` of ``units / 10**places`` (units below ``10**(places + 1)``),
    followed by ``end``."""
    units = np.asarray(units)
    units = units.astype(np.int32 if places < 9 else np.int64, copy=False)
    whole, frac = np.divmod(units, 10**places)
    if places + len(end) == 6 and places >= 5:  # 8 bytes: two table words, no per-digit work
        words = np.empty((len(units), 2), np.uint32)
        rest = 10 ** (places - 2)
        words[:, 0] = _head_words()[whole * 100 + frac // rest]
        words[:, 1] = _tail_words(places - 2, end)[frac % rest]
        return words.view(np.uint8)
    out = np.empty((len(units), places + 2 + len(end)), np.uint8)
    out[:, 0] = 48 + whole
    out[:, 1] = ord(".")
    low = min(places, 4)
    high = places - low
    if high:
        out[:, 2 : 2 + high] = _digit_table(high)[frac // 10**low]
    out[:, 2 + high : places + 2] = _digit_table(low)[frac % 10**low]
    if end:
        out[:, places + 2 :] = np.frombuffer(end, np.uint8)
    return out


def trimmed_decimals(units: np.ndarray, places: int) -> pa.StringArray:
    """Python's ``repr(round(v, places))`` for ``v = units / 10**places`` in [0, 10): ``0.8875``, ``1.0``."""
    mat = decimals(units, places)
    frac = np.asarray(units, dtype=np.int64) % 10**places
    kept = np.full(len(mat), places, np.int64)
    for k in range(1, places):
        kept -= (frac % 10**k) == 0
    kept = np.where(frac == 0, 1, kept)
    return ragged(mat, 2 + kept)


def base64_16(raw: np.ndarray) -> np.ndarray:
    """``(n, 24)`` base64 text (``==`` padded) of ``(n, 16)`` random bytes, like ``OriginalMD5``."""
    n = len(raw)
    padded = np.zeros((n, 18), np.uint8)
    padded[:, :16] = raw
    groups = padded.reshape(n, 6, 3).astype(np.uint32)
    word = (groups[:, :, 0] << 16) | (groups[:, :, 1] << 8) | groups[:, :, 2]
    sextets = np.stack([(word >> s) & 63 for s in (18, 12, 6, 0)], axis=2).reshape(n, 24)
    out = _B64[sextets]
    out[:, 22:] = ord("=")
    return out


def integers(values: np.ndarray) -> pa.StringArray:
    """Decimal text of integers (``-1``, ``42``)."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def shortest_floats(values: np.ndarray) -> pa.StringArray:
    """Shortest round-trip text of float32 values (``0.022673031``); whole numbers as ``1.0``."""
    text = pc.cast(pa.array(np.asarray(values, dtype=np.float32)), pa.string())
    whole = pc.invert(pc.match_substring(text, "."))
    if not pc.any(whole).as_py():
        return text
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def table(values: Sequence[str]) -> pa.StringArray:
    """A small lookup table for ``pick``."""
    return pa.array(list(values), pa.string())


def pick(lookup: pa.StringArray, codes: np.ndarray) -> pa.StringArray:
    """``lookup[codes]`` as a string array."""
    return lookup.take(pa.array(np.asarray(codes, dtype=np.int32)))


def join(parts: Sequence[Part], sep: str = "") -> pa.StringArray:
    """Row-wise concatenation of arrays and constants with ``sep`` between parts."""
    args = [pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, sep)


def where(mask: np.ndarray, if_true: Part, if_false: Part) -> pa.StringArray:
    """Row-wise choice between two string arrays or constants."""

    def arg(p: Part) -> pa.Array | pa.Scalar:
        return pa.scalar(p, pa.string()) if isinstance(p, str) else p

    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), arg(if_true), arg(if_false))


def csv_quote(value: str) -> str:
    """One CSV field as Python's csv module writes it (QUOTE_MINIMAL)."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value
