"""Materialize the marts of ``sql/40_marts`` as Parquet tables of the release, once per build.

A mart's view aggregates whole tables (at scale 1, class_stats_live took about 19 s when timed by
hand); run on every dashboard query, that cost would be paid each time. The build computes each
mart once, with the same SQL (its ``<mart>_live`` view), and writes it sorted by its declared
``sort_by`` under ``<release>/<mart>/<mart>.parquet`` (then named after its digest, see ``build/naming.py``).

A mart that declares ``slice_by`` (a key such as ``image_id_u64``) is computed in disjoint ranges
of that key: the tables that have the key are read one range at a time (their files are sorted by
it, so each range reads only its own row groups), and the slices' rows are concatenated, or added
up over the columns of ``slice_sum``. Each slice's hash tables are a fraction of the whole, so
the marts fit the build's DuckDB budget at any scale without spilling (see ``slice_count``).

A mart that declares ``split_local`` reads, for its rows of a split, only that split's rows (and
the unpartitioned tables). An incremental build whose source files of a split are all the previous
release's (``build/reuse.py`` ``mart_donor``) keeps that split's rows from the previous mart file
and computes the others, with the base views restricted to them. Each mart file records the digest
of the query layer (``sql/``) in its footer; a previous file computed with other SQL is not reused.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from pipeline.build.slices import key_ranges, range_conditions, slice_count
from pipeline.catalog.views import LIVE, define_views, query_layer_digest, view_sql
from pipeline.core.layout import file_path
from pipeline.core.schema import TableSchema, all_schemas, mart_schemas
from pipeline.core.sql_text import sql_string
from pipeline.write.parquet_writer import ROW_GROUP_ROWS, build_connection, memory_budget, write_batches

# rows of the keyed tables per slice: at scale 1 (about 270M rows) 9 slices, and class_stats and
# image_summary took 9-11 s each instead of 14-24 s (benchmarks/notes.md); the sample needs one
SLICE_ROWS = 32_000_000
QUERY_LAYER_KEY = "oilake.query_layer"  # a mart file's footer key: the digest of the sql/ it was computed with


@dataclass(frozen=True)
class MartDonor:
    """The previous release's marts, lent for the splits whose every input this build reuses.

    ``splits`` are the unchanged splits; ``files`` the local paths of the previous release's
    split-local mart files (intact, computed with this query layer), by mart.
    """

    release_id: str
    splits: tuple[str, ...]
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scope:
    """The rows the base views read: every row, or without some splits, or one key range of those."""

    without_splits: tuple[str, ...] = ()
    key: str | None = None
    low: int = 0
    high: int | None = None

    def view(self, schema: TableSchema, sql: str) -> str:
        conditions = []
        if self.without_splits and "split" in schema.partition_by:
            conditions.append(f"split not in ({', '.join(sql_string(s) for s in self.without_splits)})")
        if self.key is not None and self.key in schema.column_names:
            conditions += range_conditions(self.key, self.low, self.high)
        replaced = sql.replace("create view", "create or replace view", 1)
        return f"{replaced} where {' and '.join(conditions)}" if conditions else replaced


def materialize_marts(root: Path, slice_rows: int = SLICE_ROWS, donor: MartDonor | None = None) -> dict[str, int]:
    """Write every mart of the lake tables under ``root`` into ``root``; returns rows per mart.

    With a ``donor``, a split-local mart keeps the donor's rows of ``donor.splits`` and computes
    only the other splits' rows.
    """
    temp = root / ".marts-tmp"
    con = build_connection(temp)
    try:
        con.execute("set preserve_insertion_order = false")  # every mart is sorted explicitly
        define_views(con, lambda schema: None if schema.is_mart else view_sql(schema, root), comments=False)
        base = {
            schema.table: (schema, sql)
            for schema in all_schemas().values()
            if not schema.is_mart and (sql := view_sql(schema, root)) is not None
        }
        metadata = {QUERY_LAYER_KEY: query_layer_digest()}
        written = {}
        for schema in mart_schemas():
            kept = donor.files.get(schema.table) if donor is not None and schema.split_local else None
            with memory_budget(f"mart {schema.table}"):
                if kept is None or donor is None:
                    _compute(con, schema, base, _Scope(), slice_rows)
                else:
                    scope = _Scope(without_splits=donor.splits)
                    with _scoped(con, base, scope, _Scope()):
                        _compute(con, schema, base, scope, slice_rows)
                    splits = ", ".join(sql_string(s) for s in donor.splits)
                    con.execute(
                        f"insert into _mart by name select * from read_parquet($path) where split in ({splits})",
                        {"path": str(kept)},
                    )
                order = f" order by {', '.join(schema.sort_by)}" if schema.sort_by else ""
                query = con.sql(f"select * from _mart{order}")
                path = root / file_path(schema, f"{schema.table}.parquet")
                written[schema.table] = write_batches(path, schema, query.to_arrow_reader(ROW_GROUP_ROWS), metadata)
                con.execute("drop table _mart")
        return written
    finally:
        con.close()
        shutil.rmtree(temp, ignore_errors=True)


def _compute(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    base: dict[str, tuple[TableSchema, str]],
    scope: _Scope,
    slice_rows: int,
) -> None:
    """``_mart`` = the mart's live view over the rows of ``scope``, in slices when it declares ``slice_by``."""
    if schema.slice_by is None:
        # aggregate first, sort after: under ORDER BY, DuckDB ran box_geometry's quantiles out of memory
        con.execute(f"create temp table _mart as select * from {schema.table}{LIVE}")
    else:
        _compute_in_slices(con, schema, base, scope, slice_rows)


def _compute_in_slices(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    base: dict[str, tuple[TableSchema, str]],
    scope: _Scope,
    slice_rows: int,
) -> None:
    """``_mart`` = the mart's live view, computed one range of ``schema.slice_by`` at a time."""
    key = schema.slice_by
    assert key is not None
    keyed = [name for name, (table, _) in base.items() if key in table.column_names]
    rows = sum(con.execute(f"select count(*) from {table}").fetchone()[0] for table in keyed)  # type: ignore[index]
    slices = slice_count(rows, slice_rows)
    live = f"{schema.table}{LIVE}"
    if slices == 1:
        con.execute(f"create temp table _mart as select * from {live}")
        return
    con.execute(f"create temp table _parts as select * from {live} limit 0")
    for low, high in key_ranges(slices):
        with _scoped(con, base, replace(scope, key=key, low=low, high=high), scope):
            con.execute(f"insert into _parts select * from {live}")
    if schema.slice_sum:
        summed = set(schema.slice_sum)
        groups = [name for name in schema.column_names if name not in summed]
        columns = ", ".join(
            f"sum({name})::bigint as {name}" if name in summed else name for name in schema.column_names
        )
        con.execute(f"create temp table _mart as select {columns} from _parts group by {', '.join(groups)}")
        con.execute("drop table _parts")
    else:
        con.execute("alter table _parts rename to _mart")


@contextmanager
def _scoped(
    con: duckdb.DuckDBPyConnection, base: dict[str, tuple[TableSchema, str]], scope: _Scope, outer: _Scope
) -> Iterator[None]:
    """Within the block, each base view (table → its schema and ``create view``) reads only ``scope``'s rows."""
    try:
        for schema, sql in base.values():
            con.execute(scope.view(schema, sql))
        yield
    finally:
        for schema, sql in base.values():
            con.execute(outer.view(schema, sql))
