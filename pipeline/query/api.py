"""The Python API over a built lake: tables, Polars scans, and SQL through the DuckDB catalog."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.catalog.views import CATALOG
from pipeline.core.errors import LakeError, QueryError
from pipeline.core.layout import files_pattern, partition_fields, table_files
from pipeline.core.schema import all_schemas
from pipeline.core.sql_text import sql_string
from pipeline.lake.manifest import MANIFEST
from pipeline.lake.store import open_store
from pipeline.query.evaluations import evaluation_views
from pipeline.query.image_list import image_list
from pipeline.query.labels import select_classes_on
from pipeline.query.mask_export import MaskExport, export_coco, export_coco_file
from pipeline.query.masks import (
    BATCH_MASKS,
    MaskBatch,
    MaskSelection,
    Size,
    Sizes,
    iter_masks,
    masks_by_path,
    read_mask,
)
from pipeline.read.redact import redact, redact_text

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# What a sealed connection runs: queries only (no COPY, EXPORT, ATTACH, INSTALL/LOAD, SET, CREATE, ...).
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA})
# The release files the catalog's views read (view_sql quotes each one).
_VIEW_FILES = r"'((?:[^']|'')+?\.parquet)'"


class FileAccessError(QueryError):
    """A query on the lake tried to read or write a file other than the release's own, or to change settings."""

    hint = (
        "the SQL surfaces read the lake's tables only; to export, use `oilake sql --format … --output FILE`, "
        "or pass --allow-file-access (open_lake(..., file_access=True)) to let SQL reach other files"
    )


class DamagedReleaseError(LakeError):
    """A Parquet file the release's manifest lists is missing or unreadable."""

    hint = "the release was changed after it was published: run `oilake verify --lake LAKE`, then rebuild"


def seal(
    con: duckdb.DuckDBPyConnection,
    filesystem: AbstractFileSystem | None = None,
    extra_views: Sequence[tuple[str, list[str]]] = (),
) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A connection on ``con``'s catalog (attached read-only) that can read only the files its views read.

    External access is off (``allowed_paths`` = the views' files) and the configuration locked, so
    ``copy … to``, ``read_csv('/etc/passwd')`` and ``attach`` fail; ``con`` is closed. The catalog is
    attached to a fresh in-memory database so that the lock never reaches another connection to the file.
    ``extra_views`` (statement, files read) are made on the sealed connection too (registered evaluation runs).
    Returns the connection and the files it may read.
    """
    path = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchall()
    con.close()
    sealed = duckdb.connect()
    try:
        if filesystem is not None:
            sealed.register_filesystem(filesystem)
        sealed.execute(f"attach {sql_string(str(path[0][0]))} as lake (read_only)")
        sealed.execute("use lake")
        views = sealed.execute("select sql from duckdb_views() where database_name = 'lake' and not internal")
        files = sorted({m.replace("''", "'") for (sql,) in views.fetchall() for m in re.findall(_VIEW_FILES, sql)})
        for statement, read in extra_views:
            sealed.execute(statement)
            files.extend(read)
        sealed.execute("set allowed_paths = ?", [files])
        sealed.execute("set enable_external_access = false")
        sealed.execute("set lock_configuration = true")
    except BaseException:
        sealed.close()
        raise
    return sealed, files


class Lake:
    """A built lake. Open with ``open_lake(path)``; closes its read-only catalog connection on exit.

    >>> lake = open_lake("lake")  # doctest: +SKIP
    >>> lake.scan("boxes").filter(pl.col("split") == "validation").select("label_mid").collect()  # doctest: +SKIP
    >>> lake.sql("select label_name, boxes from class_stats order by boxes desc limit 5")  # doctest: +SKIP
    """

    def __init__(
        self,
        root: Path | str,
        release: Path | str,
        con: duckdb.DuckDBPyConnection,
        filesystem: AbstractFileSystem | None = None,
        file_access: bool = False,
    ) -> None:
        self.root = root
        self.release = release  # the release this Lake reads, pinned when it was opened
        self.filesystem = filesystem  # the fsspec filesystem of a lake on object storage, else None
        self.file_access = file_access  # False: SQL reads the release's files only (see ``seal``)
        extra = evaluation_views(Path(root)) if filesystem is None else []
        if file_access:
            for statement, _ in extra:
                con.execute(statement)
            self.con, self._files_read = con, list[str]()
        else:
            self.con, self._files_read = seal(con, filesystem, extra)

    def tables(self) -> list[str]:
        """Every table, view and table macro of the catalog, sorted."""
        rows = self.con.execute(
            "select view_name from duckdb_views() where not internal "
            "union select table_name from duckdb_tables() "
            "union select function_name from duckdb_functions() where function_type = 'table_macro' and not internal "
            "order by 1"
        ).fetchall()
        return [r[0] for r in rows]

    def scan(self, table: str) -> pl.LazyFrame:
        """A lazy Polars scan of a lake table's Parquet files (``split`` from the Hive path).

        Filters on ``split`` prune whole folders and filters on other columns are pushed into the
        Parquet reader (row-group statistics). Views are not files: use ``sql`` for them.
        """
        schemas = all_schemas()
        if table not in schemas:
            raise LakeError(f"{table!r} is not a lake table; tables: {', '.join(schemas)} (use .sql() for views)")
        schema = schemas[table]
        partitions = partition_fields(schema)
        target = pl.Schema(pl.DataFrame(schema.arrow.empty_table()).schema)
        for column in partitions:
            target[column.name] = pl.String
        files = self._files(table)
        if not files:
            return pl.LazyFrame(schema=target)
        if self.filesystem is not None:
            partitioning = ds.partitioning(pa.schema(partitions), flavor="hive") if partitions else None
            dataset = ds.dataset(
                files, filesystem=self.filesystem, format="parquet", partitioning=partitioning,
                partition_base_dir=f"{self.release}/{table}",
            )  # fmt: skip
            return pl.scan_pyarrow_dataset(dataset)
        if partitions:
            return pl.scan_parquet(files, hive_partitioning=True, hive_schema={c.name: pl.String for c in partitions})
        return pl.scan_parquet(files)

    def _files(self, table: str) -> list[str]:
        if self.filesystem is not None:
            return sorted(self.filesystem.glob(f"{self.release}/{files_pattern(table)}"))
        return [str(p) for p in table_files(Path(self.release), table)]

    def sql(self, query: str, params: object = None) -> pl.DataFrame:
        """Run ``query`` on the catalog; the result as a Polars frame."""
        with self._guard():
            self._check(query)
            return self.con.sql(query, params=params).pl()

    def arrow(self, query: str, params: object = None) -> pa.Table:
        """Run ``query`` on the catalog; the result as an Arrow table."""
        with self._guard():
            self._check(query)
            return self.con.sql(query, params=params).to_arrow_table()

    def _check(self, query: str) -> None:
        """Refuse statements other than queries unless file access was asked for."""
        if self.file_access:
            return
        refused = sorted({s.type.name.lower() for s in self.con.extract_statements(query)} - _READ_NAMES)
        if refused:
            raise FileAccessError(f"{', '.join(refused)} statements are refused: the lake is opened read-only")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """DuckDB's errors about files as named errors: access refused, or a release file missing."""
        try:
            yield
        except duckdb.PermissionException as exc:
            # DuckDB looks for a missing file as a folder (``FILE/**/*.parquet``), outside the allowed paths
            named = re.search(r'file "([^"]*)"', str(exc))
            missing = [f for f in self._files_read if named and named.group(1).startswith(f)]
            if not missing:
                raise FileAccessError(f"{_first_line(exc)} (file access is off)") from exc
            raise self._damaged(f"{redact(missing[0])} does not exist") from exc
        except duckdb.IOException as exc:
            text = _first_line(exc)
            if not any(marker in text for marker in _MISSING):
                raise
            raise self._damaged(text) from exc

    def _damaged(self, text: str) -> DamagedReleaseError:
        return DamagedReleaseError(
            f"release {Path(str(self.release)).name} is damaged: a file its manifest lists is missing or "
            f"unreadable: {text}",
            hint=f"run `oilake verify --lake {redact(str(self.root))}` (the release changed after it was "
            "published), then rebuild",
        )

    def select_classes(self, names: Sequence[str], include_descendants: bool = False) -> list[str]:
        """MIDs of classes by display name (see ``pipeline.query.labels.select_classes``)."""
        return select_classes_on(self.con, names, include_descendants)

    def image_list(
        self,
        classes: Sequence[str],
        include_descendants: bool = False,
        split: str | None = None,
        min_boxes: int = 1,
        where: str | None = None,
    ) -> list[str]:
        """``split/image_id`` lines for the official downloader (see ``pipeline.query.image_list``)."""
        if where is not None:
            self._check(f"select 1 from boxes_named where ({where})")
        with self._guard():
            return image_list(self.con, classes, include_descendants, split, min_boxes, where)

    def mask(self, mask_path: str, split: str | None = None, size: Size | None = None) -> np.ndarray:
        """The boolean ``(mask_height, mask_width)`` mask named ``mask_path``, or resampled to ``size``.

        ``size`` is ``(height, width)``, nearest neighbour (see ``pipeline.query.masks``). A path not in the
        lake raises ``MaskNotFoundError``.

        >>> lake.mask("000bd0b4fa27644c_m0pg52_5c80344b.png").shape  # doctest: +SKIP
        (960, 1280)
        """
        with self._guard():
            return read_mask(self.con, mask_path, split, size)

    def masks(self, mask_paths: Sequence[str], split: str | None = None, size: Sizes = None) -> MaskBatch:
        """The masks of ``mask_paths``, decoded in that order (``size``: one grid, or each image's by ImageID)."""
        with self._guard():
            return masks_by_path(self.con, mask_paths, split, size)

    def iter_masks(
        self,
        classes: Sequence[str] = (),
        include_descendants: bool = False,
        split: str | None = None,
        image_ids: Sequence[str] = (),
        where: str | None = None,
        limit: int | None = None,
        size: Sizes = None,
        batch_size: int = BATCH_MASKS,
    ) -> Iterator[MaskBatch]:
        """A selection's masks decoded, ``batch_size`` a batch, streamed in lake order (split, ImageID).

        ``where`` is an SQL condition on ``mask_pixels`` columns; see ``pipeline.query.masks.MaskSelection``.
        """
        selection = MaskSelection(classes, include_descendants, split, image_ids, where, limit)
        if where is not None:
            self._check(f"select 1 from mask_pixels where ({where})")
        with self._guard():
            return self._guarded(iter_masks(self.con, selection, size, batch_size))

    def export_masks(
        self,
        output: Path | str | IO[bytes],
        selection: MaskSelection | None = None,
        png_dir: Path | str | None = None,
        image_sizes: Mapping[str, Size] | None = None,
    ) -> MaskExport:
        """Write a selection as COCO instance-segmentation JSON to ``output`` (a file, or a binary stream).

        ``png_dir`` also gets each annotation's mask as a PNG; ``image_sizes`` (ImageID → (height, width))
        puts the images on those grids instead of the mask grid. See ``pipeline.query.mask_export``.
        """
        selection = selection or MaskSelection()
        if selection.where is not None:
            self._check(f"select 1 from mask_pixels where ({selection.where})")
        pngs = Path(png_dir) if png_dir is not None else None
        release = Path(str(self.release)).name
        with self._guard():
            if isinstance(output, Path | str):
                return export_coco_file(self.con, Path(output), selection, pngs, image_sizes, release)
            return export_coco(self.con, output, selection, pngs, image_sizes, release)

    def _guarded(self, items: Iterator[MaskBatch]) -> Iterator[MaskBatch]:
        with self._guard():
            yield from items

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def open_lake(
    path: Path | str = "lake", storage_options: dict[str, str] | None = None, file_access: bool = False
) -> Lake:
    """Open a built lake: a folder ``oilake build --lake`` wrote, or its object-store URL.

    The release current now is pinned: a publish during this session does not mix releases. SQL
    reads only the release's files unless ``file_access`` (then ``copy … to`` and ``read_csv`` work).
    """
    store = open_store(path, storage_options)
    release_id = store.current_id()
    if release_id is None:
        folder = Path(path)
        if store.filesystem is None and (folder / MANIFEST).is_file() and (folder / CATALOG).is_file():
            con = duckdb.connect(str(folder / CATALOG), read_only=True)
            return Lake(folder, folder, con, file_access=file_access)  # one release folder
        raise LakeError(f"{path} is not a built oilake lake (no current release); run `oilake build --lake {path}`")
    root = str(path) if store.filesystem is not None else Path(path)
    con = store.connect(release_id)
    return Lake(root, store.release_root(release_id), con, filesystem=store.filesystem, file_access=file_access)


_READ_NAMES = frozenset(t.name.lower() for t in READ_STATEMENTS)
_MISSING = ("No files found", "No such file", "Could not open file")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact_text(text.splitlines()[0]) if text else type(exc).__name__
