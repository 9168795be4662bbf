"""Mask archives matching segmentation rows: ``<split>-masks-<h>.zip``, one member a row.

A split's rows go to the 16 archives by the first hex digit of their ImageID; an archive with no rows is
written empty, so a folder holds all 16, as the release does. Each member sits at the root, named exactly
its ``MaskPath``, stored (a PNG is deflated already: deflating it again saves ~15%), in MaskPath order, with
a fixed date and mode: the same rows and seed give the same bytes. Zip64 end records are written when an
archive holds more than 65,535 members, as the train archives do. The PNGs are drawn by ``mask_shapes``, a
chunk at a time on two threads. Rows are read in batches and written archive by archive: only the current
archive's rows (not its masks) are held, and a few chunks of PNGs.
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from pipeline.synth.core import in_order
from pipeline.synth.mask_shapes import grids, mask_keys, mask_pngs, pixel_boxes

FAMILY = "mask_pixels"
DIGITS = "0123456789abcdef"
COLUMNS = ("MaskPath", "ImageID", "BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax")
DATE_TIME = (2019, 5, 1, 0, 0, 0)  # any fixed date: V5, which published the masks, came out in May 2019
CHUNK_MASKS = 128  # masks a task draws (about 200 KB of scanlines each while drawn)
BATCH_BYTES = 8 << 20  # a segmentation CSV is read this many bytes at a time


def archive_name(split: str, digit: str) -> str:
    """``<split>-masks-<h>.zip``."""
    return f"{split}-masks-{digit}.zip"


@dataclass(frozen=True)
class ArchiveFile:
    """One written archive: its path, member count, size and the seconds it took."""

    split: str
    path: Path
    members: int
    bytes: int
    seconds: float


def chunk_members(rows: pa.Table, seed: int) -> list[tuple[str, bytes]]:
    """``(MaskPath, PNG)`` of every row of ``rows`` (``COLUMNS``, coordinates float64)."""
    names = rows.column("MaskPath").to_pylist()
    ids = np.array([int(i, 16) for i in rows.column("ImageID").to_pylist()], np.uint64)
    width, height = grids(ids, seed)
    coords = np.stack([rows.column(c).to_numpy() for c in COLUMNS[2:]], axis=1)
    pngs = mask_pngs(mask_keys(names, seed), pixel_boxes(coords, width, height), width, height)
    return list(zip(names, pngs, strict=True))


def zip_info(name: str) -> zipfile.ZipInfo:
    """A member's fixed header: stored, a constant date, a Unix file of mode 0644."""
    info = zipfile.ZipInfo(name, DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    return info


def write_zip(path: Path, members: Iterable[tuple[str, bytes]]) -> int:
    """Write ``members`` (name, bytes) in their order to ``path`` (through ``path.part``), Zip64 when the
    count needs it; the member count."""
    tmp = path.with_name(path.name + ".part")
    count = 0
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, data in members:
            archive.writestr(zip_info(name), data)
            count += 1
    os.replace(tmp, path)
    return count


def write_archive(path: Path, rows: pa.Table, seed: int) -> ArchiveFile:
    """One archive of the masks of ``rows``, members in MaskPath order."""
    started = time.perf_counter()
    rows = rows.sort_by("MaskPath")
    tasks = (partial(chunk_members, rows.slice(lo, CHUNK_MASKS), seed) for lo in range(0, len(rows), CHUNK_MASKS))
    members = write_zip(path, (member for chunk in in_order(tasks) for member in chunk))
    split = path.name.split("-masks-")[0]
    return ArchiveFile(split, path, members, path.stat().st_size, time.perf_counter() - started)


def write_archives(dest: Path, split: str, batches: Iterable[pa.Table], seed: int) -> Iterator[ArchiveFile]:
    """The 16 archives of ``split`` in ``dest``, ``0`` to ``f``, from segmentation rows (``COLUMNS``,
    coordinates float64) in batches sorted by ImageID (by its first hex digit at least): an archive is
    written once the rows reach the next digit, so only its own rows are held."""
    pending: list[pa.Table] = []
    current = 0  # the digit whose rows are being gathered
    for batch in batches:
        digit = first_digits(batch.column("ImageID"))
        if len(digit) and (np.any(np.diff(digit) < 0) or digit[0] < current):
            raise ValueError(f"{split}: the segmentation rows are not sorted by ImageID, as mask archives need")
        for value in np.unique(digit).tolist():
            while current < value:
                yield _write(dest, split, current, pending, seed)
                pending, current = [], current + 1
            pending.append(batch.filter(pa.array(digit == value)))
    while current < len(DIGITS):
        yield _write(dest, split, current, pending, seed)
        pending, current = [], current + 1


def _write(dest: Path, split: str, digit: int, pending: list[pa.Table], seed: int) -> ArchiveFile:
    rows = pa.concat_tables(pending) if pending else _schema().empty_table()
    return write_archive(dest / archive_name(split, DIGITS[digit]), rows, seed)


def first_digits(image_ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The value (0-15) of each ImageID's first hex digit."""
    chunks = image_ids.chunks if isinstance(image_ids, pa.ChunkedArray) else [image_ids]
    out = []
    for chunk in chunks:
        offsets = np.frombuffer(chunk.buffers()[1], np.int32)[chunk.offset : chunk.offset + len(chunk)]
        first = np.frombuffer(chunk.buffers()[2], np.uint8)[offsets] if len(chunk) else np.zeros(0, np.uint8)
        out.append(np.where(first >= ord("a"), first - ord("a") + 10, first - ord("0")).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _schema() -> pa.Schema:
    return pa.schema([pa.field(c, pa.string() if c in ("MaskPath", "ImageID") else pa.float64()) for c in COLUMNS])


def read_rows(csv_path: Path) -> Iterator[pa.Table]:
    """The columns of a segmentation CSV the archives need, in batches."""
    schema = _schema()
    reader = pv.open_csv(
        csv_path,
        read_options=pv.ReadOptions(block_size=BATCH_BYTES),
        convert_options=pv.ConvertOptions(column_types={f.name: f.type for f in schema}, include_columns=list(COLUMNS)),
    )
    for batch in reader:
        yield pa.Table.from_batches([batch]).select(list(COLUMNS))


def write_split_archives(dest: Path, split: str, csv_path: Path, seed: int) -> list[ArchiveFile]:
    """The 16 archives of ``split`` in ``dest`` matching the segmentation CSV ``csv_path``."""
    return list(write_archives(dest, split, read_rows(csv_path), seed))
