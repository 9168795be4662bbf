"""Build a lake: plan, ingest, reconcile, validate, publish (the steps in order)."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import polars as pl

from pipeline.build.checks import check_catalog, check_staged
from pipeline.build.faults import pause_point
from pipeline.build.marts import materialize_marts
from pipeline.build.overlap import remove_overlaps
from pipeline.build.plan import BuildOptions, Plan, plan_build
from pipeline.build.reuse import Previous, carry_rejects, link_into, load_previous, reusable_files, reuse_report, small_reused, unpartitioned_outputs
from pipeline.build.small_tables import write_class_graph, write_hierarchy, write_small_tables
from pipeline.catalog.views import write_catalog
from pipeline.core.errors import OilakeError
from pipeline.core.progress import log
from pipeline.families.hierarchy import Hierarchy
from pipeline.families.mid_check import unknown_mids
from pipeline.lake.local import LakeLayout
from pipeline.lake.lock import lake_lock
from pipeline.lake.manifest import Manifest
from pipeline.lake.remote import build_remote_lake, is_remote
from pipeline.read.sources import Source
from pipeline.write.ingest import FileReport, ingest_to_parquet, read_small
from pipeline.write.rejects import RejectSink

__all__ = ["BuildOptions", "build_lake", "pause_point"]

def build_lake(options: BuildOptions) -> dict[str, object]:
    """Build the lake described by ``options`` and publish it as a new release; returns the manifest.

    Every header is checked before the lake is touched. The release is written under
    ``LAKE/.staging``, reconciled and validated, moved into ``LAKE/releases`` and only then
    made current (see ``pipeline.lake.local``); a failure or a kill at any point leaves the
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
        check_catalog(release, manifest)
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
    reused = reusable_files(source, plan, previous)
    small: dict[str, list[tuple[pl.DataFrame, FileReport]]] = {}
    hierarchy: Hierarchy | None = None
    for planned in plan.files:
        family = planned.file.official.family
        if previous is not None and (before := reused.get(id(planned))) is not None:
            report = reuse_report(previous, before, staging)
        elif planned.hierarchy is not None:
            report = write_hierarchy(staging, planned)
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
        for output in unpartitioned_outputs(previous) if small_reused(plan, reused) else []:
            link_into(previous, output, staging)
        carried = carry_rejects(previous, [r.file for r in manifest.files if r.reused_from], staging)
    else:
        carried = 0
    classes = write_small_tables(staging, small)
    if hierarchy is not None:
        write_class_graph(staging, hierarchy, classes)
    remove_overlaps(staging, [r for r in manifest.files if not r.reused_from], manifest.files)
    started = time.monotonic()
    marts = materialize_marts(staging)
    counts = ", ".join(f"{name} {rows:,}" for name, rows in marts.items())
    log(f"marts {counts} rows ({time.monotonic() - started:.1f}s)")
    check_staged(staging, manifest.files, rejects.count + carried, rejects.examples, options.max_rejects)
    manifest.unknown_mids = unknown_mids(staging)
    for kind, found in manifest.unknown_mids.items():
        if found["count"]:
            examples = ", ".join(found["examples"])
            log(
                f"note  {found['count']} MID(s) used in the data have no name in {kind} "
                f"(e.g. {examples}); their rows are kept, with NULL names"
            )
    return manifest.write(staging)


def _log_report(report: FileReport) -> None:
    split = f"/{report.split}" if report.split else ""
    if report.reused_from:
        log(f"reuse {report.table}{split} ← {report.file}: unchanged since release {report.reused_from}")
        return
    extra = f", {report.rows_rejected:,} rejected" if report.rows_rejected else ""
    log(f"read  {report.table}{split} ← {report.file}: {report.rows_read:,} rows{extra} ({report.seconds:.1f}s)")

