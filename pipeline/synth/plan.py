"""How many rows each file gets, which images each split has, and how rows spread over images.

Every split's images are cut into blocks of ``BLOCK_IMAGES`` IDs, each block owning an equal slice of
the unsigned 64-bit ID space, so IDs come out sorted block after block and any family can regenerate
the images of a block (same IDs, same boxable subset) from ``(seed, split, block)`` alone. Rows are
allocated to blocks by exact cumulative shares, so totals are exact at every scale.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.core.official import SPLITS, OfficialFile, official_files

BLOCK_IMAGES = 1 << 18
NARRATIVE_SHARDS = 10

# Official V6 row counts the file list leaves blank (shared/openimages/README.md).
TRAIN_IMAGES = 9_011_219
TRAIN_NARRATIVES = 507_444  # all ten shards
TRAIN_IMAGES_FILE = "oidv6-train-images-with-labels-with-rotation.csv"
# The -boxable human-label files have no published row count: their official byte size / 43 bytes
# per row (the length of the genuine head rows).
BOXABLE_HUMAN_LABELS = {"train": 8_761_972, "validation": 247_657, "test": 745_485}

# Stream keys of numpy's SeedSequence: one per kind of random draw.
SPLIT_KEY = {s: i for i, s in enumerate(SPLITS)}


def scaled(official: int, scale: float) -> int:
    """``official × scale`` rounded half up, at least 1."""
    return max(1, int(official * scale + 0.5))


def official_rows(file: OfficialFile) -> int | None:
    """The full-release row count of one official file (None for metadata files, copied as they are)."""
    if file.family == "narratives" and file.split == "train":
        return None  # the shards share TRAIN_NARRATIVES, see file_rows
    if file.family == "image_labels_human_boxable":
        return BOXABLE_HUMAN_LABELS[str(file.split)]
    if file.name == TRAIN_IMAGES_FILE:
        return TRAIN_IMAGES
    return file.rows if file.split is not None else None


def file_rows(file: OfficialFile, scale: float) -> int:
    """Rows of a generated per-split file at ``scale``."""
    if file.family == "narratives" and file.split == "train":
        shard = int(file.name.split("-")[-3])
        total = max(NARRATIVE_SHARDS, int(TRAIN_NARRATIVES * scale + 0.5))
        return share(total, shard, NARRATIVE_SHARDS)
    rows = official_rows(file)
    if rows is None:
        raise ValueError(f"{file.name}: not a generated file")
    return scaled(rows, scale)


def rows_of(family: str, split: str, scale: float) -> int:
    """Rows of one family in one split (all shards together)."""
    return sum(file_rows(f, scale) for f in official_files() if f.family == family and f.split == split)


def share(total: int, k: int, parts: int) -> int:
    """Part ``k`` of ``total`` cut into ``parts`` near-equal integer parts."""
    return total * (k + 1) // parts - total * k // parts


def stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent random stream for ``(seed, *keys)``."""
    return np.random.default_rng([seed, *keys])


@dataclass(frozen=True)
class Universe:
    """The images of one split: ``images`` IDs in ``blocks`` blocks, ``boxable`` of them with boxes."""

    seed: int
    split: str
    images: int
    boxable: int

    @property
    def blocks(self) -> int:
        return -(-self.images // BLOCK_IMAGES)

    def cum_images(self, k: int) -> int:
        """Images in blocks ``< k``."""
        return self.images * k // self.blocks

    def cum_boxable(self, k: int) -> int:
        """Boxable images in blocks ``< k``."""
        return self.boxable * self.cum_images(k) // self.images

    def cum_rows(self, total: int, k: int, boxable_only: bool) -> int:
        """Rows (of ``total``) in blocks ``< k``, spread in proportion to the (boxable) images."""
        if boxable_only:
            return total * self.cum_boxable(k) // self.boxable
        return total * self.cum_images(k) // self.images

    def block_rows(self, total: int, k: int, boxable_only: bool) -> int:
        return self.cum_rows(total, k + 1, boxable_only) - self.cum_rows(total, k, boxable_only)

    def block(self, k: int) -> Block:
        return _block(self, k)


@dataclass(frozen=True)
class Block:
    """One block of a split's images: sorted IDs and which of them have boxes."""

    index: int
    ids: np.ndarray  # uint64, sorted, distinct
    boxable: np.ndarray  # bool per image

    @property
    def boxable_ids(self) -> np.ndarray:
        return self.ids[self.boxable]


@lru_cache(maxsize=16)
def _block(universe: Universe, k: int) -> Block:
    count = universe.cum_images(k + 1) - universe.cum_images(k)
    low = (k << 64) // universe.blocks
    width = ((k + 1) << 64) // universe.blocks - low
    rng = stream(universe.seed, 1, SPLIT_KEY[universe.split], k)
    # n distinct sorted values: sorted draws from [0, width - n] plus 0, 1, ..., n - 1.
    draws = np.sort(rng.integers(0, width - count + 1, size=count, dtype=np.uint64))
    ids = draws + np.arange(count, dtype=np.uint64) + np.uint64(low)
    boxable = np.zeros(count, bool)
    chosen = universe.cum_boxable(k + 1) - universe.cum_boxable(k)
    boxable[rng.permutation(count)[:chosen]] = True
    return Block(k, ids, boxable)


def universe(seed: int, split: str, scale: float) -> Universe:
    """The images of ``split`` at ``scale``: the split's full images file, and its boxable subset."""
    if split == "train":
        images = scaled(TRAIN_IMAGES, scale)
        boxable = rows_of("images_boxable", "train", scale)
    else:
        images = boxable = rows_of("images", split, scale)
    return Universe(seed, split, images, min(images, boxable))


def spread(rng: np.random.Generator, images: int, rows: int, shape: float) -> np.ndarray:
    """Rows per image summing to ``rows``: every image gets one when there are enough rows, the rest go
    to images in proportion to gamma(``shape``) weights (a small shape gives a long tail)."""
    counts = np.zeros(images, np.int64)
    if images == 0 or rows == 0:
        return counts
    if rows < images:
        counts[rng.choice(images, rows, replace=False)] = 1
        return counts
    weights = rng.gamma(shape, size=images)
    counts += 1 + rng.multinomial(rows - images, weights / weights.sum())
    return counts


def cuts(counts: np.ndarray, rows_per_chunk: int) -> list[tuple[int, int]]:
    """Image ranges ``[lo, hi)`` holding about ``rows_per_chunk`` rows each, cut between images."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    pieces = max(1, -(-total // rows_per_chunk))
    bounds = np.searchsorted(ends, [total * j // pieces for j in range(1, pieces)], side="left") + 1
    edges = [0, *sorted(set(int(b) for b in bounds if 0 < b < len(counts))), len(counts)]
    return [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


def zipf_cdf(size: int, exponent: float) -> np.ndarray:
    """Cumulative Zipf weights over ranks ``0 .. size - 1``."""
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """``size`` ranks drawn from a cumulative distribution."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)
