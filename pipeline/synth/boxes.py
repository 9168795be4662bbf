"""Boxes, and the masks and relationships drawn on them, in one pass.

A mask or relationship reuses a box of the chunk: same image, class and coordinates, as in the
release (a mask matches its box by image, label and coordinates).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
import pyarrow as pa

from pipeline.synth import text
from pipeline.synth.core import Chunk, Group, Task, image_ids, lines, output, sort_within_images
from pipeline.synth.plan import SPLIT_KEY, cuts, draw, rows_of, spread, stream, universe, zipf_cdf
from pipeline.synth.vocab import classes

CHUNK_BOXES = 400_000
ACTIVEMIL_SHARE = 0.10  # of train boxes; validation and test boxes are all xclick
FLAG_PRESENT = np.array([0.35, 0.25, 0.06, 0.05, 0.02])  # IsOccluded, IsTruncated, IsGroupOf, IsDepiction, IsInside
FLAG_UNKNOWN = {False: 0.04, True: 0.45}  # by activemil
BOXES_SHAPE = 0.6  # gamma shape of the boxes-per-image weights: a long tail of crowded images
IS_SHARE = 0.89  # of relationships
EMPTY_CLICKS = 0.08  # of masks
MASK_AREA_WEIGHT = 0.5  # masks go to larger boxes: a median mask PNG of ~1.2 KB, as in the release
MICRO = 1_000_000


@dataclass
class BoxRows:
    """The boxes of a chunk of images, one entry per row, sorted by image then class."""

    ids: np.ndarray  # uint64 ImageID
    first: np.ndarray  # row of the first box of the same image
    count: np.ndarray  # boxes of the same image
    label: np.ndarray  # class code
    activemil: np.ndarray  # bool
    coords: np.ndarray  # (n, 4) XMin, XMax, YMin, YMax: micro-units (train) or float32
    flags: np.ndarray  # (n, 5) -1 / 0 / 1
    clicks: np.ndarray | None  # (n, 8) XClick1X..4X, XClick1Y..4Y in micro-units (train only)

    def fractions(self) -> np.ndarray:
        """Coordinates as float64 fractions of the image."""
        return self.coords / MICRO if self.clicks is not None else self.coords.astype(np.float64)


@cache
def _box_cdf() -> np.ndarray:
    return zipf_cdf(len(classes().boxable_by_rank), 1.0)


def draw_boxes(rng: np.random.Generator, train: bool, ids: np.ndarray, counts: np.ndarray) -> BoxRows:
    """Random boxes: ``counts[i]`` on image ``ids[i]``."""
    cls = classes()
    n = int(counts.sum())
    image = np.repeat(np.arange(len(ids)), counts)
    starts = np.cumsum(counts) - counts
    label = sort_within_images(image, cls.boxable_by_rank[draw(rng, _box_cdf(), n)], len(cls.mids))
    activemil = rng.random(n) < ACTIVEMIL_SHARE if train else np.zeros(n, bool)
    size = np.exp(rng.uniform(np.log(0.01), 0.0, (n, 2)))  # width, height as fractions
    if train:
        span = np.round(size * MICRO).astype(np.int64)
        low = (rng.random((n, 2)) * (MICRO - span + 1)).astype(np.int64)
        coords = np.stack([low[:, 0], low[:, 0] + span[:, 0], low[:, 1], low[:, 1] + span[:, 1]], axis=1)
        clicks = _extreme_clicks(rng, coords)
    else:  # pixel fractions of a W x H image, as float32
        pixels = rng.integers(300, 1025, (len(ids), 2))[image]
        span = np.maximum(1, np.round(size * pixels)).astype(np.int64)
        low = (rng.random((n, 2)) * (pixels - span + 1)).astype(np.int64)
        frac = np.stack([low, low + span], axis=2) / pixels[:, :, None]  # (n, axis, lo/hi)
        coords = frac.reshape(n, 4).astype(np.float32)
        clicks = None
    return BoxRows(
        ids=ids[image],
        first=np.repeat(starts, counts),
        count=np.repeat(counts, counts),
        label=label,
        activemil=activemil,
        coords=coords,
        flags=_flags(rng, activemil),
        clicks=clicks,
    )


def _extreme_clicks(rng: np.random.Generator, coords: np.ndarray) -> np.ndarray:
    """The four extreme points (left, top, right, bottom) from a random start, either way round."""
    x0, x1, y0, y1 = coords.T
    n = len(coords)
    inner = rng.random((n, 4))
    across = (x0 + inner[:, 0] * (x1 - x0 + 1)).astype(np.int64).clip(x0, x1)
    across2 = (x0 + inner[:, 1] * (x1 - x0 + 1)).astype(np.int64).clip(x0, x1)
    down = (y0 + inner[:, 2] * (y1 - y0 + 1)).astype(np.int64).clip(y0, y1)
    down2 = (y0 + inner[:, 3] * (y1 - y0 + 1)).astype(np.int64).clip(y0, y1)
    xs = np.stack([x0, across, x1, across2], axis=1)
    ys = np.stack([down, y0, down2, y1], axis=1)
    start = rng.integers(0, 4, n)[:, None]
    step = np.where(rng.random(n) < 0.5, 1, -1)[:, None]
    order = ((start + step * np.arange(4)[None, :]) % 4).astype(np.int64)
    return np.concatenate([np.take_along_axis(xs, order, 1), np.take_along_axis(ys, order, 1)], axis=1)


def _flags(rng: np.random.Generator, activemil: np.ndarray) -> np.ndarray:
    u = rng.random((len(activemil), 5))
    unknown = np.where(activemil, FLAG_UNKNOWN[True], FLAG_UNKNOWN[False])[:, None]
    return np.where(u < unknown, -1, np.where(u < unknown + FLAG_PRESENT * (1 - unknown), 1, 0)).astype(np.int8)


# ---------------------------------------------------------------------------- text


@cache
def _source_label_table() -> pa.StringArray:
    mids = classes().mids
    return text.table([f"{source},{mid},1" for source in ("xclick", "activemil") for mid in mids])


@cache
def _flag_table(end: str) -> pa.StringArray:
    """Every combination of the five flags, ``code = Σ (flag + 1) · 3^j``."""
    values = []
    for code in range(3**5):
        digits = [(code // 3**j) % 3 - 1 for j in range(5)]
        values.append(",".join(str(d) for d in digits) + end)
    return text.table(values)


@cache
def _mids(end: str = "") -> pa.StringArray:
    return text.table([m + end for m in classes().mids])


def _fixed_fields(columns: list[np.ndarray], places: int, end: bytes = b"") -> pa.StringArray:
    """Comma-separated fixed-width decimals (``0.012500,0.195312,…``) of micro-unit columns."""
    width = places + 2
    mat = np.empty((len(columns[0]), len(columns) * (width + 1) - 1 + len(end)), np.uint8)
    for j, column in enumerate(columns):
        mat[:, j * (width + 1) : j * (width + 1) + width] = text.decimals(column, places)
        if j < len(columns) - 1:
            mat[:, j * (width + 1) + width] = ord(",")
    if end:
        mat[:, -len(end) :] = np.frombuffer(end, np.uint8)
    return text.from_matrix(mat)


def _coords_text(rows: BoxRows, index: np.ndarray, trimmed: bool = False) -> list[text.Part]:
    """XMin, XMax, YMin, YMax of ``rows[index]`` as written in the split's files."""
    coords = rows.coords[index]
    if rows.clicks is None:
        return [text.shortest_floats(coords[:, j]) for j in range(4)]
    if trimmed:
        return [text.trimmed_decimals(coords[:, j], 6) for j in range(4)]
    return [_fixed_fields([coords[:, j] for j in range(4)], 6)]


def boxes_text(rows: BoxRows) -> pa.Buffer:
    cls = classes()
    every = np.arange(len(rows.ids))
    flag_code = ((rows.flags.astype(np.int64) + 1) * 3 ** np.arange(5)).sum(axis=1)
    parts: list[text.Part] = [
        image_ids(rows.ids),
        text.pick(_source_label_table(), rows.activemil * len(cls.mids) + rows.label),
        *_coords_text(rows, every),
    ]
    if rows.clicks is None:
        return lines([*parts, text.pick(_flag_table("\n"), flag_code)])
    clicks = _fixed_fields([rows.clicks[:, j] for j in range(8)], 6, b"\n")
    clicks = text.where(rows.activemil, "-1,-1,-1,-1,-1,-1,-1,-1\n", clicks)
    return lines([*parts, text.pick(_flag_table(""), flag_code), clicks])


@cache
def _mask_mids() -> pa.StringArray:
    return text.table([m.replace("/m/", "m", 1).replace("/", "") for m in classes().mids])


def masks_text(rng: np.random.Generator, rows: BoxRows, index: np.ndarray) -> pa.Buffer:
    """Segmentation rows on the boxes ``rows[index]``."""
    m = len(index)
    ids = image_ids(rows.ids[index])
    box_id = text.from_matrix(text.hex_digits(rng.integers(0, 2**32, m, dtype=np.uint64), 8))
    path = text.join([ids, "_", text.pick(_mask_mids(), rows.label[index]), "_", box_id, ".png"])
    iou = text.trimmed_decimals(rng.integers(35_000, 97_001, m), 5)
    parts = [path, ids, text.pick(_mids(), rows.label[index]), box_id, *_coords_text(rows, index, trimmed=True)]
    return lines([*parts, iou, _clicks(rng, rows.fractions()[index])])


def _clicks(rng: np.random.Generator, box: np.ndarray) -> pa.StringArray:
    """``x y L;…`` clicks inside each box (5 decimals), the field ending the line; some masks have none."""
    m = len(box)
    per_mask = rng.integers(8, 13, m)
    per_mask[rng.random(m) < EMPTY_CLICKS] = 0
    owner = np.repeat(np.arange(m), per_mask)
    total = len(owner)
    u = rng.random((total, 2))
    x = np.round((box[owner, 0] + u[:, 0] * (box[owner, 1] - box[owner, 0])) * 1e5).astype(np.int64)
    y = np.round((box[owner, 2] + u[:, 1] * (box[owner, 3] - box[owner, 2])) * 1e5).astype(np.int64)
    mat = np.empty((total, 18), np.uint8)
    mat[:, 0:8] = text.decimals(x.clip(0, 100_000), 5, b" ")
    mat[:, 8:16] = text.decimals(y.clip(0, 100_000), 5, b" ")
    mat[:, 16] = np.where(rng.random(total) < 0.55, ord("1"), ord("0"))
    ends = np.cumsum(per_mask)
    mat[:, 17] = ord(";")
    mat[ends[per_mask > 0] - 1, 17] = ord("\n")
    offsets = np.concatenate([[0], ends * 18])
    return text.where(per_mask == 0, "\n", text.from_slices(mat.reshape(-1), offsets))


@cache
def _second_labels() -> pa.StringArray:
    cls = classes()
    return text.table([*cls.mids, *cls.attributes])


@cache
def _relationship_labels() -> pa.StringArray:
    return text.table([f"{r}\n" for r in (*classes().relationships, "is")])


def relationships_text(rng: np.random.Generator, rows: BoxRows, index: np.ndarray) -> pa.Buffer:
    """Relationship rows whose first box is ``rows[index]``: mostly `is` an attribute (box 2 = box 1),
    else a relationship to another box of the same image."""
    cls = classes()
    m = len(index)
    is_rel = rng.random(m) < IS_SHARE
    count, first = rows.count[index], rows.first[index]
    offset = rng.integers(1, 1 << 30, m) % np.maximum(count - 1, 1) + 1
    partner = np.where(is_rel, index, first + (index - first + offset) % count)
    second = np.where(is_rel, len(cls.mids) + rng.integers(0, len(cls.attributes), m), rows.label[partner])
    relation = np.where(is_rel, len(cls.relationships), rng.integers(0, len(cls.relationships), m))
    parts = [image_ids(rows.ids[index]), text.pick(_mids(), rows.label[index]), text.pick(_second_labels(), second)]
    parts += [*_coords_text(rows, index), *_coords_text(rows, partner)]
    return lines([*parts, text.pick(_relationship_labels(), relation)])


# ---------------------------------------------------------------------------- group


def _pick_for_masks(rng: np.random.Generator, rows: BoxRows, k: int) -> np.ndarray:
    """``k`` boxes, of segmentable classes drawn by extreme clicking first, larger boxes more likely (weight
    area ** ``MASK_AREA_WEIGHT``: sampling without replacement by exponential races)."""
    eligible = classes().segmentable[rows.label] & ~rows.activemil
    box = rows.fractions()
    weight = ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).clip(1e-12) ** MASK_AREA_WEIGHT
    race = -np.log(rng.random(len(rows.ids))) / weight  # the k smallest: a weighted draw without replacement
    priority = np.where(eligible, race, np.inf)
    if k and k > eligible.sum():  # not enough eligible boxes: the rest at random
        priority[~eligible] = np.finfo(np.float64).max * rng.random(int((~eligible).sum()))
    return np.sort(np.argpartition(priority, k - 1)[:k]) if k else np.zeros(0, np.int64)


def _chunk(
    seed: int, split: str, block: int, lo: int, ids: np.ndarray, counts: np.ndarray,
    shares: dict[str, tuple[str, int, int]], wanted: frozenset[str],
) -> Chunk:  # fmt: skip
    """One chunk: the boxes of images ``lo ..`` of a block; ``shares[name] = (family, first, last)`` rows."""
    rng = stream(seed, 3, SPLIT_KEY[split], block, lo)
    rows = draw_boxes(rng, split == "train", ids, counts)
    out: Chunk = {}
    for name, (family, first, last) in shares.items():
        if name not in wanted:
            continue
        k = last - first
        sub = stream(seed, 4 if family == "masks" else 5, SPLIT_KEY[split], block, lo)
        if family == "boxes":
            out[name] = (boxes_text(rows), len(rows.ids))
        elif family == "masks":
            out[name] = (masks_text(sub, rows, _pick_for_masks(sub, rows, k)), k)
        else:
            index = np.sort(sub.choice(len(rows.ids), k, replace=False))
            out[name] = (relationships_text(sub, rows, index), k)
    return out


def group(seed: int, split: str, scale: float) -> Group:
    """Boxes, masks and relationships of one split."""
    outputs = tuple(output(family, split, scale) for family in ("boxes", "masks", "relationships"))
    names = {o.file.family: o.file.name for o in outputs}

    def tasks(wanted: frozenset[str]) -> Iterator[Task]:
        world = universe(seed, split, scale)
        total = rows_of("boxes", split, scale)
        totals = {family: rows_of(family, split, scale) for family in ("masks", "relationships")}
        for k in range(world.blocks):
            block = world.block(k)
            ids = block.boxable_ids
            in_block = world.block_rows(total, k, True)
            counts = spread(stream(seed, 2, SPLIT_KEY[split], k), len(ids), in_block, BOXES_SHAPE)
            before = world.cum_rows(total, k, True)
            for lo, hi in cuts(counts, CHUNK_BOXES):
                start = before + int(counts[:lo].sum())
                end = start + int(counts[lo:hi].sum())
                shares = {names["boxes"]: ("boxes", start, end)}
                for family, rows in totals.items():  # in proportion to the boxes, exactly `rows` in all
                    shares[names[family]] = (family, rows * start // total, rows * end // total)
                yield partial(_chunk, seed, split, k, lo, ids[lo:hi], counts[lo:hi], shares, wanted)

    return Group(f"boxes/{split}", outputs, tasks)
