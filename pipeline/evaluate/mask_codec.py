"""Predicted masks decoded many at a time: the official ``Mask`` field, COCO RLE counts, area and box.

The official field is ``base64(zlib(counts))``, where ``counts`` is pycocotools' compressed counts string
of the mask at ``ImageWidth x ImageHeight`` (``oid_challenge_evaluation_utils._decode_raw_data_into_masks_and_boxes``).
Parquet predictions may give the counts string itself, or the counts as a list of integers.

Decoding is vectorized over a whole batch of masks (one numpy pass for all their characters, the
"difference to the count two before" undone by a cumulative sum per mask), so the cost per mask is a
few microseconds, not the dozens of numpy calls a mask at a time would take. Every mask that cannot
be used gets a reason (``MaskBatch.reasons``); the others get their counts, area and box.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_MAX_COUNT = (1 << 32) - 1  # pycocotools keeps counts as uint32
_MAX_GROUPS = 12  # 5-bit groups in one value: more is not a count

NOT_BASE64 = "not base64 text"
NOT_ZLIB = "not zlib-compressed data"
NOT_RLE = "not a COCO RLE counts string"
NO_COUNTS = "no counts"


@dataclass(frozen=True)
class MaskBatch:
    """Decoded masks: ``counts[offsets[i]:offsets[i + 1]]`` are mask ``i``'s counts; ``reasons[i]`` None if usable.

    ``area`` is the set pixels; ``box`` is ``[y_min, x_min, y_max, x_max]`` normalized by the mask's size, as
    ``_to_normalized_box`` computes it (all zeros for an empty mask, which the evaluation drops).
    """

    counts: np.ndarray
    offsets: np.ndarray
    reasons: list[str | None]
    area: np.ndarray
    box: np.ndarray

    def counts_of(self, i: int) -> np.ndarray:
        return self.counts[self.offsets[i] : self.offsets[i + 1]]


def unpack_official(masks: Sequence[str]) -> tuple[list[bytes], list[str | None]]:
    """The counts strings inside official ``Mask`` fields (base64 of zlib), with a reason where one is not."""
    texts: list[bytes] = []
    reasons: list[str | None] = []
    for mask in masks:
        try:
            packed = base64.b64decode(mask, validate=True)
        except (binascii.Error, ValueError):
            texts.append(b"")
            reasons.append(NOT_BASE64)
            continue
        try:
            texts.append(zlib.decompress(packed))
            reasons.append(None)
        except zlib.error:
            texts.append(b"")
            reasons.append(NOT_ZLIB)
    return texts, reasons


def pack_official(counts_string: str | bytes) -> str:
    """The official ``Mask`` field of a counts string: base64(zlib(counts)), as the reference's tests write it."""
    raw = counts_string.encode("ascii") if isinstance(counts_string, str) else counts_string
    return base64.b64encode(zlib.compress(raw, zlib.Z_BEST_COMPRESSION)).decode("ascii")


def decode_strings(texts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Counts (int64, concatenated), offsets and a reason per string, exactly pycocotools' ``rleFrString``.

    A string with a character outside ``'0'..'o'``, a last value that says more follows, a value of too
    many characters or a count outside ``0..2^32-1`` gets a reason and no usable counts.
    """
    n = len(texts)
    reasons: list[str | None] = [None] * n
    lengths = np.fromiter((len(t) for t in texts), np.int64, n)
    text_end = np.cumsum(lengths)  # one past each string's last character
    if not n or not text_end[-1]:
        return np.zeros(0, np.int64), np.zeros(n + 1, np.int64), [NO_COUNTS] * n
    digits = np.frombuffer(b"".join(texts), np.uint8) - np.uint8(48)  # '0'..'o' -> 0..63, anything else > 63
    bad = np.zeros(n, np.bool_)
    outside = np.flatnonzero(digits > 63)
    if outside.size:
        bad[np.unique(np.searchsorted(text_end, outside, side="right"))] = True
        digits[outside] = 0
    more = (digits & 0x20) != 0
    last = text_end[lengths > 0] - 1
    bad[np.flatnonzero(lengths > 0)[more[last]]] = True  # truncated: the last value says more follows
    more[last] = False  # no value runs on into the next string
    ends = np.flatnonzero(~more)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    width = ends - starts + 1
    groups = digits & np.uint8(0x1F)
    values = groups[starts].astype(np.int64)
    for p in range(1, min(int(width.max()), _MAX_GROUPS)):  # values are 1-3 characters: a few short passes
        chosen = np.flatnonzero(width > p)
        values[chosen] |= groups[starts[chosen] + p].astype(np.int64) << (5 * p)
    value_owner = np.repeat(np.arange(n, dtype=np.int64), lengths)[ends]
    too_long = width > _MAX_GROUPS
    if too_long.any():
        bad[np.unique(value_owner[too_long])] = True
        width = np.minimum(width, _MAX_GROUPS)
    negative = np.flatnonzero(groups[ends] & np.uint8(0x10))
    values[negative] -= np.left_shift(1, 5 * width[negative])
    per_text = np.bincount(value_owner, minlength=n)
    offsets = np.concatenate(([0], np.cumsum(per_text)))
    k = np.arange(values.size) - offsets[value_owner]  # index of the value within its string
    counts = values
    for parity, first in ((1, 1), (0, 2)):  # counts[k] = values[k] + counts[k - 2] from k = 3 on
        chosen = np.flatnonzero(((k & 1) == parity) & (k >= first))
        if chosen.size:
            running = np.cumsum(values[chosen])
            group = value_owner[chosen]
            head = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
            before = np.repeat(np.r_[0, running[head[1:] - 1]], np.diff(np.r_[head, chosen.size]))
            counts[chosen] = running - before
    out_of_range = (counts < 0) | (counts > _MAX_COUNT)
    if out_of_range.any():
        bad[np.unique(value_owner[out_of_range])] = True
    for i in np.flatnonzero(bad):
        reasons[i] = NOT_RLE
    for i in np.flatnonzero(per_text == 0):
        reasons[i] = reasons[i] or NO_COUNTS
    return counts, offsets, reasons


def measure(counts: np.ndarray, offsets: np.ndarray, heights: np.ndarray, widths: np.ndarray,
            reasons: list[str | None]) -> MaskBatch:  # fmt: skip
    """Check that each mask's counts cover ``height x width`` pixels; its area and normalized box."""
    n = offsets.size - 1
    heights = np.asarray(heights, np.int64)
    widths = np.asarray(widths, np.int64)
    reasons = list(reasons)
    per_mask = np.diff(offsets)
    owner = np.repeat(np.arange(n), per_mask)
    cumulated = np.concatenate(([0], np.cumsum(counts)))
    pixels = heights * widths
    totals = cumulated[offsets[1:]] - cumulated[offsets[:-1]]
    for at in np.flatnonzero(totals != pixels).tolist():
        if reasons[at] is None:
            reasons[at] = f"RLE counts cover {int(totals[at]):,} pixels, not {int(widths[at])} x {int(heights[at])}"
    odd = (np.arange(counts.size) - offsets[owner]) & 1
    run_end = cumulated[1:] - np.repeat(cumulated[offsets[:-1]], per_mask)  # within its own mask
    set_counts = np.where(odd == 1, counts, 0)
    summed = np.concatenate(([0], np.cumsum(set_counts)))
    area = summed[offsets[1:]] - summed[offsets[:-1]]
    ones = np.flatnonzero(set_counts)
    box = np.zeros((n, 4), np.float64)
    if ones.size:
        who = owner[ones]
        height = heights[who]
        first = run_end[ones] - counts[ones]
        last = run_end[ones] - 1
        first_col, last_col = first // height, last // height
        across = last_col > first_col  # a run over two columns covers a column's bottom and the next one's top
        top = np.where(across, 0, first % height)
        bottom = np.where(across, height - 1, last % height)
        head = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
        masks = who[head]
        h, w = heights[masks].astype(np.float64), widths[masks].astype(np.float64)
        box[masks, 0] = np.minimum.reduceat(top, head) / h
        box[masks, 1] = np.minimum.reduceat(first_col, head) / w
        box[masks, 2] = (np.maximum.reduceat(bottom, head) + 1) / h
        box[masks, 3] = (np.maximum.reduceat(last_col, head) + 1) / w
    for i, reason in enumerate(reasons):
        if reason is not None:
            area[i] = 0
            box[i] = 0.0
    return MaskBatch(counts, offsets, reasons, area, box)


def decode_batch(texts: Sequence[bytes], heights: np.ndarray, widths: np.ndarray) -> MaskBatch:
    """Counts strings at ``height x width`` each: counts, area, box, or the reason a mask is refused."""
    counts, offsets, reasons = decode_strings(texts)
    return measure(counts, offsets, heights, widths, reasons)


def from_lists(lists: Sequence[Sequence[int] | None], heights: np.ndarray, widths: np.ndarray) -> MaskBatch:
    """Uncompressed counts (a list of integers per mask): area, box, or the reason a mask is refused."""
    reasons: list[str | None] = []
    parts = []
    for values in lists:
        array = np.asarray(values if values is not None else [], np.int64)
        if array.size == 0:
            reasons.append(NO_COUNTS)
        elif array.min() < 0 or array.max() > _MAX_COUNT:
            reasons.append("a count outside 0..2^32-1")
            array = array[:0]
        else:
            reasons.append(None)
        parts.append(array)
    sizes = np.fromiter((p.size for p in parts), np.int64, len(parts))
    counts = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return measure(counts, np.concatenate(([0], np.cumsum(sizes))), heights, widths, reasons)


def to_strings(batch: MaskBatch) -> list[str | None]:
    """The compressed counts string of each usable mask (pycocotools' ``rleToString``), None for the others."""
    counts, offsets = batch.counts, batch.offsets
    n = offsets.size - 1
    out: list[str | None] = [None] * n
    if not counts.size:
        return out
    per_mask = np.diff(offsets)
    owner = np.repeat(np.arange(n), per_mask)
    k = np.arange(counts.size) - offsets[owner]
    values = counts.copy()
    later = k >= 3
    values[later] -= counts[np.flatnonzero(later) - 2]
    magnitude = np.where(values < 0, ~values, values)
    groups = (np.frexp(magnitude.astype(np.float64))[1] + 5) // 5
    value_end = np.cumsum(groups)
    char_owner = np.repeat(np.arange(values.size), groups)
    shift = np.arange(int(value_end[-1])) - np.repeat(value_end - groups, groups)
    chars = ((values[char_owner] >> (5 * shift)) & 0x1F) | 0x20
    chars[value_end - 1] &= 0x1F
    text = (chars + 48).astype(np.uint8).tobytes().decode("ascii")
    char_offsets = np.concatenate(([0], value_end))[offsets]
    for i in range(n):
        if batch.reasons[i] is None:
            out[i] = text[char_offsets[i] : char_offsets[i + 1]]
    return out
