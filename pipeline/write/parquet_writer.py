"""Write one Parquet file of a lake table: buffered row groups, zstd, declared schema.

Rows are written in arrival order; when the table is sorted by image and the
rows did not arrive sorted, the file is re-sorted (stable, out of core) by
DuckDB when it is closed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import MemoryBudgetError, SchemaError
from pipeline.core.schema import TableSchema
from pipeline.write.memory import release_memory

ROW_GROUP_ROWS = 256 * 1024
ROW_GROUP_BYTES = 32 << 20  # a row group is also cut at this much buffered Arrow data (wide rows: narratives, images)
SORT_KEY = "image_id_u64"
DUCKDB_MEMORY_LIMIT = "640MB"  # build-time DuckDB work (re-sorts, overlaps, marts) spills beyond this
MEMORY_VARIABLE = "OILAKE_DUCKDB_MEMORY"


def conform(table: pa.Table, schema: TableSchema) -> pa.Table:
    """Cast ``table`` to the declared schema (names, order, types, nullability)."""
    target = schema.arrow
    try:
        table = table.select(target.names)
        if any(not f.nullable and table.column(f.name).null_count for f in target):
            raise SchemaError(f"{schema.table}: NULL in a non-nullable column")
        return table.cast(target)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(f"{schema.table}: rows do not fit the declared schema: {exc}") from exc


def _dictionary_columns(schema: TableSchema) -> list[str]:
    return [c.name for c in schema.columns if c.type == "string"]


class PartWriter:
    """Writes one Parquet file; ``rows`` counts what was written."""

    def __init__(
        self,
        path: Path,
        schema: TableSchema,
        row_group_rows: int = ROW_GROUP_ROWS,
        track_order: bool = True,
        row_group_bytes: int = ROW_GROUP_BYTES,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.rows = 0
        self.row_groups = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._buffered_bytes = 0
        self._sorted = True
        self._last_key: int | None = None
        self._track_order = track_order and schema.sort_by[:1] == (SORT_KEY,)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(
            path,
            schema.arrow.with_metadata(metadata) if metadata else schema.arrow,
            compression="zstd",
            use_dictionary=_dictionary_columns(schema),
            write_statistics=True,
        )

    def write(self, table: pa.Table) -> None:
        table = conform(table, self.schema)
        if table.num_rows == 0:
            return
        if self._track_order and self._sorted:
            keys = table.column(SORT_KEY).to_numpy()
            if (self._last_key is not None and keys[0] < self._last_key) or np.any(keys[1:] < keys[:-1]):
                self._sorted = False
            self._last_key = int(keys[-1])
        self._buffer.append(table)
        self._buffered += table.num_rows
        self._buffered_bytes += table.nbytes
        self.rows += table.num_rows
        while self._buffered >= self.row_group_rows:
            self._flush(self.row_group_rows)
        if self._buffered_bytes >= self.row_group_bytes:
            self._flush()  # wide rows: bound the buffer by size, not only by rows

    def _flush(self, rows: int | None = None) -> None:
        if not self._buffer:
            return
        data = pa.concat_tables(self._buffer)
        take = data.num_rows if rows is None else min(rows, data.num_rows)
        self._writer.write_table(data.slice(0, take), row_group_size=self.row_group_rows)
        self.row_groups += 1
        rest = data.slice(take)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows
        self._buffered_bytes = rest.nbytes if rest.num_rows else 0

    def close(self) -> bool:
        """Finish the file; returns True when it had to be re-sorted."""
        self._flush()
        self._writer.close()
        if self._sorted:
            return False
        self._resort()
        return True

    def _resort(self) -> None:
        unsorted = self.path.with_suffix(".unsorted.parquet")
        os.replace(self.path, unsorted)
        try:
            write_query(
                self.path,
                self.schema,
                "select * exclude (file_row_number) from read_parquet($path, file_row_number = true) "
                f"order by {SORT_KEY}, file_row_number",
                {"path": str(unsorted)},
                temp_dir=self.path.parent,
            )
        finally:
            unsorted.unlink(missing_ok=True)


def duckdb_memory_limit() -> str:
    """The build's DuckDB memory budget: ``OILAKE_DUCKDB_MEMORY`` (e.g. ``2GB``), else 640 MB."""
    return os.environ.get(MEMORY_VARIABLE) or DUCKDB_MEMORY_LIMIT


@contextmanager
def memory_budget(step: str) -> Iterator[None]:
    """Turn DuckDB running out of the build's budget during ``step`` into a ``MemoryBudgetError``."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        first = str(exc).splitlines()[0]
        raise MemoryBudgetError(
            f"{step}: DuckDB needed more than the build's memory budget of {duckdb_memory_limit()} ({first}); "
            f"set {MEMORY_VARIABLE} higher (e.g. {MEMORY_VARIABLE}=2GB); nothing was published"
        ) from exc


def build_connection(temp_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for build steps: bounded memory, spilling to ``temp_dir``."""
    release_memory()  # hand back the ingest's freed pages before DuckDB takes its share
    con = duckdb.connect(config={"memory_limit": duckdb_memory_limit()})
    con.execute("set temp_directory = $dir", {"dir": str(temp_dir)})
    con.execute("set preserve_insertion_order = true")
    con.execute("set enable_progress_bar = false")  # the build reports its own progress on stderr
    return con


def write_query(
    path: Path, schema: TableSchema, sql: str | Sequence[str], params: dict[str, object], temp_dir: Path
) -> int:
    """Write the result of a DuckDB query (sorts and joins spill to ``temp_dir``) as ``path``; returns rows.

    Several queries: their rows one after the other, each query run once the one before is written.
    """
    queries = [sql] if isinstance(sql, str) else list(sql)
    con = build_connection(temp_dir)

    def batches() -> Iterator[pa.RecordBatch]:
        for query in queries:
            yield from con.sql(query, params=params).to_arrow_reader(ROW_GROUP_ROWS)

    try:
        with memory_budget(f"writing {path.name}"):
            return write_batches(path, schema, batches())
    finally:
        con.close()


def write_batches(
    path: Path, schema: TableSchema, batches: Iterable[pa.RecordBatch], metadata: dict[str, str] | None = None
) -> int:
    """Write record batches (conformed to ``schema``) as the Parquet file ``path``; returns rows.

    ``metadata``: key-value pairs for the file's footer (a mart records the query layer it was computed with).
    """
    writer = PartWriter(path, schema, track_order=False, metadata=metadata)
    try:
        for batch in batches:
            writer.write(pa.Table.from_batches([batch]))
    finally:
        writer.close()
    return writer.rows
