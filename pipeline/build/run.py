"""Build a lake: plan, ingest, reconcile, validate, publish (the steps in order)."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from pipeline.build.checks import check_catalog, check_staged
from pipeline.build.faults import pause_point
from pipeline.build.marts import materialize_marts
from pipeline.build.mask_orphans import mask_orphans
from pipeline.build.naming import name_by_content, write_empty_tables
from pipeline.build.overlap import remove_overlaps
from pipeline.build.plan import BuildOptions, Plan, plan_build
from pipeline.build.reuse import (
    Previous,
    carry_rejects,
    link_into,
    load_previous,
    mart_donor,
    reusable_files,
    reuse_report,
    small_reused,
    unchanged_splits,
    unpartitioned_outputs,
)
from pipeline.build.small_tables import write_class_graph, write_hierarchy, write_small_tables
from pipeline.core.contract import BuildResult, FileReport, Manifest, Skipped, UnknownMids
from pipeline.core.errors import OilakeError
from pipeline.core.progress import log
from pipeline.families.hierarchy import Hierarchy
from pipeline.families.mid_check import unknown_mids
from pipeline.lake.manifest import ManifestDraft, write_manifest
from pipeline.lake.store import Store, open_store
from pipeline.masks.ingest import FAMILY as MASK_ARCHIVES
from pipeline.masks.ingest import ingest_archive
from pipeline.masks.rows import MaskPool
from pipeline.read.page_cache import larger_than_memory
from pipeline.read.sources import Source
from pipeline.write.ingest import ingest_to_parquet, read_small
from pipeline.write.memory import release_memory
from pipeline.write.rejects import RejectSink

__all__ = ["BuildOptions", "build_lake", "pause_point"]


def build_lake(options: BuildOptions) -> BuildResult:
    """Build the lake described by ``options`` and publish it as a new release.

    Every header is checked before the lake is touched. The release is written in a
    staging folder, reconciled and validated, stored under ``LAKE/releases`` and only
    then made current (see ``pipeline.lake.store``); a failure or a kill at any point
    leaves the published lake as it was. Works the same on a folder and an object store.
    """
    store = open_store(options.lake, options.lake_storage_options)
    store.check_writable()
    source = Source(options.source, options.storage_options)
    plan = plan_build(source, options)
    _log_skipped(plan.skipped)
    if not plan.files:
        raise OilakeError(f"no official Open Images file found in {source.display_uri!r} for this selection")
    if source.local and larger_than_memory(p.file.size for p in plan.files):
        source.drop_cache_behind = True
        log("note  the sources are larger than memory: they are read without keeping them in the page cache")
    with store.lock("build"):
        return _build_release(store, source, plan, options)


def _build_release(store: Store, source: Source, plan: Plan, options: BuildOptions) -> BuildResult:
    for leftover in store.clean_leftovers():
        log(f"clean {leftover} (left by a build that did not finish)")
    previous = None if options.full else _previous(store)
    release_id, staging = store.new_release(options.work)
    try:
        manifest = _build_into(staging, source, plan, options, release_id, previous)
        pause_point("staged")
        store.promote(staging, release_id)
    finally:
        store.cleanup(staging)
    try:
        pause_point("promoted")
        con = store.connect(release_id)
        try:
            check_catalog(con, manifest)
        finally:
            con.close()
    except BaseException:
        store.remove(release_id)
        raise
    try:
        pause_point("released")
        store.publish(release_id)
    except BaseException:
        _drop_unpublished(store, release_id)
        raise
    pause_point("published")
    # The release is live: nothing from here on may fail the build.
    try:
        pruned = store.prune(options.keep)
    except (OSError, OilakeError) as exc:
        log(f"note  release {release_id} is published, but pruning old releases failed: {exc}; the next build prunes")
        pruned = []
    for removed in pruned:
        log(f"prune release {removed} (--keep {options.keep})")
    pause_point("pruned")
    log(f"publish release {release_id}" + (f" at {store.url}" if store.filesystem is not None else ""))
    return BuildResult(store.url, release_id, manifest, pruned)


def _drop_unpublished(store: Store, release_id: str) -> None:
    """After a failed publish: delete the release unless the swap did happen (best effort; else the next build)."""
    try:
        if store.current_id() != release_id:
            store.remove(release_id)
    except (OSError, OilakeError) as exc:
        log(f"note  release {release_id} was not published and could not be removed: {exc}; the next build removes it")


def _previous(store: Store) -> Previous | None:
    """The current release as a donor of outputs; with a damaged manifest, none (a note says so)."""
    current = store.current_id()
    if current is not None:
        try:
            store.manifest(current)
        except OilakeError as exc:
            log(f"note  {exc}; no output of release {current} is reused: every file is read again")
            return None
    return load_previous(store)


def _build_into(
    staging: Path, source: Source, plan: Plan, options: BuildOptions, release_id: str, previous: Previous | None
) -> Manifest:
    draft = ManifestDraft(
        source=source.display_uri,
        release=release_id,
        skipped=plan.skipped,
        options=options.recorded(),
    )
    rejects = RejectSink(staging / "rejects" / "rejects.parquet")
    reused = reusable_files(source, plan, previous)
    small: dict[str, list[tuple[pl.DataFrame, FileReport]]] = {}
    masks = MaskPool()
    try:
        hierarchy = _ingest_files(staging, source, plan, previous, reused, rejects, small, masks, draft)
    finally:
        masks.close()
    rejects.close()
    if previous is not None and reused:
        for output in unpartitioned_outputs(previous) if small_reused(plan, reused) else []:
            link_into(previous, output, staging)
        carried = carry_rejects(previous, [r.file for r in draft.files if r.reused_from], staging)
    else:
        carried = 0
    classes = write_small_tables(staging, small)
    if hierarchy is not None:
        write_class_graph(staging, hierarchy, classes)
    remove_overlaps(staging, [r for r in draft.files if not r.reused_from], draft.files)
    started = time.monotonic()
    pause_point("marts")
    donor = mart_donor(previous, unchanged_splits(plan, reused, previous))
    if donor is not None:
        log(
            f"reuse marts {', '.join(donor.files)}: rows of {', '.join(donor.splits)} kept from release "
            f"{donor.release_id} (those splits' source files are unchanged)"
        )
    marts = materialize_marts(staging, donor=donor)
    counts = ", ".join(f"{name} {rows:,}" for name, rows in marts.items())
    log(f"marts {counts} rows ({time.monotonic() - started:.1f}s)")
    empty = write_empty_tables(staging)
    if empty:
        log(f"empty {', '.join(empty)}: no source fed them; each is one zero-row file with its declared columns")
    name_by_content(staging, draft.files)
    check_staged(staging, draft.files, rejects.count + carried, rejects.examples, options.max_rejects)
    draft.unknown_mids = {kind: UnknownMids(**found) for kind, found in unknown_mids(staging).items()}
    for kind, mids in draft.unknown_mids.items():
        if mids.count:
            log(
                f"note  {mids.count} MID(s) used in the data have no name in {kind} "
                f"(e.g. {', '.join(mids.examples)}); their rows are kept, with NULL names"
            )
    draft.mask_orphans = mask_orphans(staging, draft.files)
    for split, orphans in draft.mask_orphans.items():
        if orphans.pngs_without_row or orphans.rows_without_png:
            log(
                f"note  {split}: {orphans.pngs_without_row:,} mask PNG(s) without a segmentation row, "
                f"{orphans.rows_without_png:,} segmentation row(s) without a PNG (both kept; the view mask_orphans "
                "lists them)"
            )
    return write_manifest(staging, draft.finish(staging))


def _ingest_files(
    staging: Path,
    source: Source,
    plan: Plan,
    previous: Previous | None,
    reused: dict[int, FileReport],
    rejects: RejectSink,
    small: dict[str, list[tuple[pl.DataFrame, FileReport]]],
    masks: MaskPool,
    draft: ManifestDraft,
) -> Hierarchy | None:
    """Ingest (or reuse) every planned file in plan order; returns the parsed hierarchy, if planned.

    The mask workers stop once the archives are done (they hold about 100 MB each), and the memory each
    file's ingest freed is handed back before the next file starts.
    """
    hierarchy: Hierarchy | None = None
    for planned in plan.files:
        family = planned.file.official.family
        if planned.members is None:
            masks.close()
        if previous is not None and (before := reused.get(id(planned))) is not None:
            report = reuse_report(previous, before, staging)
        elif planned.hierarchy is not None:
            report = write_hierarchy(staging, planned)
            hierarchy = planned.hierarchy
        elif planned.members is not None:
            report = ingest_archive(source, planned.file, staging, rejects, masks)
            pause_point("ingest")
        elif planned.spec is None:
            raise OilakeError(f"{planned.file.name}: no reader for family {family!r}")  # pragma: no cover
        elif planned.file.official.split is None:
            frame, report = read_small(source, planned.file, planned.spec, planned.header, rejects)
            small.setdefault(family, []).append((frame, report))
        else:
            report = ingest_to_parquet(source, planned.file, planned.spec, planned.header, staging, rejects)
            pause_point("ingest")
        report.etag = planned.file.etag
        draft.files.append(report)
        _log_report(report)
        if not report.reused_from:
            release_memory()
    return hierarchy


def _log_skipped(skipped: list[Skipped]) -> None:
    """One line per skipped file; a split's mask archives (16 of them) in one line."""
    archives: dict[str | None, list[str]] = {}
    for skip in skipped:
        if skip.family == MASK_ARCHIVES:
            archives.setdefault(skip.split, []).append(skip.file)
            continue
        split = f" ({skip.split})" if skip.split else ""
        log(f"skip  {skip.family}{split}: {skip.file} not in the source")
    for part, names in archives.items():
        which = names[0] if len(names) == 1 else f"{len(names)} archives, {names[0]} to {names[-1]},"
        log(f"skip  {MASK_ARCHIVES} ({part}): {which} not in the source")


def _log_report(report: FileReport) -> None:
    split = f"/{report.split}" if report.split else ""
    if report.reused_from:
        log(f"reuse {report.table}{split} ← {report.file}: unchanged since release {report.reused_from}")
        return
    extra = f", {report.rows_rejected:,} rejected" if report.rows_rejected else ""
    log(f"read  {report.table}{split} ← {report.file}: {report.rows_read:,} rows{extra} ({report.seconds:.1f}s)")
