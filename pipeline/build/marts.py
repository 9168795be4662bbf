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
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline.catalog.views import LIVE, define_views, view_sql
from pipeline.core.layout import file_path
from pipeline.core.schema import TableSchema, all_schemas, mart_schemas
from pipeline.write.parquet_writer import ROW_GROUP_ROWS, build_connection, memory_budget, write_batches

# rows of the keyed tables per slice: at scale 1 (about 270M rows) 9 slices, and class_stats and
# image_summary took 9-11 s each instead of 14-24 s (benchmarks/notes.md); the sample needs one
SLICE_ROWS = 32_000_000
MAX_SLICES = 64
KEY_SPACE = 2**64  # slice keys are unsigned 64-bit integers


def materialize_marts(root: Path, slice_rows: int = SLICE_ROWS) -> dict[str, int]:
    """Write every mart of the lake tables under ``root`` into ``root``; returns rows per mart."""
    temp = root / ".marts-tmp"
    con = build_connection(temp)
    try:
        con.execute("set preserve_insertion_order = false")  # every mart is sorted explicitly
        define_views(con, lambda schema: None if schema.is_mart else view_sql(schema, root), comments=False)
        written = {}
        for schema in mart_schemas():
            with memory_budget(f"mart {schema.table}"):
                if schema.slice_by is None:
                    # aggregate first, sort after: under ORDER BY, DuckDB ran box_geometry's quantiles out of memory
                    con.execute(f"create temp table _mart as select * from {schema.table}{LIVE}")
                else:
                    _compute_in_slices(con, schema, root, slice_rows)
                order = f" order by {', '.join(schema.sort_by)}" if schema.sort_by else ""
                query = con.sql(f"select * from _mart{order}")
                path = root / file_path(schema, f"{schema.table}.parquet")
                written[schema.table] = write_batches(path, schema, query.to_arrow_reader(ROW_GROUP_ROWS))
                con.execute("drop table _mart")
        return written
    finally:
        con.close()
        shutil.rmtree(temp, ignore_errors=True)


def key_ranges(slices: int) -> list[tuple[int, int | None]]:
    """``slices`` disjoint ``[low, high)`` ranges covering the unsigned 64-bit keys; the last is open."""
    bounds = [k * KEY_SPACE // slices for k in range(slices)]
    return [(low, high) for low, high in zip(bounds, [*bounds[1:], None], strict=True)]


def slice_count(rows: int, slice_rows: int = SLICE_ROWS) -> int:
    """How many slices keep each one near ``slice_rows`` rows of the keyed tables (1 to ``MAX_SLICES``)."""
    return max(1, min(MAX_SLICES, math.ceil(rows / slice_rows)))


def _compute_in_slices(con: duckdb.DuckDBPyConnection, schema: TableSchema, root: Path, slice_rows: int) -> None:
    """``_mart`` = the mart's live view, computed one range of ``schema.slice_by`` at a time."""
    key = schema.slice_by
    assert key is not None
    keyed = {
        s.table: sql
        for s in all_schemas().values()
        if not s.is_mart and key in s.column_names
        if (sql := view_sql(s, root)) is not None
    }
    rows = sum(con.execute(f"select count(*) from {table}").fetchone()[0] for table in keyed)  # type: ignore[index]
    slices = slice_count(rows, slice_rows)
    live = f"{schema.table}{LIVE}"
    if slices == 1:
        con.execute(f"create temp table _mart as select * from {live}")
        return
    con.execute(f"create temp table _parts as select * from {live} limit 0")
    for low, high in key_ranges(slices):
        with _restricted(con, keyed, key, low, high):
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
def _restricted(
    con: duckdb.DuckDBPyConnection, views: dict[str, str], key: str, low: int, high: int | None
) -> Iterator[None]:
    """Within the block, each of ``views`` (table → its ``create view``) reads only keys in ``[low, high)``."""
    where = f" where {key} >= {low}::ubigint" + ("" if high is None else f" and {key} < {high}::ubigint")
    try:
        for sql in views.values():
            con.execute(sql.replace("create view", "create or replace view", 1) + where)
        yield
    finally:
        for sql in views.values():
            con.execute(sql.replace("create view", "create or replace view", 1))
