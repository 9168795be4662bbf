"""Ingest one mask archive: stream its members, encode each PNG as a ``mask_pixels`` row, quarantine the rest.

Every member is a row or a reject: ``rejects.line`` is the member's 1-based position in the archive's central
directory and ``rejects.raw`` its name. The archive is read by ranges (never unpacked, never held whole), the
PNGs are decoded and encoded by the build's process pool, and the file's md5 is computed on the way
(``HashedRanges``), so an unchanged archive is reused by the next build like any other source file.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path

from pipeline.core.contract import FileReport
from pipeline.core.layout import file_path
from pipeline.core.progress import FileProgress
from pipeline.core.schema import table_schema
from pipeline.masks.rows import MaskPool, encode_members
from pipeline.masks.zip_members import FsspecRanges, HashedRanges, LocalRanges, Member, RangeReader, ZipArchive
from pipeline.read.files import SourceFile
from pipeline.read.sources import Source
from pipeline.write.ingest import output_name
from pipeline.write.parquet_writer import PartWriter
from pipeline.write.rejects import RejectSink

TABLE = "mask_pixels"
FAMILY = "mask_pixels"
DUPLICATE = "duplicate member name: an earlier member of this archive has the same name"
# Fewer members: encoded in this process. Starting the pool took 0.34 s by hand,
# about what 2 workers save on 2,000 masks.
INLINE_BELOW = 2000


def archive_ranges(source: Source, file: SourceFile) -> RangeReader:
    """Range reads of ``file``: ``pread`` for a local source, the source's fsspec filesystem otherwise."""
    if source.local:
        return LocalRanges(file.path)
    return FsspecRanges(source.fs, file.path, file.size, file.display_url or source.url(file.path))


def open_source_archive(source: Source, file: SourceFile) -> ZipArchive:
    """The archive ``file`` of ``source``, its end records read (a truncated archive fails here, by name)."""
    return ZipArchive(archive_ranges(source, file), file.name)


def _unique(members: Iterator[Member]) -> Generator[Member]:
    """``members``, a repeated name turned into a member with an error (rejected, never a second row)."""
    seen: set[str] = set()
    for member in members:
        if member.name in seen:
            yield Member(member.name, b"", DUPLICATE)
            continue
        seen.add(member.name)
        yield member


def ingest_archive(
    source: Source, file: SourceFile, staging: Path, rejects: RejectSink, pool: MaskPool | None = None
) -> FileReport:
    """Stream ``file`` into ``staging/mask_pixels/split=<split>/<name>.parquet``, encoding in ``pool``.

    Without a pool, one is started for this archive and stopped after it; a small archive (fewer than
    ``INLINE_BELOW`` members, e.g. the sample's) is encoded in this process, without starting one.
    """
    split = file.official.split
    report = FileReport(family=FAMILY, split=split, file=file.name, table=TABLE, path=file.display_path)
    schema = table_schema(TABLE)
    relative = file_path(schema, output_name(file), *([split] if split else []))
    progress = FileProgress(file.name, file.size)
    reader = HashedRanges(archive_ranges(source, file))
    writer = PartWriter(staging / relative, schema)
    try:
        with ZipArchive(reader, file.name) as archive:
            members = _unique(archive.members())
            if len(archive) < INLINE_BELOW:
                batches = encode_members(members, workers=1)
            elif pool is None:
                batches = encode_members(members)
            else:
                batches = encode_members(members, pool.workers, pool=pool.executor())
            position = 0  # members before the current batch
            # closed before the archive: its read-ahead thread stops (and is joined) before the file closes
            with closing(members), closing(batches):
                for batch in batches:
                    if batch.rows:
                        writer.write(batch.to_arrow())
                    if batch.rejects:
                        rejects.add(
                            TABLE, file.name, [position + r.index + 1 for r in batch.rejects],
                            [r.reason for r in batch.rejects], [r.mask_path for r in batch.rejects],
                        )  # fmt: skip
                    report.rows_read += batch.read
                    report.rows_rejected += len(batch.rejects)
                    position += batch.read
                    progress.update(reader.hashed)
            if report.rows_read != len(archive):
                listed = f"its central directory lists {len(archive):,} members"
                raise archive.fail(f"{listed}, {report.rows_read:,} were read")
            report.md5 = reader.finish()
    finally:
        report.resorted = writer.close()
    report.bytes = reader.size
    report.rows_written = writer.rows
    report.output = relative
    report.seconds = progress.close()
    return report
