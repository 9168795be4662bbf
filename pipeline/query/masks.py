"""Mask pixels as numpy arrays: one mask by its path, a list of paths, or a selection streamed in batches.

A mask is on its own grid, ``mask_height`` x ``mask_width`` (the PNG's size, not the image's). ``size``
resamples it to another grid by nearest neighbour on pixel centres: along each axis, target pixel ``i`` of
``n`` takes source pixel ``floor((i + 0.5) * source / n)``, computed exactly in integers: the pixel-centre
rule of PIL's ``NEAREST``, OpenCV's ``INTER_NEAREST_EXACT`` and torch's ``nearest-exact`` (which compute it in
floating point, so at an exact tie they may pick the pixel before). Sizes are ``(height, width)``, numpy's
order. A selection is streamed one image range at a time (``plan`` lists its images first), so a selection of
millions of masks never sits in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.core.errors import MaskNotFoundError, MaskSelectionError
from pipeline.core.official import SPLITS
from pipeline.core.sql_text import sql_string
from pipeline.masks import rle
from pipeline.masks.errors import MaskPathError
from pipeline.masks.mask_path import parse_mask_path
from pipeline.query.labels import select_classes_on

Size = tuple[int, int]  # (height, width)
Sizes = Size | Mapping[str, Size] | None  # one grid for every mask, or each image's grid by ImageID
BATCH_MASKS = 64  # 64 masks of 1600 x 1200 are 123 MB decoded
_PATHS_PER_QUERY = 1000
_RANGES = 16  # a selection is streamed per split and first hex digit of the ImageID (one mask archive each)
COLUMNS = (
    "split", "image_id", "image_id_u64", "mask_path", "label_mid", "box_id", "mask_width", "mask_height", "area",
    "pixel_x0", "pixel_y0", "pixel_x1", "pixel_y1", "mask_x_min", "mask_x_max", "mask_y_min", "mask_y_max",
    "rle_counts",
)  # fmt: skip
NO_PIXELS_HINT = (
    "this lake holds no mask pixels: build it from a source that holds the mask archives "
    "(`<split>-masks-<h>.zip`, beside the segmentation CSVs)"
)


@dataclass(frozen=True)
class MaskSelection:
    """Which masks: all of ``mask_pixels``, narrowed by each field given (they combine with *and*).

    ``classes`` are display names (with every subcategory if ``include_descendants``), ``image_ids`` Open
    Images ImageIDs, ``where`` an SQL condition on ``mask_pixels`` columns (and ``split``), ``limit`` the
    first masks in lake order (split, ImageID, mask_path).
    """

    classes: Sequence[str] = ()
    include_descendants: bool = False
    split: str | None = None
    image_ids: Sequence[str] = ()
    where: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class MaskBatch:
    """Decoded masks and their rows: ``arrays[i]`` is the boolean mask of ``rows[i]``.

    ``rows`` has the columns of ``mask_pixels`` (``rle_counts`` included), ``split`` and ``label_name``.
    """

    rows: pl.DataFrame
    arrays: list[np.ndarray]
    block: np.ndarray | None = None  # (n, height, width), when one ``size`` was given: ``arrays`` are its slices

    def __len__(self) -> int:
        return len(self.arrays)

    def stack(self) -> np.ndarray:
        """The masks as one ``(n, height, width)`` array; they must share a grid (pass one ``size`` to make it so)."""
        if self.block is not None:
            return self.block
        shapes = sorted({a.shape for a in self.arrays})
        if len(shapes) > 1:
            listing = ", ".join(f"{h}x{w}" for h, w in shapes[:5])
            raise MaskSelectionError(
                f"the batch's masks are on {len(shapes)} grids ({listing}): they do not stack",
                hint="pass size=(height, width) to resample every mask to one grid (nearest neighbour)",
            )
        if not shapes:
            return np.zeros((0, 0, 0), np.bool_)
        return np.stack(self.arrays)


def nearest_indices(source: int, target: int) -> np.ndarray:
    """The source pixel of each of ``target`` pixels along one axis: ``floor((i + 0.5) * source / target)``."""
    return (2 * np.arange(target, dtype=np.int64) + 1) * source // (2 * target)


def resize_nearest(mask: np.ndarray, size: Size) -> np.ndarray:
    """``mask`` (2-D) resampled to ``size`` = (height, width) by nearest neighbour on pixel centres."""
    height, width = _check_size(size)
    if mask.shape == (height, width):
        return mask
    return mask[np.ix_(nearest_indices(mask.shape[0], height), nearest_indices(mask.shape[1], width))]


def decode(
    rle_counts: str, height: int, width: int, size: Size | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """The boolean mask of a ``rle_counts`` string on its ``height`` x ``width`` grid, or resampled to ``size``.

    ``out`` (a C-contiguous boolean array of the result's shape) receives the pixels instead of a new array.
    """
    columns = rle.decode(rle.from_string(rle_counts), height, width).T  # (width, height), C-contiguous
    if size is not None and tuple(size) != (height, width):
        target_height, target_width = _check_size(size)
        columns = columns[nearest_indices(width, target_width)][:, nearest_indices(height, target_height)]
    if out is None:
        return np.ascontiguousarray(columns.T)
    out[...] = columns.T
    return out


def decode_rows(rows: pl.DataFrame | pa.Table, size: Sizes = None) -> MaskBatch:
    """Decode every row of a frame with ``rle_counts``, ``mask_height`` and ``mask_width`` (any query's result).

    ``size`` is one ``(height, width)`` for all (then ``stack()`` costs nothing), or a mapping from ImageID to
    its image's ``(height, width)`` (the rows need ``image_id``), or None for each mask's own grid.
    """
    frame = rows if isinstance(rows, pl.DataFrame) else pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    missing = [c for c in ("rle_counts", "mask_height", "mask_width") if c not in frame.columns]
    if missing:
        raise MaskSelectionError(f"the rows lack column(s) {', '.join(missing)}", hint="select them from mask_pixels")
    counts = frame["rle_counts"].to_list()
    heights, widths = frame["mask_height"].to_list(), frame["mask_width"].to_list()
    if size is None:
        return MaskBatch(frame, [decode(c, h, w) for c, h, w in zip(counts, heights, widths, strict=True)])
    if isinstance(size, Mapping):
        targets = _image_sizes(frame, size)
        arrays = [decode(c, h, w, t) for c, h, w, t in zip(counts, heights, widths, targets, strict=True)]
        return MaskBatch(frame, arrays)
    target = _check_size(size)
    block = np.empty((frame.height, *target), np.bool_)
    for i, (c, h, w) in enumerate(zip(counts, heights, widths, strict=True)):
        decode(c, h, w, target, out=block[i])
    return MaskBatch(frame, list(block), block)


def read_mask(
    con: duckdb.DuckDBPyConnection, mask_path: str, split: str | None = None, size: Size | None = None
) -> np.ndarray:
    """The boolean mask named ``mask_path`` (``MaskNotFoundError`` when the lake has none of that name)."""
    return decode_rows(_rows_by_path(con, [mask_path], split, named=False), size).arrays[0]


def masks_by_path(
    con: duckdb.DuckDBPyConnection, mask_paths: Sequence[str], split: str | None = None, size: Sizes = None
) -> MaskBatch:
    """The masks of ``mask_paths``, in that order; every one must be in the lake."""
    return decode_rows(_rows_by_path(con, mask_paths, split), size)


def _rows_by_path(
    con: duckdb.DuckDBPyConnection, mask_paths: Sequence[str], split: str | None, named: bool = True
) -> pl.DataFrame:
    """The rows of ``mask_paths`` in that order (repeats repeated), with ``label_name`` if ``named``."""
    _check_split(split)
    wanted = list(dict.fromkeys(mask_paths))
    ids = {path: _image_id_u64(path) for path in wanted}
    found: list[pl.DataFrame] = []
    for start in range(0, len(wanted), _PATHS_PER_QUERY):
        part = wanted[start : start + _PATHS_PER_QUERY]
        condition = (
            f"image_id_u64 in ({', '.join(str(ids[p]) for p in part)}) "
            f"and mask_path in ({', '.join(sql_string(p) for p in part)})"
        )
        if split is not None:
            condition += f" and split = {sql_string(split)}"
        found.append(_query(con, condition))
    rows = pl.concat(found) if found else _query(con, "false")
    counted = rows.group_by("mask_path").agg(pl.col("split").unique().sort())
    twice = counted.filter(pl.col("split").list.len() > 1)
    if twice.height:
        path, splits = twice.row(0)
        raise MaskSelectionError(
            f"mask {path} is in {len(splits)} splits ({', '.join(splits)})", hint="pass split= to choose one"
        )
    absent = [p for p in wanted if p not in set(counted["mask_path"].to_list())]
    if absent:
        raise _not_found(con, absent, split)
    order = pl.DataFrame({"mask_path": list(mask_paths)}, schema={"mask_path": pl.String})
    rows = order.join(rows, on="mask_path", how="left", maintain_order="left").select(rows.columns)
    return _with_names(con, rows) if named else rows


def _image_id_u64(mask_path: str) -> int:
    try:
        return int(parse_mask_path(mask_path).image_id, 16)
    except MaskPathError as exc:
        raise MaskNotFoundError(
            f"{mask_path!r} is not a mask path: {str(exc).split(': ', 1)[-1]}",
            hint="a mask path is `<ImageID>_<MID without slashes>_<BoxID>.png`, "
            "e.g. 677c122b0eaa5d16_m04yx4_9a041d52.png",
        ) from exc


def _not_found(con: duckdb.DuckDBPyConnection, absent: list[str], split: str | None) -> MaskNotFoundError:
    where = f" in split {split}" if split else ""
    listing = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
    message = f"{len(absent)} mask path(s) not in the lake{where}: {listing}"
    if not has_pixels(con):
        return MaskNotFoundError(message, hint=NO_PIXELS_HINT)
    first = absent[0]
    same_image = con.execute(
        "select mask_path, split from mask_pixels where image_id_u64 = ? order by mask_path limit 5",
        [_image_id_u64(first)],
    ).fetchall()
    if same_image:
        others = ", ".join(f"{path} ({in_split})" for path, in_split in same_image)
        return MaskNotFoundError(message, hint=f"image {first[:16]} has these masks: {others}")
    return MaskNotFoundError(message)


def has_pixels(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the lake's ``mask_pixels`` has any row (its build read mask archives)."""
    return bool(con.execute("select count(*) from (select 1 from mask_pixels limit 1)").fetchall()[0][0])


# --- selections, streamed --------------------------------------------------------------------------


def selection_condition(con: duckdb.DuckDBPyConnection, selection: MaskSelection) -> str:
    """The SQL condition on ``mask_pixels`` rows that ``selection`` describes (values as literals)."""
    _check_split(selection.split)
    parts = []
    if selection.split is not None:
        parts.append(f"split = {sql_string(selection.split)}")
    if selection.classes:
        mids = select_classes_on(con, list(selection.classes), selection.include_descendants)
        parts.append(f"label_mid in ({', '.join(sql_string(m) for m in mids)})")
    if selection.image_ids:
        parts.append(f"image_id_u64 in ({', '.join(str(_image_id_value(i)) for i in selection.image_ids)})")
    if selection.where:
        parts.append(f"({selection.where})")
    condition = " and ".join(parts) or "true"
    if selection.limit is not None:
        condition = f"({condition}) and {_limit_condition(con, condition, selection.limit)}"
    return condition


def _limit_condition(con: duckdb.DuckDBPyConnection, condition: str, limit: int) -> str:
    """The condition keeping the first ``limit`` rows in lake order: those up to the ``limit``-th."""
    if limit < 1:
        raise MaskSelectionError(f"limit {limit}: a limit is at least 1")
    last = con.execute(
        f"select split, image_id_u64, mask_path from mask_pixels where {condition} "
        f"order by split, image_id_u64, mask_path limit 1 offset {limit - 1}"
    ).fetchall()
    if not last:
        return "true"
    split, image, path = last[0]
    split_text, path_text = sql_string(split), sql_string(path)
    return (
        f"(split < {split_text} or (split = {split_text} and (image_id_u64 < {image} "
        f"or (image_id_u64 = {image} and mask_path <= {path_text}))))"
    )


def plan(con: duckdb.DuckDBPyConnection, condition: str) -> pa.Table:
    """The selection's images in lake order: split, image_id, image_id_u64, masks, grid_height, grid_width.

    The grid is the largest (most pixels, then widest) of the image's selected masks' grids.
    """
    return con.sql(
        f"""
        with grids as (
            select split, image_id, image_id_u64, count(*) as masks,
                max({{'pixels': mask_width::bigint * mask_height, 'width': mask_width, 'height': mask_height}}) as grid
            from mask_pixels
            where {condition}
            group by split, image_id, image_id_u64
        )
        select split, image_id, image_id_u64, masks, grid.height as grid_height, grid.width as grid_width
        from grids
        order by split, image_id_u64
        """
    ).to_arrow_table()


def ranges(images: pa.Table) -> Iterator[tuple[str, int, int, int]]:
    """``(split, first, last, start)``: the ImageID ranges to stream, each one mask archive's (first hex digit).

    ``start`` is the range's first row in ``images`` (which ``plan`` ordered by split and ImageID).
    """
    splits = images["split"].to_pylist()
    digits = (images["image_id_u64"].to_numpy() >> np.uint64(60)).astype(np.int64).tolist()
    previous = None
    for row, key in enumerate(zip(splits, digits, strict=True)):
        if key != previous:
            previous = key
            first = key[1] << 60
            yield key[0], first, first + (1 << 60) - 1, row


def stream_rows(con: duckdb.DuckDBPyConnection, condition: str, images: pa.Table, batch: int) -> Iterator[pa.Table]:
    """The selected rows (``COLUMNS``), ``batch`` at a time, one ImageID range after the other."""
    for split, first, last, _ in ranges(images):
        yield from stream_range(con, condition, split, first, last, batch)


def stream_range(
    con: duckdb.DuckDBPyConnection, condition: str, split: str, first: int, last: int, batch: int
) -> Iterator[pa.Table]:
    """The selected rows of one split with ``first <= image_id_u64 <= last``, about ``batch`` at a time.

    The range is one mask archive's, so the query reads one Parquet file (the others are pruned by their
    ImageID statistics), in its order (sorted by ImageID), a batch at a time; each image's rows are put in
    ``mask_path`` order (an image's last rows wait for the next batch, in case it goes on there).
    """
    cursor = _cursor(con)  # its own connection: the open result does not block queries on ``con`` meanwhile
    try:
        reader = cursor.sql(
            f"select {', '.join(COLUMNS)} from mask_pixels where ({condition}) "
            f"and split = {sql_string(split)} and image_id_u64 between {first} and {last}"
        ).to_arrow_reader(batch)
        held: pa.Table | None = None
        for record_batch in reader:
            table = pa.Table.from_batches([record_batch])
            if held is not None:
                table = pa.concat_tables([held, table])
            ids = table["image_id_u64"].to_numpy()
            if not ids.size:
                continue
            other = np.flatnonzero(ids != ids[-1])
            cut = int(other[-1]) + 1 if other.size else 0
            held = table.slice(cut)
            if cut:
                yield _in_order(table.slice(0, cut))
        if held is not None and held.num_rows:
            yield _in_order(held)
    finally:
        cursor.close()


def _cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to ``con``'s database (same catalog, same sealing), on its current schema."""
    row = con.execute("select current_database(), current_schema()").fetchall()[0]
    cursor = con.cursor()
    cursor.execute("use " + ".".join('"' + str(name).replace('"', '""') + '"' for name in row))
    return cursor


def _in_order(table: pa.Table) -> pa.Table:
    return table.sort_by([("image_id_u64", "ascending"), ("mask_path", "ascending")])


def iter_masks(
    con: duckdb.DuckDBPyConnection, selection: MaskSelection, size: Sizes = None, batch_size: int = BATCH_MASKS
) -> Iterator[MaskBatch]:
    """The selected masks decoded, ``batch_size`` a batch (the last may be smaller), in lake order.

    The selection is checked and planned now (a bad class name or size fails here); the masks are read and
    decoded as the batches are taken.
    """
    if batch_size < 1:
        raise MaskSelectionError(f"batch_size {batch_size}: a batch holds at least 1 mask")
    if size is not None and not isinstance(size, Mapping):
        size = _check_size(size)
    condition = selection_condition(con, selection)
    return _batches(con, condition, plan(con, condition), size, batch_size)


def _batches(
    con: duckdb.DuckDBPyConnection, condition: str, images: pa.Table, size: Sizes, batch_size: int
) -> Iterator[MaskBatch]:
    pending: list[pa.Table] = []
    held = 0
    for table in stream_rows(con, condition, images, batch_size):
        pending.append(table)
        held += table.num_rows
        while held >= batch_size:
            joined = pa.concat_tables(pending)
            yield decode_rows(_with_names(con, _frame(joined.slice(0, batch_size))), size)
            rest = joined.slice(batch_size)
            pending, held = [rest], rest.num_rows
    if held:
        yield decode_rows(_with_names(con, _frame(pa.concat_tables(pending))), size)


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _query(con: duckdb.DuckDBPyConnection, condition: str) -> pl.DataFrame:
    return con.sql(f"select {', '.join(COLUMNS)} from mask_pixels where {condition}").pl()


def _with_names(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with ``label_name`` after ``label_mid`` (read for their MIDs only)."""
    mids = rows["label_mid"].unique().sort().to_list()
    names = con.sql(
        "select label_mid, any_value(display_name) as label_name from classes "
        f"where label_mid in ({', '.join(map(sql_string, mids)) or 'null'}) group by label_mid"
    ).pl()
    named = rows.join(names, on="label_mid", how="left", maintain_order="left")
    return named.select(*COLUMNS[:5], "label_name", *COLUMNS[5:])


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise MaskSelectionError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")


def _image_id_value(image_id: str) -> int:
    text = image_id.strip().lower()
    if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise MaskSelectionError(
            f"{image_id!r} is not an ImageID", hint="an Open Images ImageID is 16 hex digits, e.g. 000bd0b4fa27644c"
        )
    return int(text, 16)


def _check_size(size: Size) -> Size:
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise MaskSelectionError(f"size {size!r} is not (height, width)") from None
    if height < 1 or width < 1:
        raise MaskSelectionError(f"size {size!r}: a grid is at least 1 x 1 pixels")
    return height, width


def _image_sizes(frame: pl.DataFrame, sizes: Mapping[str, Size]) -> list[Size]:
    if "image_id" not in frame.columns:
        raise MaskSelectionError("sizes by ImageID need the rows' image_id column", hint="select it from mask_pixels")
    image_ids = frame["image_id"].to_list()
    absent = sorted({i for i in image_ids if i not in sizes})
    if absent:
        raise MaskSelectionError(
            f"no size for {len(absent)} image(s): {', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''}",
            hint="give every selected image's (height, width), or narrow the selection",
        )
    return [_check_size(sizes[i]) for i in image_ids]
