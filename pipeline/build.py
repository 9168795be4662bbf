"""Build a lake: plan (check every header first), ingest, reconcile, validate, publish."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import dimensions
from pipeline.catalog import CATALOG, write_catalog
from pipeline.csv_reader import check_header
from pipeline.errors import InputFormatError, OilakeError, ReconciliationError, RejectLimitError, SchemaError
from pipeline.families import Family, family_specs
from pipeline.hierarchy import Hierarchy, parse_hierarchy
from pipeline.ingest import FileReport, ingest_to_parquet, read_small
from pipeline.lock import lake_lock
from pipeline.manifest import Manifest
from pipeline.marts import materialize_marts
from pipeline.mid_check import unknown_mids
from pipeline.official import SPLITS, official_files
from pipeline.overlap import OVERLAPS, remove_overlap
from pipeline.parquet_writer import PartWriter
from pipeline.progress import log
from pipeline.rejects import RejectSink
from pipeline.releases import DEFAULT_KEEP, LakeLayout
from pipeline.remote_lake import build_remote_lake, is_remote
from pipeline.reuse import Previous, carry_rejects, link_into, load_previous, unchanged, unpartitioned_outputs
from pipeline.schema import all_schemas, table_schema
from pipeline.sources import Source, SourceFile

HIERARCHY = "hierarchy"  # the one family parsed whole, not row by row


def sample_dir() -> Path:
    """The bundled sample of every family, shipped inside the package."""
    return Path(__file__).resolve().parent / "sample"


class SelectionError(OilakeError):
    """``--only`` or ``--splits`` names something that does not exist."""


@dataclass
class BuildOptions:
    """What to build, from where, into where."""

    source: str
    lake: Path | str  # a folder, or an object-store URL such as s3://bucket/prefix
    only: Sequence[str] | None = None
    splits: Sequence[str] | None = None
    max_rejects: int = 0
    storage_options: dict[str, str] | None = None
    full: bool = False  # ingest every file again, even those unchanged since the current release
    keep: int = DEFAULT_KEEP  # releases kept after publishing, the new one included
    lake_storage_options: dict[str, str] | None = None  # fsspec options for a lake on object storage
    work: Path | None = None  # local scratch folder for a lake on object storage (default: the system temp)

    def recorded(self) -> dict[str, object]:
        """The options worth recording in the manifest (storage options may hold secrets: only their keys)."""
        return {
            "only": list(self.only) if self.only else None,
            "splits": list(self.splits) if self.splits else None,
            "max_rejects": self.max_rejects,
            "full": self.full,
            "keep": self.keep,
            "storage_option_keys": sorted(self.storage_options or {}),
        }


@dataclass
class Planned:
    """A source file that will be ingested, with its checked header."""

    file: SourceFile
    spec: Family | None  # None only for the hierarchy JSON
    header: list[str] | None = None
    hierarchy: Hierarchy | None = None
    md5: str = ""


@dataclass
class Plan:
    files: list[Planned] = field(default_factory=list)
    skipped: list[dict[str, str | None]] = field(default_factory=list)


def family_table(family: str) -> str:
    """The lake table a family feeds."""
    specs = family_specs()
    return specs[family].table if family in specs else HIERARCHY


def select_families(only: Sequence[str] | None) -> set[str]:
    """Family names selected by ``--only`` (family or table names); all when None."""
    every = {f.family for f in official_files()}
    if not only:
        return every
    chosen: set[str] = set()
    for name in only:
        by_table = {f for f in every if family_table(f) == name}
        if by_table:
            chosen |= by_table
        elif name in every:
            chosen.add(name)
        else:
            known = ", ".join(sorted(every | {family_table(f) for f in every}))
            raise SelectionError(f"--only: unknown family or table {name!r}; known: {known}")
    return chosen


def select_splits(splits: Sequence[str] | None) -> set[str]:
    if not splits:
        return set(SPLITS)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise SelectionError(f"--splits: unknown split(s) {', '.join(unknown)}; known: {', '.join(SPLITS)}")
    return set(splits)


def plan_build(source: Source, options: BuildOptions) -> Plan:
    """Find the selected files and check every header before any work is done."""
    families = select_families(options.only)
    splits = select_splits(options.splits)
    specs = family_specs()
    plan = Plan()
    for official in official_files():
        if official.family not in families or (official.split and official.split not in splits):
            continue
        found = source.find(official)
        if found is None:
            plan.skipped.append({"family": official.family, "split": official.split, "file": official.name})
            continue
        planned = Planned(file=found, spec=specs.get(official.family))
        if planned.spec is not None and planned.spec.has_header:
            planned.header = check_header(found.name, source.read_head(found), [list(h) for h in planned.spec.headers])
        elif official.family == HIERARCHY:
            try:
                with source.open(found) as opened:
                    data = opened.read_all()
                    planned.md5 = opened.finish()
            except (OSError, EOFError, pa.ArrowInvalid) as exc:
                raise InputFormatError(f"{found.name}: cannot be read: {exc}") from exc
            planned.hierarchy = parse_hierarchy(found.name, data)
        plan.files.append(planned)
    return plan


def build_lake(options: BuildOptions) -> dict[str, object]:
    """Build the lake described by ``options`` and publish it as a new release; returns the manifest.

    Every header is checked before the lake is touched. The release is written under
    ``LAKE/.staging``, reconciled and validated, moved into ``LAKE/releases`` and only then
    made current (see ``pipeline.releases``); a failure or a kill at any point leaves the
    published lake as it was.
    """
    if is_remote(options.lake):
        return build_remote_lake(options, build_lake)
    layout = LakeLayout(Path(options.lake).resolve())
    layout.check_writable()
    source = Source(options.source, options.storage_options)
    plan = plan_build(source, options)
    for skipped in plan.skipped:
        split = f" ({skipped['split']})" if skipped["split"] else ""
        log(f"skip  {skipped['family']}{split}: {skipped['file']} not in the source")
    if not plan.files:
        raise OilakeError(f"no official Open Images file found in {options.source!r} for this selection")
    created = not layout.root.exists()
    layout.root.mkdir(parents=True, exist_ok=True)
    try:
        with lake_lock(layout.root, "build"):
            return _build_release(layout, source, plan, options)
    finally:
        if created and not layout.is_lake():
            shutil.rmtree(layout.root, ignore_errors=True)  # a first build that failed leaves nothing


def _build_release(layout: LakeLayout, source: Source, plan: Plan, options: BuildOptions) -> dict[str, object]:
    for leftover in layout.clean_leftovers():
        log(f"clean {leftover} (left by a build that did not finish)")
    previous = None if options.full else load_previous(layout.current_release())
    release_id = layout.new_release_id()
    staging = layout.new_staging(release_id)
    try:
        manifest = _build_into(staging, source, plan, options, release_id, previous)
        pause_point("staged")
        release = layout.promote(staging, release_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            layout.staging.rmdir()
        raise
    try:
        write_catalog(release)
        _check_catalog(release, manifest)
    except BaseException:
        shutil.rmtree(release, ignore_errors=True)
        raise
    pause_point("released")
    layout.publish(release_id)
    pause_point("published")
    for removed in layout.prune(options.keep):
        log(f"prune release {removed} (--keep {options.keep})")
    log(f"publish release {release_id}")
    return manifest


def pause_point(stage: str) -> None:
    """Fault injection for the crash tests: stop here when ``OILAKE_PAUSE_AT`` names this stage.

    The build writes its pid to ``OILAKE_PAUSE_FILE`` and sleeps, so a test can kill it
    with SIGKILL at a known stage. Does nothing unless both variables are set.
    """
    if os.environ.get("OILAKE_PAUSE_AT") != stage or not os.environ.get("OILAKE_PAUSE_FILE"):
        return
    Path(os.environ["OILAKE_PAUSE_FILE"]).write_text(f"{os.getpid()} {stage}\n")
    time.sleep(600)


def _build_into(
    staging: Path, source: Source, plan: Plan, options: BuildOptions, release_id: str, previous: Previous | None
) -> dict[str, object]:
    manifest = Manifest(
        source=source.display_uri,
        release=release_id,
        skipped=plan.skipped,
        options=options.recorded(),
    )
    rejects = RejectSink(staging / "rejects" / "rejects.parquet")
    reused = _reusable(source, plan, previous)
    small: dict[str, list[tuple[pl.DataFrame, FileReport]]] = {}
    hierarchy: Hierarchy | None = None
    for planned in plan.files:
        family = planned.file.official.family
        if previous is not None and (before := reused.get(id(planned))) is not None:
            report = _reuse(previous, before, staging)
        elif planned.hierarchy is not None:
            report = _write_hierarchy(staging, planned)
            hierarchy = planned.hierarchy
        elif planned.spec is None:
            raise OilakeError(f"{planned.file.name}: no reader for family {family!r}")  # pragma: no cover
        elif planned.file.official.split is None:
            frame, report = read_small(source, planned.file, planned.spec, planned.header, rejects)
            small.setdefault(family, []).append((frame, report))
        else:
            report = ingest_to_parquet(source, planned.file, planned.spec, planned.header, staging, rejects)
            pause_point("ingest")
        report.etag = planned.file.etag
        manifest.files.append(report)
        _log_report(report)
    rejects.close()
    if previous is not None and reused:
        for output in unpartitioned_outputs(previous) if _small_reused(plan, reused) else []:
            link_into(previous, output, staging)
        carried = carry_rejects(previous, [r.file for r in manifest.files if r.reused_from], staging)
    else:
        carried = 0
    classes = _write_small_tables(staging, small)
    if hierarchy is not None:
        _write_class_graph(staging, hierarchy, classes)
    _remove_overlaps(staging, [r for r in manifest.files if not r.reused_from], manifest.files)
    started = time.monotonic()
    marts = materialize_marts(staging)
    counts = ", ".join(f"{name} {rows:,}" for name, rows in marts.items())
    log(f"marts {counts} rows ({time.monotonic() - started:.1f}s)")
    _check(staging, manifest.files, rejects.count + carried, rejects.examples, options.max_rejects)
    manifest.unknown_mids = unknown_mids(staging)
    for kind, found in manifest.unknown_mids.items():
        if found["count"]:
            examples = ", ".join(found["examples"])
            log(
                f"note  {found['count']} MID(s) used in the data have no name in {kind} "
                f"(e.g. {examples}); their rows are kept, with NULL names"
            )
    return manifest.write(staging)


def _reusable(source: Source, plan: Plan, previous: Previous | None) -> dict[int, FileReport]:
    """Planned files (by ``id``) whose previous output can be reused, with their previous reports.

    Metadata files (no split) are reused all together or not at all, since they feed shared
    tables; a ``-boxable`` subset only when its full file is reused too (its output was
    deduplicated against it).
    """
    if previous is None:
        return {}
    found = {}
    for planned in plan.files:
        table = family_table(planned.file.official.family)
        before = unchanged(previous, source, planned.file, table)
        if before is not None:
            found[id(planned)] = before
    small = [p for p in plan.files if p.file.official.split is None]
    previous_small = {name for name, r in previous.reports.items() if r.split is None}
    planned_small = {p.file.official.name for p in small}
    if any(id(p) not in found for p in small) or planned_small != previous_small:
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


def _small_reused(plan: Plan, reused: dict[int, FileReport]) -> bool:
    small = [p for p in plan.files if p.file.official.split is None]
    return bool(small) and all(id(p) in reused for p in small)


def _reuse(previous: Previous, before: FileReport, staging: Path) -> FileReport:
    report = FileReport(**before.to_dict())
    report.reused_from = previous.release_id
    report.seconds = 0.0
    if report.output is not None and report.split is not None:
        link_into(previous, report.output, staging)
    return report


def _log_report(report: FileReport) -> None:
    split = f"/{report.split}" if report.split else ""
    if report.reused_from:
        log(f"reuse {report.table}{split} ← {report.file}: unchanged since release {report.reused_from}")
        return
    extra = f", {report.rows_rejected:,} rejected" if report.rows_rejected else ""
    log(f"read  {report.table}{split} ← {report.file}: {report.rows_read:,} rows{extra} ({report.seconds:.1f}s)")


def _write_hierarchy(staging: Path, planned: Planned) -> FileReport:
    assert planned.hierarchy is not None
    hierarchy = planned.hierarchy
    frame = dimensions.hierarchy_frame(hierarchy)
    _write_table(staging, "hierarchy", frame)
    file = planned.file
    return FileReport(
        family=file.official.family, split=None, file=file.name, table="hierarchy", path=file.display_path,
        bytes=file.size or 0, md5=planned.md5, rows_read=hierarchy.edge_occurrences, rows_written=frame.height,
        rows_duplicate=hierarchy.edge_occurrences - frame.height, output="hierarchy/hierarchy.parquet",
    )  # fmt: skip


def _write_table(staging: Path, table: str, frame: pl.DataFrame) -> None:
    schema = table_schema(table)
    if schema.sort_by:
        frame = frame.sort(list(schema.sort_by), maintain_order=True)
    writer = PartWriter(staging / table / f"{table}.parquet", schema)
    writer.write(frame.to_arrow())
    writer.close()


def _write_class_graph(staging: Path, hierarchy: Hierarchy, classes: pl.DataFrame | None) -> None:
    """``class_ancestors``, ``class_parts`` and ``class_paths`` from the hierarchy edges."""
    names = {dimensions.ROOT_MID: dimensions.ROOT_NAME}
    if classes is not None:
        names |= {m: n for m, n in classes.select("label_mid", "display_name").iter_rows() if n is not None}
    for table, frame in dimensions.class_graph_frames(hierarchy, names).items():
        _write_table(staging, table, frame)


def _write_small_tables(staging: Path, small: dict[str, list[tuple[pl.DataFrame, FileReport]]]) -> pl.DataFrame | None:
    """Write the metadata tables; returns ``classes`` when any class file was read."""
    class_families = {"classes", *dimensions.LIST_FLAGS}
    classes = None
    lists = {
        family: pl.concat([frame for frame, _ in parts]) for family, parts in small.items() if family in class_families
    }
    if lists:
        classes = dimensions.build_classes(lists)
        _write_table(staging, "classes", classes)
        for family in lists:
            for part, report in small[family]:
                report.rows_written = part.get_column("label_mid").n_unique()
                report.rows_duplicate = part.height - report.rows_written
                report.output = "classes/classes.parquet"
    for family, parts in small.items():
        if family in class_families:
            continue
        table = parts[0][1].table
        frame = pl.concat([frame for frame, _ in parts])
        _write_table(staging, table, frame)
        for part, report in parts:
            report.rows_written = part.height
            report.output = f"{table}/{table}.parquet"
    return classes


def _remove_overlaps(staging: Path, fresh: list[FileReport], reports: list[FileReport]) -> None:
    """Remove from each freshly ingested ``-boxable`` subset the rows its full file holds."""
    by_key = {(r.family, r.split): r for r in reports}
    fresh_ids = {id(r) for r in fresh}
    for subset_family, superset_family, table, keys in OVERLAPS:
        for split in SPLITS:
            subset, superset = by_key.get((subset_family, split)), by_key.get((superset_family, split))
            if subset is None or superset is None or subset.output is None or superset.output is None:
                continue
            if id(subset) not in fresh_ids:
                continue  # reused: deduplicated when it was built
            removed = remove_overlap(staging / subset.output, staging / superset.output, table, keys, staging)
            subset.rows_duplicate += removed
            subset.rows_written -= removed
            log(f"dedup {table}/{split}: {removed:,} rows of {subset.file} already in {superset.file}")
            if subset.rows_written == 0:
                (staging / subset.output).unlink()
                subset.output = None


def _check(staging: Path, reports: list[FileReport], rejected: int, examples: list[str], max_rejects: int) -> None:
    """Reconcile every file, check every Parquet file against its schema, apply ``--max-rejects``."""
    for report in reports:
        if not report.reconciles:
            raise ReconciliationError(
                f"{report.file}: counts do not reconcile: read {report.rows_read} != written {report.rows_written}"
                f" + rejected {report.rows_rejected} + duplicate {report.rows_duplicate}; nothing was published"
            )
    for name, schema in all_schemas().items():
        for path in sorted((staging / name).rglob("*.parquet")) if (staging / name).is_dir() else []:
            written = pq.read_schema(path).remove_metadata()
            if not written.equals(schema.arrow):
                raise SchemaError(f"{path.relative_to(staging)} does not match schemas/{name}.toml")
    if rejected > max_rejects:
        raise RejectLimitError(rejected, max_rejects, examples)


def _check_catalog(release: Path, manifest: dict[str, object]) -> None:
    """The release's catalog opens and every table view counts the rows the manifest records."""
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    con = duckdb.connect(str(release / CATALOG), read_only=True)
    try:
        for name, info in tables.items():
            counted = con.execute(f'select count(*) from "{name}"').fetchall()[0][0]
            if counted != info["rows"]:
                raise ReconciliationError(
                    f"catalog view {name} counts {counted} rows, the manifest {info['rows']}; nothing was published"
                )
    finally:
        con.close()
