"""Materialize the marts of ``sql/40_marts`` as Parquet tables of the release, once per build.

A mart's view aggregates whole tables (at scale 1, class_stats_live took about 19 s when timed by
hand); run on every dashboard query, that cost would be paid each time. The build computes each
mart once, with the same SQL (its ``<mart>_live`` view), and writes it sorted by its declared
``sort_by`` under ``<release>/<mart>/<mart>.parquet`` (then named after its digest, see ``build/naming.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.catalog.views import LIVE, define_views, view_sql
from pipeline.core.layout import file_path
from pipeline.core.schema import mart_schemas
from pipeline.write.parquet_writer import ROW_GROUP_ROWS, build_connection, memory_budget, write_batches


def materialize_marts(root: Path) -> dict[str, int]:
    """Write every mart of the lake tables under ``root`` into ``root``; returns rows per mart."""
    temp = root / ".marts-tmp"
    con = build_connection(temp)
    try:
        con.execute("set preserve_insertion_order = false")  # every mart is sorted explicitly
        define_views(con, lambda schema: None if schema.is_mart else view_sql(schema, root), comments=False)
        written = {}
        for schema in mart_schemas():
            with memory_budget(f"mart {schema.table}"):
                # aggregate first, sort after: under ORDER BY, DuckDB ran box_geometry's quantiles out of memory
                con.execute(f"create temp table _mart as select * from {schema.table}{LIVE}")
                order = f" order by {', '.join(schema.sort_by)}" if schema.sort_by else ""
                query = con.sql(f"select * from _mart{order}")
                path = root / file_path(schema, f"{schema.table}.parquet")
                written[schema.table] = write_batches(path, schema, query.to_arrow_reader(ROW_GROUP_ROWS))
                con.execute("drop table _mart")
        return written
    finally:
        con.close()
        shutil.rmtree(temp, ignore_errors=True)
