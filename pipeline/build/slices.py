"""Ranges of ``image_id_u64`` for the build steps that work on a large table one range at a time.

The marts and the overlap removal hash their rows; over a whole scale-1 table the hash tables
outgrow the build's DuckDB budget and spill. The files are sorted by ``image_id_u64``, so a range
reads only its own row groups, and ranges of a few million rows each fit the budget.
"""

from __future__ import annotations

import math

MAX_SLICES = 64
KEY_SPACE = 2**64  # slice keys are unsigned 64-bit integers


def key_ranges(slices: int) -> list[tuple[int, int | None]]:
    """``slices`` disjoint ``[low, high)`` ranges covering the unsigned 64-bit keys; the last is open."""
    bounds = [k * KEY_SPACE // slices for k in range(slices)]
    return [(low, high) for low, high in zip(bounds, [*bounds[1:], None], strict=True)]


def slice_count(rows: int, slice_rows: int) -> int:
    """How many slices keep each one near ``slice_rows`` rows (1 to ``MAX_SLICES``)."""
    return max(1, min(MAX_SLICES, math.ceil(rows / slice_rows)))


def range_conditions(column: str, low: int, high: int | None) -> list[str]:
    """The SQL conditions keeping ``low <= column < high`` (``high`` None: no upper bound)."""
    conditions = [f"{column} >= {low}::ubigint"]
    if high is not None:
        conditions.append(f"{column} < {high}::ubigint")
    return conditions
