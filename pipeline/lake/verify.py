"""``oilake verify``: re-check a published release against its manifest.

Every difference is reported (not just the first): files missing or unlisted,
row counts, schemas and their fingerprints, per-file reconciliation, the
rejects count, the catalog's views, and optionally the sources' bytes and md5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.catalog.views import CATALOG
from pipeline.core.contract import FileReport, Manifest
from pipeline.core.errors import OilakeError
from pipeline.core.official import official_files
from pipeline.core.schema import all_schemas
from pipeline.lake.store import Store, open_store
from pipeline.read.files import SourceFile
from pipeline.read.sources import Source


@dataclass
class Verification:
    """What ``verify_lake`` checked and every problem it found."""

    release: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_lake(
    lake: Path | str,
    release_id: str | None = None,
    rehash: bool = False,
    source: str | None = None,
    storage_options: dict[str, str] | None = None,
    lake_storage_options: dict[str, Any] | None = None,
) -> Verification:
    """Check the current (or the named) release of ``lake`` (a folder or an object-store URL) against its manifest.

    ``storage_options`` are for the sources (``rehash``), ``lake_storage_options`` for a lake on object storage.
    """
    store = open_store(lake, lake_storage_options)
    release_id = release_id or store.require_current()
    manifest = store.manifest(release_id)
    result = Verification(release=release_id)
    _check_tables(store, release_id, manifest, result)
    _check_reconciliation(store, release_id, manifest, result)
    _check_catalog(store, release_id, manifest, result)
    if rehash:
        _check_sources(source or manifest.source, storage_options, manifest.sources, result)
    return result


def _check_tables(store: Store, release_id: str, manifest: Manifest, result: Verification) -> None:
    for name, schema in all_schemas().items():
        fingerprint = manifest.schemas.get(name)
        if fingerprint != schema.fingerprint:
            result.problems.append(
                f"{name}: built with a different schema (fingerprint {fingerprint}, "
                f"schemas/{name}.toml is now {schema.fingerprint}); rebuild with --full"
            )
        entry = manifest.tables.get(name)
        listed = {f.path: f.rows for f in entry.files} if entry else {}
        present = set(store.files(release_id, name))
        for path in sorted(set(listed) - present):
            result.problems.append(f"{path}: listed in the manifest but missing")
        for path in sorted(present - set(listed)):
            result.problems.append(f"{path}: present but not listed in the manifest")
        for path in sorted(set(listed) & present):
            try:
                parquet = store.parquet(release_id, path)
            except (OSError, pa.ArrowException) as exc:  # ArrowInvalid: not Parquet (bad magic, torn footer)
                result.problems.append(f"{path}: unreadable Parquet: {exc}")
                continue
            if parquet.metadata.num_rows != listed[path]:
                result.problems.append(f"{path}: {parquet.metadata.num_rows} rows, the manifest says {listed[path]}")
            if not parquet.schema_arrow.remove_metadata().equals(schema.arrow):
                result.problems.append(f"{path}: schema differs from schemas/{name}.toml")
        result.checked.append(f"{name}: {len(listed)} file(s), rows and schema")


def _check_reconciliation(store: Store, release_id: str, manifest: Manifest, result: Verification) -> None:
    reports = manifest.sources
    for report in reports:
        if not report.reconciles:
            result.problems.append(
                f"{report.file}: read {report.rows_read} != written {report.rows_written} + rejected "
                f"{report.rows_rejected} + duplicate {report.rows_duplicate}"
            )
        if report.split is not None and report.output is not None and store.has_file(release_id, report.output):
            try:
                rows = store.parquet(release_id, report.output).metadata.num_rows
            except (OSError, pa.ArrowException):
                continue  # reported by _check_tables as unreadable
            if rows != report.rows_written:
                result.problems.append(f"{report.output}: {rows} rows, but {report.file} wrote {report.rows_written}")
    rejected = sum(r.rows_rejected for r in reports)
    recorded = manifest.tables["rejects"].rows if "rejects" in manifest.tables else 0
    if recorded != rejected:
        result.problems.append(f"rejects: {recorded} rows, the sources rejected {rejected}")
    result.checked.append(f"{len(reports)} source file(s) reconcile")


def _check_catalog(store: Store, release_id: str, manifest: Manifest, result: Verification) -> None:
    try:
        con = store.connect(release_id)
    except duckdb.Error as exc:
        result.problems.append(f"{CATALOG}: cannot be opened: {str(exc).strip()}")
        return
    try:
        for name, entry in manifest.tables.items():
            try:
                counted = con.execute(f'select count(*) from "{name}"').fetchall()[0][0]
            except duckdb.Error as exc:
                result.problems.append(f"{CATALOG}: view {name} fails: {str(exc).strip().splitlines()[0]}")
                continue
            if counted != entry.rows:
                result.problems.append(f"{CATALOG}: {name} counts {counted} rows, the manifest {entry.rows}")
    finally:
        con.close()
    result.checked.append(f"{CATALOG}: every table view opens and counts its rows")


def _check_sources(
    uri: str, storage_options: dict[str, str] | None, reports: list[FileReport], result: Verification
) -> None:
    try:
        source = Source(uri, storage_options)
    except OilakeError as exc:
        result.problems.append(f"sources: {exc} (pass --source where they are now)")
        return
    officials = {o.name: o for o in official_files()}
    for report in reports:
        name = report.file.removesuffix(".gz")
        try:
            file = source.find(officials[name]) if name in officials else None
        except OilakeError as exc:
            result.problems.append(f"{report.file}: cannot be looked up in {source.display_uri}: {exc}")
            continue
        if file is None or file.name != report.file:
            result.problems.append(f"{report.file}: not found in {source.display_uri} (pass --source where it is now)")
            continue
        try:
            md5, size = _hash(source, file)
        except OilakeError as exc:
            result.problems.append(f"{report.file}: cannot be re-read: {exc}")
            continue
        if size != report.bytes or md5 != report.md5:
            result.problems.append(
                f"{report.file}: changed since the build ({size} bytes, md5 {md5}; built from "
                f"{report.bytes} bytes, md5 {report.md5}); rebuild to pick it up"
            )
    result.checked.append(f"{len(reports)} source file(s) re-hashed")


def _hash(source: Source, file: SourceFile) -> tuple[str, int]:
    with source.open(file) as opened:
        md5 = opened.finish()
        return md5, opened.hashed.bytes_read
