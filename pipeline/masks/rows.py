"""One mask member (name, bytes) → a row of the mask table or a reject; batches encoded by parallel workers.

A row holds the parts of the name, the PNG's own size (not the image's), the pixel count, the box of the
set pixels in mask pixels (``x1``/``y1`` exclusive) and normalised by the mask's size, and the mask as the
compressed COCO RLE string. Every member is a row or a reject with one of ``REJECT_KINDS``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pyarrow as pa

from pipeline.core.schema import table_schema
from pipeline.masks import png, rle
from pipeline.masks.errors import MaskPathError, MaskPngError
from pipeline.masks.mask_path import parse_mask_path
from pipeline.masks.zip_members import Member
from pipeline.read.threads import ordered_submit

NAME_PATTERN = "name pattern"
REJECT_KINDS = (NAME_PATTERN, *png.KINDS)

SCHEMA = table_schema("mask_pixels").arrow
"""Declared in ``schemas/mask_pixels.toml``."""
COLUMNS = tuple(SCHEMA.names)
"""The row's columns, in order; the pixel box and its normalised form are NULL for an empty mask."""


@dataclass(frozen=True)
class MaskReject:
    """A member that is not a row: its name, the reject ``kind`` (one of ``REJECT_KINDS``), the full reason,
    and its 0-based position among the members of its batch."""

    mask_path: str
    kind: str
    reason: str
    index: int = 0


def mask_row(name: str, data: bytes) -> dict[str, object]:
    """The row of one mask member; raises ``MaskPathError`` or ``MaskPngError`` when it is not one."""
    parts = parse_mask_path(name)
    scanlines = png.decode(data)
    width, height = scanlines.width, scanlines.height
    packed = scanlines.bit_depth == 1
    counts = rle.encode_packed(scanlines.rows, width) if packed else rle.encode(scanlines.rows)
    box = rle.bbox(counts, height)
    x0, y0, x1, y1 = box if box is not None else (None, None, None, None)
    return {
        "image_id": parts.image_id,
        "image_id_u64": int(parts.image_id, 16),
        "mask_path": name,
        "label_mid": parts.label_mid,
        "box_id": parts.box_id,
        "mask_width": width,
        "mask_height": height,
        "area": rle.area(counts),
        "pixel_x0": x0,
        "pixel_y0": y0,
        "pixel_x1": x1,
        "pixel_y1": y1,
        "mask_x_min": None if x0 is None else x0 / width,
        "mask_x_max": None if x1 is None else x1 / width,
        "mask_y_min": None if y0 is None else y0 / height,
        "mask_y_max": None if y1 is None else y1 / height,
        "rle_counts": rle.to_string(counts),
    }


def member_row(name: str, data: bytes, error: str | None = None) -> dict[str, object] | MaskReject:
    """The row of a member, or its reject: a zip-level ``error`` first, then the name, then the PNG."""
    if error is not None:
        return MaskReject(name, png.CORRUPT, f"{png.CORRUPT}: {error}")
    try:
        return mask_row(name, data)
    except MaskPathError as exc:
        return MaskReject(name, NAME_PATTERN, f"{NAME_PATTERN}: {exc}")
    except MaskPngError as exc:
        return MaskReject(name, exc.kind, str(exc))


@dataclass
class MaskBatch:
    """The rows (as columns) and rejects of consecutive members, in member order; ``read`` = rows + rejects."""

    columns: dict[str, list[object]] = field(default_factory=lambda: {name: [] for name in COLUMNS})
    rejects: list[MaskReject] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.columns["mask_path"])

    @property
    def read(self) -> int:
        return self.rows + len(self.rejects)

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table of ``SCHEMA``."""
        return pa.Table.from_pydict(self.columns, schema=SCHEMA)


MemberLike = Member | tuple[str, bytes]


def encode_batch(members: Sequence[MemberLike]) -> MaskBatch:
    """Rows and rejects of ``members`` (``Member`` or ``(name, bytes)``), in order."""
    batch = MaskBatch()
    for index, member in enumerate(members):
        name, data, error = (member.name, member.data, member.error) if isinstance(member, Member) else (*member, None)
        result = member_row(name, data, error)
        if isinstance(result, MaskReject):
            batch.rejects.append(replace(result, index=index))
        else:
            for key, value in result.items():
                batch.columns[key].append(value)
    return batch


def mask_pool(workers: int = 2) -> ProcessPoolExecutor:
    """A process pool for ``encode_members`` (``forkserver``: safe beside the archive's read-ahead thread).

    Start one per build and pass it to every archive: starting the workers took 0.34 s when timed by hand.
    """
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


class MaskPool:
    """The build's process pool for ``encode_members``: started on first use, stopped by ``close`` (the build
    stops it once the archives are read; a later use would start it again)."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._pool is not None

    def executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = mask_pool(self.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def encode_members(
    members: Iterable[MemberLike],
    workers: int = 2,
    batch_size: int = 256,
    pool: Literal["thread", "process"] | Executor = "process",
) -> Generator[MaskBatch]:
    """``encode_batch`` over ``members`` in batches by ``workers`` processes or threads, in order, flat memory.

    ``pool`` is ``"process"`` (a pool started and stopped here), ``"thread"``, or an executor the caller
    owns (``mask_pool()``, kept across archives). With zlib-ng a mask's inflate is short and most of its
    time holds the GIL, so threads do not add up; processes do. At most ``workers + 1`` batches are in
    flight, so memory stays flat. ``workers <= 1`` encodes in the calling thread.
    """
    batches = _batched(iter(members), batch_size)
    if workers <= 1:
        yield from map(encode_batch, batches)
        return
    if isinstance(pool, Executor):
        yield from _ordered(pool, batches, workers)
        return
    executor: Executor = (
        ThreadPoolExecutor(workers, thread_name_prefix="oilake-masks") if pool == "thread" else mask_pool(workers)
    )
    with executor:
        yield from _ordered(executor, batches, workers)


def _ordered(executor: Executor, batches: Iterator[list[MemberLike]], workers: int) -> Iterator[MaskBatch]:
    """The encoded batches in order, at most ``workers + 1`` in flight."""
    return ordered_submit(executor, encode_batch, batches, workers)


BATCH_BYTES = 32 << 20  # a batch is also closed at this many member bytes: memory stays flat whatever they hold


def _batched(members: Iterator[MemberLike], size: int) -> Iterator[list[MemberLike]]:
    """Batches of ``size`` members, or fewer when their bytes reach ``BATCH_BYTES``."""
    batch: list[MemberLike] = []
    held = 0
    for member in members:
        batch.append(member)
        held += len(member.data if isinstance(member, Member) else member[1])
        if len(batch) >= size or held >= BATCH_BYTES:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def decode_row(rle_counts: str, mask_height: int, mask_width: int) -> np.ndarray:
    """The boolean mask of a row (the inverse of its ``rle_counts``)."""
    return rle.decode(rle.from_string(rle_counts), mask_height, mask_width)
