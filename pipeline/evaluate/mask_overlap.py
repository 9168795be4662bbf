"""Mask overlaps on runs, never on decoded pixels: a prediction brought to a ground-truth mask's grid, intersections.

A mask is its set runs in COCO order (column-major: position = column * height + row), ``starts`` and
``ends`` (exclusive), sorted and disjoint. Open Images mask PNGs are not at their image's resolution, so
a prediction (at ``ImageWidth x ImageHeight``) is compared with a ground-truth mask on the mask's own
grid: each mask pixel takes the prediction pixel its centre falls in (nearest neighbour on normalized
coordinates, both grids spanning the whole image): mask row ``r`` of ``H`` reads prediction row
``floor((r + 1/2) * h / H)`` of ``h``, columns alike. On equal sizes this is the identity (the official
metric's case). The mapping is monotone, so a prediction run of rows ``[r0, r1)`` in one column becomes
one run of mask rows in each mask column that reads that column: the resampled mask is computed from
the runs, its cost following the outline, not the area.

The intersection of two run lists is the sum, over the runs of one, of how many set pixels of the
other lie before its end minus before its start (a binary search into the other's cumulated lengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def runs(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The set runs ``(starts, ends)`` of COCO RLE ``counts`` (int64, column-major positions, non-empty runs)."""
    edges = np.cumsum(counts, dtype=np.int64)
    starts, ends = edges[0:-1:2], edges[1::2]
    keep = ends > starts
    return starts[keep], ends[keep]


def source_index(target: int, source: int, length: int) -> np.ndarray:
    """For each of ``target`` cells, the one of ``source`` cells its centre falls in (``length`` = ``target``)."""
    return ((2 * np.arange(length, dtype=np.int64) + 1) * source) // (2 * target)


def _first_reading(x: np.ndarray, source: int, target: int) -> np.ndarray:
    """How many of ``target`` cells read a source cell before ``x``: ``#{d : floor((d + 1/2) source / target) < x}``."""
    return np.minimum(np.maximum(-((source - 2 * x * target) // (2 * source)), 0), target)


@lru_cache(maxsize=256)
def _readings(source: int, target: int) -> np.ndarray:
    """``_first_reading`` of every boundary ``0..source``: a lookup table per pair of sizes."""
    return _first_reading(np.arange(source + 1, dtype=np.int64), source, target)


def on_grid(starts: np.ndarray, ends: np.ndarray, height: int, width: int, to_height: int, to_width: int
            ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Runs of a ``height x width`` mask resampled (nearest, by pixel centres) onto ``to_height x to_width``."""
    if (height, width) == (to_height, to_width) or not starts.size:
        return starts, ends
    first_col, last_col = starts // height, (ends - 1) // height
    if (first_col == last_col).all():  # every run inside one column (the common case)
        col, row0, row1 = first_col, starts - first_col * height, ends - first_col * height
    else:  # a run reaching over column ends is one piece per column
        pieces = last_col - first_col + 1
        run = np.repeat(np.arange(starts.size), pieces)
        col = first_col[run] + (np.arange(run.size) - np.repeat(np.cumsum(pieces) - pieces, pieces))
        row0 = np.where(col == first_col[run], starts[run] - col * height, 0)
        row1 = np.where(col == last_col[run], ends[run] - col * height, height)
    rows, cols = _readings(height, to_height), _readings(width, to_width)
    to_row0, to_row1 = rows[row0], rows[row1]
    to_col0 = cols[col]
    copies = cols[col + 1] - to_col0  # mask columns reading this column: 0, 1 or more
    keep = (to_row1 > to_row0) & (copies > 0)
    if not keep.all():
        to_row0, to_row1, to_col0, copies = to_row0[keep], to_row1[keep], to_col0[keep], copies[keep]
    if not copies.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if copies.max() == 1:
        base = to_col0 * to_height
        return base + to_row0, base + to_row1  # columns kept their order: still sorted
    piece = np.repeat(np.arange(copies.size), copies)
    to_col = to_col0[piece] + (np.arange(piece.size) - np.repeat(np.cumsum(copies) - copies, copies))
    new_starts = to_col * to_height + to_row0[piece]
    order = np.argsort(new_starts, kind="stable")
    return new_starts[order], (to_col * to_height + to_row1[piece])[order]


@dataclass(frozen=True)
class RunIndex:
    """A mask's runs with their cumulated lengths: how many of its pixels lie before any position."""

    starts: np.ndarray
    lengths: np.ndarray
    before: np.ndarray  # set pixels before each run
    area: int

    @classmethod
    def of(cls, starts: np.ndarray, ends: np.ndarray) -> RunIndex:
        lengths = ends - starts
        cumulated = np.cumsum(lengths)
        return cls(starts, lengths, cumulated - lengths, int(cumulated[-1]) if lengths.size else 0)

    def covered(self, positions: np.ndarray) -> np.ndarray:
        """Set pixels at positions ``< p`` for each ``p``."""
        k = np.searchsorted(self.starts, positions, side="right") - 1
        inside = k >= 0
        k = np.maximum(k, 0)
        if not self.starts.size:
            return np.zeros(positions.shape, np.int64)
        return np.where(inside, self.before[k] + np.minimum(positions - self.starts[k], self.lengths[k]), 0)

    def intersection(self, starts: np.ndarray, ends: np.ndarray) -> int:
        """Pixels of this mask inside the (disjoint) runs ``starts``/``ends`` of another on the same grid."""
        if not starts.size or not self.starts.size:
            return 0
        return int((self.covered(ends) - self.covered(starts)).sum())
