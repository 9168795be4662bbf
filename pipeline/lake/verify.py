"""``oilake verify``: re-check a published release against its manifest.

Every difference is reported (not just the first): files missing or unlisted,
row counts, schemas and their fingerprints, per-file reconciliation, the
rejects count, the catalog's views, and optionally the sources' bytes and md5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipeline.catalog.views import CATALOG
from pipeline.core.errors import LakeError, OilakeError
from pipeline.core.official import official_files
from pipeline.core.schema import all_schemas
from pipeline.lake.local import LakeLayout
from pipeline.lake.manifest import MANIFEST, read_manifest
from pipeline.read.sources import Source, SourceFile
from pipeline.write.ingest import FileReport


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
    lake: Path,
    release_id: str | None = None,
    rehash: bool = False,
    source: str | None = None,
    storage_options: dict[str, str] | None = None,
) -> Verification:
    """Check the current (or the named) release of ``lake`` against its manifest."""
    layout = LakeLayout(lake.resolve())
    release_id = release_id or layout.current_id()
    if release_id is None:
        raise LakeError(f"{lake} has no published release (no {layout.current.name} link); is it an oilake lake?")
    release = layout.releases / release_id
    if not (release / MANIFEST).is_file():
        raise LakeError(f"release {release_id} has no {MANIFEST} in {layout.releases}")
    manifest = read_manifest(release)
    result = Verification(release=release_id)
    reports = [FileReport(**_known(entry)) for entry in manifest["sources"]]  # type: ignore[union-attr]
    _check_tables(release, manifest, result)
    _check_reconciliation(release, reports, manifest, result)
    _check_catalog(release, manifest, result)
    if rehash:
        _check_sources(source or str(manifest["source"]), storage_options, reports, result)
    return result


def _known(entry: dict[str, object]) -> dict[str, object]:
    fields = set(FileReport.__dataclass_fields__)
    return {k: v for k, v in entry.items() if k in fields}


def _check_tables(release: Path, manifest: dict[str, object], result: Verification) -> None:
    tables = manifest["tables"]
    fingerprints = manifest["schemas"]
    assert isinstance(tables, dict) and isinstance(fingerprints, dict)
    for name, schema in all_schemas().items():
        if fingerprints.get(name) != schema.fingerprint:
            result.problems.append(
                f"{name}: built with a different schema (fingerprint {fingerprints.get(name)}, "
                f"schemas/{name}.toml is now {schema.fingerprint}); rebuild with --full"
            )
        listed = {f["path"]: f["rows"] for f in tables.get(name, {}).get("files", [])}
        folder = release / name
        present = {p.relative_to(release).as_posix() for p in folder.rglob("*.parquet")} if folder.is_dir() else set()
        for path in sorted(set(listed) - present):
            result.problems.append(f"{path}: listed in the manifest but missing")
        for path in sorted(present - set(listed)):
            result.problems.append(f"{path}: present but not listed in the manifest")
        for path in sorted(set(listed) & present):
            try:
                parquet = pq.ParquetFile(release / path)
            except OSError as exc:
                result.problems.append(f"{path}: unreadable Parquet: {exc}")
                continue
            if parquet.metadata.num_rows != listed[path]:
                result.problems.append(f"{path}: {parquet.metadata.num_rows} rows, the manifest says {listed[path]}")
            if not parquet.schema_arrow.remove_metadata().equals(schema.arrow):
                result.problems.append(f"{path}: schema differs from schemas/{name}.toml")
        result.checked.append(f"{name}: {len(listed)} file(s), rows and schema")


def _check_reconciliation(
    release: Path, reports: list[FileReport], manifest: dict[str, object], result: Verification
) -> None:
    for report in reports:
        if not report.reconciles:
            result.problems.append(
                f"{report.file}: read {report.rows_read} != written {report.rows_written} + rejected "
                f"{report.rows_rejected} + duplicate {report.rows_duplicate}"
            )
        if report.split is not None and report.output is not None and (release / report.output).is_file():
            rows = pq.ParquetFile(release / report.output).metadata.num_rows
            if rows != report.rows_written:
                result.problems.append(f"{report.output}: {rows} rows, but {report.file} wrote {report.rows_written}")
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    rejected = sum(r.rows_rejected for r in reports)
    if tables["rejects"]["rows"] != rejected:
        result.problems.append(f"rejects: {tables['rejects']['rows']} rows, the sources rejected {rejected}")
    result.checked.append(f"{len(reports)} source file(s) reconcile")


def _check_catalog(release: Path, manifest: dict[str, object], result: Verification) -> None:
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    try:
        con = duckdb.connect(str(release / CATALOG), read_only=True)
    except duckdb.Error as exc:
        result.problems.append(f"{CATALOG}: cannot be opened: {str(exc).strip()}")
        return
    try:
        for name, info in tables.items():
            try:
                counted = con.execute(f'select count(*) from "{name}"').fetchall()[0][0]
            except duckdb.Error as exc:
                result.problems.append(f"{CATALOG}: view {name} fails: {str(exc).strip().splitlines()[0]}")
                continue
            if counted != info["rows"]:
                result.problems.append(f"{CATALOG}: {name} counts {counted} rows, the manifest {info['rows']}")
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
