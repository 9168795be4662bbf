"""Mask pixels for segmentation rows, a chunk at a time: plausible shapes inside each box, as 1-bit PNGs.

An image's masks share one grid, drawn (by a hash of the ImageID) from the mask sizes seen in the release,
landscape or portrait. A mask is one star-shaped polygon spanning its pixel box (a smooth blob of many
vertices, 70%, or a polygon of a few) or, for 12%, two of them in opposite corners of the box. Every draw
is a hash of (seed, MaskPath), so a mask does not depend on which rows it is drawn with; the whole chunk is
drawn at once (numpy over every vertex, crossing and run of the chunk), then each mask is deflated alone.
"""

from __future__ import annotations

import numpy as np

from pipeline.masks.png import encode_lines
from pipeline.synth import keyed

# (width, height, weight) of the landscape mask grids seen in the release; PORTRAIT of them are transposed
GRIDS = ((1600, 1200, 0.34), (1600, 1066, 0.30), (1280, 960, 0.10), (1024, 680, 0.10), (800, 533, 0.08),
         (720, 480, 0.08))  # fmt: skip
PORTRAIT = 0.2
TWO_PARTS = 0.12  # of masks: two separate parts, as one of the genuine masks has
BLOBS = 0.7  # of parts: a blob of many vertices (else a polygon of a few)
BLOB_VERTICES, POLYGON_VERTICES = (24, 72), (5, 10)  # [low, high)
WAVES = (2, 3, 5)  # a blob's radius: 1 + Σ a·cos(k·θ + φ), a up to WAVE
WAVE = 0.12
JITTER = 0.15  # each vertex's radius × U(1 - JITTER, 1)
S_GRID, S_MASK, S_PART, S_VERTEX = 101, 102, 103, 104  # keyed streams
_BITS = 11  # a row or column fits in 11 bits (grids are at most 1600 px a side)


def grids(image_ids: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mask (width, height) per ImageID (uint64): one grid an image, whatever its masks."""
    key = keyed.combine(np.asarray(image_ids, np.uint64), seed, S_GRID)
    weights = np.array([g[2] for g in GRIDS])
    pick = np.minimum(np.searchsorted(np.cumsum(weights) / weights.sum(), keyed.uniform(key, 0)), len(GRIDS) - 1)
    long_side, short_side = np.array([g[0] for g in GRIDS])[pick], np.array([g[1] for g in GRIDS])[pick]
    portrait = keyed.uniform(key, 1) < PORTRAIT
    return np.where(portrait, short_side, long_side), np.where(portrait, long_side, short_side)


def pixel_boxes(boxes: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Normalised boxes (n, 4: XMin, XMax, YMin, YMax) as pixel boxes ``x0, y0, x1, y1`` (x1, y1 exclusive) on
    their grids: ``floor(min · size)`` to ``ceil(max · size)``, at least one pixel, inside the grid."""
    size = np.stack([width, width, height, height], axis=1).astype(np.float64)
    scaled = np.clip(np.asarray(boxes, np.float64), 0.0, 1.0) * size
    low = np.minimum(np.floor(scaled[:, [0, 2]]), size[:, [0, 2]] - 1).astype(np.int64)
    high = np.maximum(np.ceil(scaled[:, [1, 3]]).astype(np.int64), low + 1)
    return np.stack([low[:, 0], low[:, 1], high[:, 0], high[:, 1]], axis=1)


def mask_keys(mask_paths: list[str], seed: int) -> np.ndarray:
    """One uint64 key per MaskPath (FNV-1a of the name, mixed with ``seed``)."""
    return keyed.string_keys(np.array(mask_paths, dtype="S"), seed)


def _parts(key: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each mask's parts: owner mask, part key and part box (absolute pixels), masks in order."""
    x0, y0, x1, y1 = boxes.T
    w, h = x1 - x0, y1 - y0
    two = (keyed.uniform(key, S_MASK) < TWO_PARTS) & (w >= 8) & (h >= 8)
    cut_x = x0 + (w * (0.35 + 0.3 * keyed.uniform(key, S_MASK + 1))).astype(np.int64)
    cut_y = y0 + (h * (0.35 + 0.3 * keyed.uniform(key, S_MASK + 2))).astype(np.int64)
    flip = keyed.uniform(key, S_MASK + 3) < 0.5  # top-left + bottom-right, or bottom-left + top-right
    first = np.stack([x0, np.where(flip, cut_y, y0), cut_x, np.where(flip, y1, cut_y)], axis=1)
    second = np.stack([cut_x, np.where(flip, y0, cut_y), x1, np.where(flip, cut_y, y1)], axis=1)
    owner = np.repeat(np.arange(len(key)), 1 + two)
    index = np.arange(len(owner)) - np.repeat(np.cumsum(1 + two) - 1 - two, 1 + two)  # 0, or 0 then 1
    part_box = np.where((index == 0)[:, None], np.where(two[owner, None], first[owner], boxes[owner]), second[owner])
    return owner, keyed.combine(key[owner], index), part_box


def _polygons(part_key: np.ndarray, part_box: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices ``(part, x, y)`` of every part's polygon, spanning its box, in angle order within a part."""
    blob = keyed.uniform(part_key, S_PART) < BLOBS
    low = np.where(blob, BLOB_VERTICES[0], POLYGON_VERTICES[0])
    high = np.where(blob, BLOB_VERTICES[1], POLYGON_VERTICES[1])
    count = low + keyed.below(part_key, S_PART + 1, high - low)
    part = np.repeat(np.arange(len(part_key)), count)
    starts = np.cumsum(count) - count
    vertex_key = keyed.combine(part_key[part], np.arange(len(part)) - starts[part])  # the vertex's index in its part
    turn = keyed.uniform(vertex_key, S_VERTEX)
    order = np.argsort(part + turn, kind="stable")  # angles sorted within each part
    turn, vertex_key = turn[order], vertex_key[order]
    angle = 2 * np.pi * turn
    radius = np.ones(len(part))
    for k, wave in enumerate(WAVES):
        amplitude = WAVE * keyed.uniform(part_key, S_PART + 2 + 2 * k) * blob
        phase = 2 * np.pi * keyed.uniform(part_key, S_PART + 3 + 2 * k)
        radius += amplitude[part] * np.cos(wave * angle + phase[part])
    radius *= 1 - JITTER * keyed.uniform(vertex_key, S_VERTEX + 1)
    x, y = radius * np.cos(angle), radius * np.sin(angle)
    for values, lo, hi in ((x, part_box[:, 0], part_box[:, 2]), (y, part_box[:, 1], part_box[:, 3])):
        least, most = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
        values -= least[part]
        values *= ((hi - lo) / np.maximum(most - least, 1e-9))[part]  # spans the part's box: touches its edges
        values += lo[part]
    return part, x, y


def _spans(part: np.ndarray, x: np.ndarray, y: np.ndarray, part_box: np.ndarray) -> tuple[np.ndarray, ...]:
    """The runs ``(part, row, start, stop)`` of pixels whose centres are inside each part's polygon (even-odd
    rule), clipped to the part's box. An edge crosses the centre lines of the rows in ``[min y, max y)``;
    sorted by part, row and column, a row's crossings come in pairs that bound its runs."""
    starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
    following = np.arange(1, len(part) + 1)
    ends = np.r_[starts[1:], len(part)] - 1
    following[ends] = starts  # the last vertex closes the polygon
    x1, y1 = x[following], y[following]
    top, bottom = part_box[part, 1], part_box[part, 3]
    first = np.clip(np.ceil(np.minimum(y, y1) - 0.5), top, bottom).astype(np.int64)
    last = np.clip(np.ceil(np.maximum(y, y1) - 0.5), top, bottom).astype(np.int64)
    count = last - first
    edge = np.repeat(np.arange(len(x)), count)
    row = np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count) + first[edge]
    t = (row + 0.5 - y[edge]) / np.where(y1 == y, 1.0, y1 - y)[edge]
    owner = part[edge]
    column = np.ceil(x[edge] + t * (x1 - x)[edge] - 0.5)
    column = np.clip(column, part_box[owner, 0], part_box[owner, 2]).astype(np.int64)
    order = np.sort((owner << (2 * _BITS)) | (row << _BITS) | column)
    mask = (1 << _BITS) - 1
    return order[0::2] >> (2 * _BITS), (order[0::2] >> _BITS) & mask, order[0::2] & mask, order[1::2] & mask


def _paint(buffer: np.ndarray, base: np.ndarray, start: np.ndarray, stop: np.ndarray) -> None:
    """Set pixels ``[start, stop)`` of scanlines at byte ``base`` (a row's first byte, its filter byte) of the
    flat ``buffer``; runs may overlap."""
    head = base + 1 + start // 8  # the bytes holding the first pixel and the stop
    tail = base + 1 + stop // 8
    head_bits = (0xFF >> (start % 8)).astype(np.uint8)
    tail_bits = (~(0xFF >> (stop % 8)) & 0xFF).astype(np.uint8)
    same = head == tail
    np.bitwise_or.at(buffer, head[same], head_bits[same] & tail_bits[same])
    apart = ~same
    np.bitwise_or.at(buffer, head[apart], head_bits[apart])
    partial = apart & (stop % 8 > 0)  # a stop on a byte boundary leaves its byte alone
    np.bitwise_or.at(buffer, tail[partial], tail_bits[partial])
    whole = np.where(apart, tail - head - 1, 0)  # bytes between the two
    buffer[np.repeat(head + 1 - np.cumsum(whole) + whole, whole) + np.arange(int(whole.sum()))] = 0xFF


def mask_scanlines(key: np.ndarray, boxes: np.ndarray, width: np.ndarray, height: np.ndarray) -> list[np.ndarray]:
    """The PNG scanlines (``(height, 1 + ceil(width / 8))`` uint8, filter 0) of each mask: its shape inside
    its pixel box ``x0, y0, x1, y1`` on its grid, never empty."""
    stride = (width + 7) // 8 + 1
    sizes = height * stride
    offset = np.cumsum(sizes) - sizes
    buffer = np.zeros(int(sizes.sum()), np.uint8)
    owner, part_key, part_box = _parts(key, boxes)
    part, row, start, stop = _spans(*_polygons(part_key, part_box), part_box)
    mask = owner[part]
    keep = stop > start
    empty = np.bincount(mask[keep], minlength=len(key)) == 0  # a box too thin for any pixel centre: its middle
    middle_x, middle_y = (boxes[:, 0] + boxes[:, 2]) // 2, (boxes[:, 1] + boxes[:, 3]) // 2
    mask = np.r_[mask[keep], np.flatnonzero(empty)]
    row = np.r_[row[keep], middle_y[empty]]
    start = np.r_[start[keep], middle_x[empty]]
    stop = np.r_[stop[keep], middle_x[empty] + 1]
    _paint(buffer, offset[mask] + row * stride[mask], start, stop)
    return [buffer[o : o + s].reshape(h, -1) for o, s, h in zip(offset.tolist(), sizes.tolist(), height.tolist(),
                                                                   strict=True)]  # fmt: skip


def mask_pngs(key: np.ndarray, boxes: np.ndarray, width: np.ndarray, height: np.ndarray) -> list[bytes]:
    """The 1-bit PNG of each mask (``mask_scanlines``)."""
    lines = mask_scanlines(key, boxes, width, height)
    return [encode_lines(scanlines, int(w)) for scanlines, w in zip(lines, width.tolist(), strict=True)]
