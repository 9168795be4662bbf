"""Catalog tables for other engines: Spark SQL ``CREATE TABLE … USING parquet`` over one release's files.

Each table is external (``LOCATION`` is the release's ``<table>/`` folder, so ``DROP TABLE``
removes only the definition), declares the columns of ``schemas/`` (``UBIGINT`` as
``DECIMAL(20,0)``, what Spark reads unsigned 64-bit Parquet as), and, when partitioned, is
followed by ``MSCK REPAIR TABLE``: without it Spark registers no partition and reads 0 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from pipeline.catalog.views import MASK_ARCHIVES, archive_rows
from pipeline.core.contract import FileReport
from pipeline.core.errors import OilakeError
from pipeline.core.schema import TableSchema, all_schemas

SPLIT_COMMENT = "Split: train, validation or test (Hive partition)."

_SPARK_TYPES = {
    pa.string(): "STRING",
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.uint64(): "DECIMAL(20,0)",  # Spark has no unsigned types: it reads UINT64 Parquet as this
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
}


def spark_type(dtype: pa.DataType) -> str:
    """The Spark SQL type of a declared Arrow type (``list<struct<x: float32>>`` → ``ARRAY<STRUCT<`x`: FLOAT>>``)."""
    if pa.types.is_list(dtype):
        return f"ARRAY<{spark_type(dtype.value_type)}>"
    if pa.types.is_struct(dtype):
        fields = ", ".join(f"{_name(f.name)}: {spark_type(f.type)}" for f in dtype)
        return f"STRUCT<{fields}>"
    if dtype not in _SPARK_TYPES:
        raise OilakeError(f"no Spark SQL type for {dtype}")  # pragma: no cover - every declared type has one
    return _SPARK_TYPES[dtype]


def _name(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def spark_string(text: str) -> str:
    """A Spark SQL string literal (Spark escapes with backslashes; ``''`` would concatenate two literals)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def spark_table(schema: TableSchema, location: str, database: str | None = None) -> list[str]:
    """``DROP TABLE IF EXISTS``, ``CREATE TABLE … USING parquet … LOCATION`` and, if partitioned, ``MSCK REPAIR``."""
    table = f"{_name(database)}.{_name(schema.table)}" if database else _name(schema.table)
    columns = [
        f"  {_name(c.name)} {spark_type(c.arrow_type)} COMMENT {spark_string(c.description)}" for c in schema.columns
    ]
    columns += [f"  {_name(key)} STRING COMMENT {spark_string(SPLIT_COMMENT)}" for key in schema.partition_by]
    create = [f"CREATE TABLE {table} (", ",\n".join(columns), ")", "USING parquet"]
    if schema.partition_by:
        create.append(f"PARTITIONED BY ({', '.join(_name(key) for key in schema.partition_by)})")
    create += [f"COMMENT {spark_string(schema.description)}", f"LOCATION {spark_string(location)}"]
    statements = [f"DROP TABLE IF EXISTS {table}", "\n".join(create)]
    if schema.partition_by:
        statements.append(f"MSCK REPAIR TABLE {table}")
    return statements


def spark_archives_view(archives: Sequence[FileReport], database: str | None = None) -> str:
    """``CREATE OR REPLACE VIEW mask_archives``: the release's mask archives as an inline table (for mask_orphans)."""
    view = f"{_name(database)}.{_name(MASK_ARCHIVES)}" if database else _name(MASK_ARCHIVES)
    rows = [
        f"({spark_string(split)}, {spark_string(digit)}, {spark_string(archive)}, {members}, {written}, {rejected})"
        for split, digit, archive, members, written, rejected in archive_rows(archives)
    ]
    if not rows:
        return (
            f"CREATE OR REPLACE VIEW {view} AS SELECT CAST(NULL AS STRING) AS split, CAST(NULL AS STRING) AS digit, "
            "CAST(NULL AS STRING) AS archive, CAST(0 AS BIGINT) AS members, CAST(0 AS BIGINT) AS rows_written, "
            "CAST(0 AS BIGINT) AS rows_rejected WHERE FALSE"
        )
    return (
        f"CREATE OR REPLACE VIEW {view} AS SELECT split, digit, archive, CAST(members AS BIGINT) AS members, "
        "CAST(rows_written AS BIGINT) AS rows_written, CAST(rows_rejected AS BIGINT) AS rows_rejected "
        f"FROM VALUES {', '.join(rows)} AS t(split, digit, archive, members, rows_written, rows_rejected)"
    )


def spark_statements(
    release_url: str,
    database: str | None = None,
    tables: Sequence[str] | None = None,
    archives: Sequence[FileReport] = (),
) -> list[str]:
    """Every table (or ``tables``) of the release at ``release_url`` (``file:/…``, ``s3a://…``) as Spark DDL.

    Then the view ``mask_archives`` from the release's file reports ``archives``, which ``mask_orphans`` reads.
    """
    schemas = all_schemas()
    unknown = sorted(set(tables or ()) - set(schemas))
    if unknown:
        raise OilakeError(f"unknown table(s) {', '.join(unknown)}; tables: {', '.join(schemas)}")
    statements = [f"CREATE DATABASE IF NOT EXISTS {_name(database)}"] if database else []
    base = release_url.rstrip("/")
    for name, schema in schemas.items():
        if tables is None or name in tables:
            statements += spark_table(schema, f"{base}/{name}", database)
    if tables is None:
        statements.append(spark_archives_view(archives, database))
    return statements


ENGINES: dict[str, Callable[..., list[str]]] = {"spark": spark_statements}


def ddl_script(
    engine: str,
    release_url: str,
    database: str | None = None,
    tables: Sequence[str] | None = None,
    archives: Sequence[FileReport] = (),
) -> str:
    """The statements for ``engine``, each ended by ``;`` and a blank line (a script for ``spark-sql -f``)."""
    if engine not in ENGINES:
        raise OilakeError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    statements = ENGINES[engine](release_url, database, tables, archives)
    return "".join(f"{statement};\n\n" for statement in statements)
