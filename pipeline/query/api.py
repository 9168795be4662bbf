"""The Python API over a built lake: tables, Polars scans, and SQL through the DuckDB catalog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.catalog.views import CATALOG
from pipeline.core.errors import LakeError
from pipeline.core.layout import files_pattern, partition_fields, table_files
from pipeline.core.schema import all_schemas
from pipeline.lake.manifest import MANIFEST
from pipeline.lake.store import open_store
from pipeline.query.image_list import image_list
from pipeline.query.labels import select_classes_on

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem


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
    ) -> None:
        self.root = root
        self.release = release  # the release this Lake reads, pinned when it was opened
        self.con = con
        self.filesystem = filesystem  # the fsspec filesystem of a lake on object storage, else None

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
        return self.con.sql(query, params=params).pl()

    def arrow(self, query: str, params: object = None) -> pa.Table:
        """Run ``query`` on the catalog; the result as an Arrow table."""
        return self.con.sql(query, params=params).to_arrow_table()

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
        return image_list(self.con, classes, include_descendants, split, min_boxes, where)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def open_lake(path: Path | str = "lake", storage_options: dict[str, str] | None = None) -> Lake:
    """Open a built lake: a folder ``oilake build --lake`` wrote, or its object-store URL.

    The release current now is pinned: a publish during this session does not mix releases.
    """
    store = open_store(path, storage_options)
    release_id = store.current_id()
    if release_id is None:
        folder = Path(path)
        if store.filesystem is None and (folder / MANIFEST).is_file() and (folder / CATALOG).is_file():
            return Lake(folder, folder, duckdb.connect(str(folder / CATALOG), read_only=True))  # one release folder
        raise LakeError(f"{path} is not a built oilake lake (no current release); run `oilake build --lake {path}`")
    root = str(path) if store.filesystem is not None else Path(path)
    return Lake(root, store.release_root(release_id), store.connect(release_id), filesystem=store.filesystem)
