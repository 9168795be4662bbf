"""Incremental rebuilds: reuse the previous release's output for source files that did not change.

A source file is unchanged when its name and size match the previous build's
record and so does its ETag (remote sources that publish one) or else its md5
(hashed again here). Its Parquet output is then lent by the lake's store
(hard-linked locally, copied inside an object store: a build never modifies a
published release, so sharing files is safe), its report and its rejects are
carried over, and the manifest marks it ``reused_from``.
The rule is conservative: a different oilake version, a changed table schema,
or a changed overlap partner means the file is ingested again; so does a
published output that is no longer intact (unreadable Parquet footer, or a row
count other than the manifest's record): a note names it, and it is never lent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from pipeline.build.marts import QUERY_LAYER_KEY, MartDonor
from pipeline.build.plan import Plan, Planned
from pipeline.catalog.views import query_layer_digest
from pipeline.core.contract import FileReport
from pipeline.core.errors import LakeError
from pipeline.core.official import SPLITS
from pipeline.core.progress import log
from pipeline.core.schema import all_schemas, mart_schemas, table_schema
from pipeline.families.overlaps import OVERLAPS
from pipeline.families.selection import family_table
from pipeline.lake.manifest import tool_version
from pipeline.lake.store import Store
from pipeline.read.files import SourceFile
from pipeline.read.hashing import HASH_WORKERS
from pipeline.read.sources import COMPRESSED_SUFFIXES, Source
from pipeline.read.threads import ordered_map
from pipeline.write.parquet_writer import write_query

REUSED_REJECTS = "rejects/reused.parquet"


@dataclass
class Previous:
    """The current release, as a donor of unchanged outputs."""

    store: Store
    release_id: str
    reports: dict[str, FileReport]  # by official file name
    schemas: dict[str, str]
    rows: dict[str, int] = field(default_factory=dict)  # the manifest's record: rows of each file, by path

    def report_for(self, file: SourceFile) -> FileReport | None:
        return self.reports.get(file.official.name)

    def intact(self, relative: str) -> bool:
        """True when the published ``relative`` still reads as Parquet with the rows the manifest records.

        A damaged file (bytes overwritten, truncated) is never lent to a new release: a note names it,
        and the source file it came from is read again.
        """
        expected = self.rows.get(relative)
        try:
            found = self.store.parquet(self.release_id, relative).metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            problem = f"unreadable Parquet ({exc})"
        else:
            if expected is not None and found == expected:
                return True
            problem = f"{found} rows, the manifest records {expected}"
        log(f"note  {relative} of release {self.release_id} is damaged: {problem}; it is not reused")
        return False


def official_name(found: str) -> str:
    """The official name of a file found as ``found`` (which may carry a compression suffix)."""
    for suffix in COMPRESSED_SUFFIXES:
        found = found.removesuffix(suffix)
    return found


def load_previous(store: Store) -> Previous | None:
    """The current release when its output can be reused by this version of oilake."""
    release_id = store.current_id()
    if release_id is None:
        return None
    try:
        manifest = store.manifest(release_id)
    except LakeError:  # unreadable by this version: ingest everything again
        return None
    if manifest.tool.version != tool_version():
        return None
    reports = {official_name(report.file): report for report in manifest.sources}
    rows = {f.path: f.rows for entry in manifest.tables.values() for f in entry.files}
    return Previous(store=store, release_id=release_id, reports=reports, schemas=manifest.schemas, rows=rows)


def unchanged(previous: Previous, source: Source, file: SourceFile, table: str) -> FileReport | None:
    """The previous report of ``file`` when the file and its table's schema are unchanged, else None."""
    before = previous.report_for(file)
    if before is None or before.file != file.name or file.size is None or before.bytes != file.size:
        return None
    if previous.schemas.get(table) != table_schema(table).fingerprint:
        return None
    if before.output is not None and not previous.store.has_file(previous.release_id, before.output):
        return None
    if before.output is not None and before.split is not None and not previous.intact(before.output):
        return None
    if file.etag and before.etag:
        return before if file.etag == before.etag else None
    with source.open(file) as opened:
        md5 = opened.finish()
    return before if md5 == before.md5 else None


def link_into(previous: Previous, relative: str, staging: Path) -> None:
    """Put one previous output file into ``staging`` (lent by the store: a hard link, or a copy)."""
    previous.store.lend(previous.release_id, relative, staging)


def unpartitioned_outputs(previous: Previous) -> list[str]:
    """Every file of the previous release's unpartitioned tables (metadata; marts are always rebuilt)."""
    files = []
    for name, schema in all_schemas().items():
        if name == "rejects" or schema.partition_by or schema.is_mart:
            continue
        files += previous.store.files(previous.release_id, name)
    return files


def carry_rejects(previous: Previous, files: list[str], staging: Path) -> int:
    """Copy the previous release's rejects of the reused ``files`` into ``staging``; returns their count."""
    store, release_id = previous.store, previous.release_id
    sources = [store.local_copy(release_id, path) for path in store.files(release_id, "rejects")] if files else []
    if not sources:
        return 0
    target = staging / REUSED_REJECTS
    written = write_query(
        target,
        table_schema("rejects"),
        "select * from read_parquet($sources) where source_file in (select unnest($files))",
        {"sources": [str(p) for p in sources], "files": files},
        temp_dir=staging,
    )
    if written == 0:
        target.unlink()
    return written


def reusable_files(source: Source, plan: Plan, previous: Previous | None) -> dict[int, FileReport]:
    """Planned files (by ``id``) whose previous output can be reused, with their previous reports.

    Metadata files (no split) are reused all together or not at all, since they feed shared
    tables; a ``-boxable`` subset only when its full file is reused too (its output was
    deduplicated against it).
    """
    if previous is None:
        return {}
    if not all(previous.intact(path) for path in previous.store.files(previous.release_id, "rejects")):
        return {}  # the reused files' rejects could not be carried over

    def check(planned: Planned) -> FileReport | None:
        return unchanged(previous, source, planned.file, family_table(planned.file.official.family))

    # md5 of every candidate's bytes, two files at once: hashlib releases the GIL, so both cores hash
    found = {}
    for planned, before in zip(plan.files, ordered_map(check, iter(plan.files), HASH_WORKERS), strict=True):
        if before is not None:
            found[id(planned)] = before
    small = [p for p in plan.files if p.file.official.split is None]
    previous_small = {name for name, r in previous.reports.items() if r.split is None}
    planned_small = {p.file.official.name for p in small}
    if (
        any(id(p) not in found for p in small)
        or planned_small != previous_small
        or not all(previous.intact(path) for path in unpartitioned_outputs(previous))
    ):
        for planned in small:
            found.pop(id(planned), None)
    by_family = {(p.file.official.family, p.file.official.split): p for p in plan.files}
    for subset, superset, _table, _keys in OVERLAPS:
        for split in SPLITS:
            sub, sup = by_family.get((subset, split)), by_family.get((superset, split))
            was_deduplicated = any(r.family == superset and r.split == split for r in previous.reports.values())
            if sub is not None and (id(sup) not in found if sup is not None else was_deduplicated):
                found.pop(id(sub), None)
    return found


def small_reused(plan: Plan, reused: dict[int, FileReport]) -> bool:
    small = [p for p in plan.files if p.file.official.split is None]
    return bool(small) and all(id(p) in reused for p in small)


def reuse_report(previous: Previous, before: FileReport, staging: Path) -> FileReport:
    report = replace(before, reused_from=previous.release_id, seconds=0.0)
    if report.output is not None and report.split is not None:
        link_into(previous, report.output, staging)
    return report


def unchanged_splits(plan: Plan, reused: dict[int, FileReport], previous: Previous | None) -> tuple[str, ...]:
    """The splits whose inputs are all the previous release's: the same source files, every one reused.

    The unpartitioned files (classes, hierarchy, ...) must all be reused too, since every mart joins
    them; a split with a file added, removed or changed since the previous build is not unchanged.
    """
    if previous is None:
        return ()
    small = [p for p in plan.files if p.file.official.split is None]
    previous_small = {name for name, r in previous.reports.items() if r.split is None}
    if any(id(p) not in reused for p in small) or {p.file.official.name for p in small} != previous_small:
        return ()
    splits = []
    for split in SPLITS:
        planned = [p for p in plan.files if p.file.official.split == split]
        before = {name for name, r in previous.reports.items() if r.split == split}
        if all(id(p) in reused for p in planned) and {p.file.official.name for p in planned} == before:
            splits.append(split)
    return tuple(splits)


def mart_donor(previous: Previous | None, splits: tuple[str, ...]) -> MartDonor | None:
    """The previous release's split-local marts to keep the rows of ``splits`` from, or None.

    A mart file is lent only when its schema is unchanged, it is intact (footer readable, the
    manifest's row count), and its footer records the digest of this query layer.
    """
    if previous is None or not splits:
        return None
    digest = query_layer_digest()
    files = {}
    for schema in mart_schemas():
        paths = previous.store.files(previous.release_id, schema.table) if schema.split_local else []
        if len(paths) != 1 or previous.schemas.get(schema.table) != schema.fingerprint:
            continue
        try:
            metadata = previous.store.parquet(previous.release_id, paths[0]).schema_arrow.metadata or {}
        except (OSError, pa.ArrowException):
            metadata = {}
        if metadata.get(QUERY_LAYER_KEY.encode()) != digest.encode() or not previous.intact(paths[0]):
            continue
        files[schema.table] = previous.store.local_copy(previous.release_id, paths[0])
    return MartDonor(release_id=previous.release_id, splits=splits, files=files) if files else None
