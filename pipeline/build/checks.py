"""Checks before publishing: reconciliation, the schema contract per Parquet file, rejects, the catalog."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipeline.core.contract import FileReport, Manifest
from pipeline.core.errors import ReconciliationError, RejectLimitError, SchemaError
from pipeline.core.layout import named_digest, table_files
from pipeline.core.schema import all_schemas


def check_staged(
    staging: Path, reports: list[FileReport], rejected: int, examples: list[str], max_rejects: int
) -> None:
    """Reconcile every file, check every Parquet file against its schema, apply ``--max-rejects``."""
    for report in reports:
        if not report.reconciles:
            raise ReconciliationError(
                f"{report.file}: counts do not reconcile: read {report.rows_read} != written {report.rows_written}"
                f" + rejected {report.rows_rejected} + duplicate {report.rows_duplicate}; nothing was published"
            )
    for name, schema in all_schemas().items():
        files = table_files(staging, name)
        if not files:
            raise SchemaError(f"{name}: no Parquet file (every table has one, zero rows if no source fed it)")
        for path in files:
            if named_digest(path.name) is None:
                raise SchemaError(f"{path.relative_to(staging)}: the name carries no digest of its bytes")
            written = pq.read_schema(path).remove_metadata()
            if not written.equals(schema.arrow):
                raise SchemaError(f"{path.relative_to(staging)} does not match schemas/{name}.toml")
    if rejected > max_rejects:
        raise RejectLimitError(rejected, max_rejects, examples)


def check_catalog(con: duckdb.DuckDBPyConnection, manifest: Manifest, where: str = "catalog") -> None:
    """Every table view of the release's catalog (``con``) counts the rows the manifest records."""
    for name, entry in manifest.tables.items():
        counted = con.execute(f'select count(*) from "{name}"').fetchall()[0][0]
        if counted != entry.rows:
            raise ReconciliationError(
                f"{where} view {name} counts {counted} rows, the manifest {entry.rows}; nothing was published"
            )
