"""The DuckDB catalog ``LAKE/lake.duckdb``: one view per lake table, with comments."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.core.contract import FileReport, Manifest
from pipeline.core.layout import MANIFEST, partition_fields, table_files, view_pattern
from pipeline.core.schema import TableSchema, all_schemas, table_schema
from pipeline.core.sql_text import sql_string
from pipeline.resources import sql_dir

CATALOG = "lake.duckdb"
LIVE = "_live"  # suffix of the view that computes a mart from the lake tables


def sql_files() -> list[Path]:
    """The query-layer files, in the order they are loaded."""
    root = sql_dir()
    return sorted(root.rglob("*.sql"), key=lambda p: p.relative_to(root).as_posix())


def query_layer_digest() -> str:
    """A hash of every ``sql/`` file (paths and text): a mart computed with another query layer is not reused."""
    root = sql_dir()
    digest = hashlib.sha256()
    for path in sql_files():
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def leading_comment(text: str) -> str:
    """The first paragraph of the ``--`` comment block that opens a SQL file."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    paragraph = " ".join(lines).split("  ")[0]
    return paragraph.strip()


def _run_sql_file(con: duckdb.DuckDBPyConnection, path: Path, comment: bool = True) -> None:
    text = path.read_text(encoding="utf-8")
    name = path.stem
    con.execute(text)
    if not comment:
        return
    is_view = con.execute(
        "select count(*) from duckdb_views() where view_name = ? and not internal", [name]
    ).fetchall()[0][0]
    con.execute(f"comment on {'view' if is_view else 'macro table'} {name} is {sql_string(leading_comment(text))}")


def define_view(
    con: duckdb.DuckDBPyConnection,
    name: str,
    tables: list[str],
    view_for: Callable[[TableSchema], str | None],
    archives: Sequence[FileReport] = (),
) -> None:
    """Only the query-layer view ``name`` (its ``sql/`` file) over the base ``tables`` it reads, without comments."""
    con.execute(mask_archives_sql(archives))
    for table in tables:
        schema = table_schema(table)
        sql = view_for(schema)
        if sql is not None:
            con.execute(sql)
        else:
            _empty_table(con, schema)
    _run_sql_file(con, next(path for path in sql_files() if path.stem == name), comment=False)


def view_sql(
    schema: TableSchema, root: Path | str, has_files: bool | None = None, files: list[str] | None = None
) -> str | None:
    """``create view`` over the table's Parquet files under ``root`` (a folder or a URL), or None when it has none.

    ``files`` (paths relative to ``root``, as a manifest records them) makes the view read exactly
    those files: a missing one is an error when queried, an extra one in the folder is never read.
    Without it the view globs the table's folder (the build's own staging folder, which only oilake writes).
    """
    base = str(root).rstrip("/")
    if files is not None:
        if not files:
            return None
        source = "[" + ", ".join(sql_string(f"{base}/{path}") for path in files) + "]"
    else:
        if has_files is None:
            has_files = bool(table_files(Path(root), schema.table))
        if not has_files:
            return None
        source = sql_string(f"{base}/{view_pattern(schema)}")
    if schema.partition_by:
        types = ", ".join(f"'{key}': varchar" for key in schema.partition_by)
        return (
            f"create view {schema.table} as select * from read_parquet({source}, "
            f"hive_partitioning = true, hive_types = {{{types}}})"
        )
    return f"create view {schema.table} as select * from read_parquet({source})"


MASK_ARCHIVES = "mask_archives"
MASK_ARCHIVES_COMMENT = (
    "The mask archives the release was built from, one row each: split, digit (the ImageIDs' first hex "
    "digit), archive, members, rows_written, rows_rejected (from the manifest)."
)
_ARCHIVE_NAME = re.compile(r"^(train|validation|test)-masks-([0-9a-f])\.zip$")


def archive_rows(reports: Sequence[FileReport]) -> list[tuple[str, str, str, int, int, int]]:
    """The mask archives among ``reports``: split, digit, archive, members, rows written, rows rejected."""
    rows = []
    for report in reports:
        found = _ARCHIVE_NAME.match(report.file) if report.table == "mask_pixels" else None
        if found is not None:
            rows.append((found[1], found[2], report.file, report.rows_read, report.rows_written, report.rows_rejected))
    return rows


def mask_archives_sql(reports: Sequence[FileReport]) -> str:
    """``create view mask_archives``: the mask archives a release was built from (split, digit, counts).

    Made from the manifest's file reports, so ``mask_orphans`` knows which archives were built even when
    one held no member, and a misplaced member does not make another archive look built.
    """
    rows = [
        "(" + ", ".join(sql_string(v) if isinstance(v, str) else str(int(v)) for v in values) + ")"
        for values in archive_rows(reports)
    ]
    columns = "split, digit, archive, members, rows_written, rows_rejected"
    if not rows:
        typed = "cast(null as varchar), cast(null as varchar), cast(null as varchar), 0::bigint, 0::bigint, 0::bigint"
        return f"create view {MASK_ARCHIVES} as select * from (select {typed}) as t({columns}) where false"
    body = ", ".join(rows)
    return (
        f"create view {MASK_ARCHIVES} as select split, digit, archive, cast(members as bigint) as members, "
        f"cast(rows_written as bigint) as rows_written, cast(rows_rejected as bigint) as rows_rejected "
        f"from (values {body}) as t({columns})"
    )


def manifest_files(manifest: Manifest) -> dict[str, list[str]]:
    """Each table's files as the manifest records them (relative to the release)."""
    return {name: [f.path for f in entry.files] for name, entry in manifest.tables.items()}


def write_catalog(root: Path, data_root: Path | None = None, manifest: Manifest | None = None) -> Path:
    """Write ``root/lake.duckdb`` (atomically) with views over the files the release's manifest lists.

    ``data_root`` (default ``root``) is the release folder; ``manifest`` defaults to its ``_manifest.json``.
    """
    data_root = (data_root or root).resolve()
    if manifest is None:
        where = data_root / MANIFEST
        manifest = Manifest.from_text(where.read_text(encoding="utf-8"), str(where))
    files = manifest_files(manifest)
    view_for = partial(_manifest_view, data_root, files)
    return _write(root / CATALOG, view_for, archives=manifest.sources)


def _manifest_view(root: Path | str, files: dict[str, list[str]], schema: TableSchema) -> str | None:
    return view_sql(schema, root, files=files.get(schema.table, []))


def write_remote_catalog(target: Path, base_url: str, filesystem: object, manifest: Manifest) -> Path:
    """Write a catalog at ``target`` whose views read ``base_url`` (object storage) through ``filesystem``.

    The views read the files ``manifest`` lists. Readers register the same fsspec filesystem on
    their connection (``pipeline.query.api.open_lake`` does) before querying.
    """
    files = manifest_files(manifest)
    return _write(target, partial(_manifest_view, base_url, files), filesystem, manifest.sources)


def _write(
    target: Path,
    view_for: Callable[[TableSchema], str | None],
    filesystem: object = None,
    archives: Sequence[FileReport] = (),
) -> Path:
    temp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    temp.unlink(missing_ok=True)
    con = duckdb.connect(str(temp))
    try:
        if filesystem is not None:
            con.register_filesystem(filesystem)
        con.execute("begin transaction")  # one commit for the ~500 statements, not one each
        define_views(con, view_for, archives=archives)
        con.execute("commit")
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(temp, target)
    return target


def define_views(
    con: duckdb.DuckDBPyConnection,
    view_for: Callable[[TableSchema], str | None],
    comments: bool = True,
    archives: Sequence[FileReport] = (),
) -> None:
    """Every declared table as a view (``view_for``) or an empty table, then the query layer of ``sql/``.

    A mart's SQL (``sql/40_marts/<mart>_live.sql``) defines ``<mart>_live``; ``<mart>`` reads its
    materialized Parquet, or is an alias of the live view when the lake has none. ``comments=False``
    leaves out the comments (the catalog's documentation; a build's scratch connection needs none).
    ``archives`` (the release's file reports) gives the view ``mask_archives``.
    """
    unmaterialized = []
    for schema in all_schemas().values():
        sql = view_for(schema)
        if sql is not None:
            con.execute(sql)
            if comments:
                _describe(con, schema, "view")
        elif schema.is_mart:
            unmaterialized.append(schema)
        else:
            _empty_table(con, schema)
            if comments:
                _describe(con, schema, "table")
    con.execute(mask_archives_sql(archives))
    if comments:
        con.execute(f"comment on view {MASK_ARCHIVES} is {sql_string(MASK_ARCHIVES_COMMENT)}")
    for path in sql_files():
        _run_sql_file(con, path, comments)
    for schema in unmaterialized:
        con.execute(f"create view {schema.table} as select * from {schema.table}{LIVE}")
        if comments:
            _describe(con, schema, "view")


def _describe(con: duckdb.DuckDBPyConnection, schema: TableSchema, kind: str) -> None:
    con.execute(f"comment on {kind} {schema.table} is {sql_string(schema.description)}")
    for column in schema.columns:
        con.execute(f"comment on column {schema.table}.{column.name} is {sql_string(column.description)}")
    for key in schema.partition_by:  # the one partition key today is the split
        con.execute(f"comment on column {schema.table}.{key} is 'Split: train, validation or test (Hive partition).'")


def _empty_table(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    """An empty table with the declared columns, for a table no source file fed."""
    empty = pa.schema([*schema.arrow, *partition_fields(schema)]).empty_table()
    con.register("_empty", empty)
    con.execute(f"create table {schema.table} as select * from _empty")
    con.unregister("_empty")
