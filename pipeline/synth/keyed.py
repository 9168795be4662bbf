"""Keyed random draws: a value is a hash of its key (image, row, stream), so it does not depend on which
chunk a row falls in. Vectorized splitmix64 over uint64 arrays (numpy wraps uint64 arithmetic)."""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_TOP53 = 2.0**-53


def mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer of uint64 values."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def combine(key: np.ndarray, *parts: np.ndarray | int) -> np.ndarray:
    """A new key from ``key`` and further integers (arrays broadcast)."""
    out = np.asarray(key, dtype=np.uint64)
    for part in parts:
        out = mix(out ^ (np.atleast_1d(np.asarray(part).astype(np.uint64)) * _GOLDEN + _GOLDEN))
    return out


def string_keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """FNV-1a of fixed-width byte strings (``S`` dtype, NUL-padded; no NUL inside), mixed with ``seed``."""
    width = ids.dtype.itemsize
    mat = np.ascontiguousarray(ids).view(np.uint8).reshape(len(ids), width)
    h = np.full(len(ids), _FNV_OFFSET, np.uint64)
    for j in range(width):
        byte = mat[:, j].astype(np.uint64)
        h = np.where(mat[:, j] != 0, (h ^ byte) * _FNV_PRIME, h)
    return combine(h, seed, 0x5EED)


def uniform(key: np.ndarray, stream: int) -> np.ndarray:
    """One float64 in (0, 1) per key, independent for each ``stream``."""
    bits = combine(key, stream) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * _TOP53


def normal(key: np.ndarray, stream: int) -> np.ndarray:
    """One standard normal per key (Box-Muller of two keyed uniforms)."""
    radius = np.sqrt(-2.0 * np.log(uniform(key, stream)))
    return radius * np.cos(2.0 * np.pi * uniform(key, stream + 1_000_003))


def below(key: np.ndarray, stream: int, high: np.ndarray | int) -> np.ndarray:
    """One integer in ``[0, high)`` per key (``high`` ≥ 1)."""
    high = np.asarray(high, dtype=np.int64)
    return np.minimum((uniform(key, stream) * high).astype(np.int64), high - 1)
