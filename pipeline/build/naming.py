"""The last steps on a staged release's files: one file for every table, and names by content.

Every declared table gets at least one Parquet file (a zero-row file with the declared schema
when no source fed it), so ``LAKE/<table>`` always resolves and every engine reads the table.
Every file the build wrote is then renamed ``<stem>.<digest>.parquet`` after the SHA-256 of its
bytes: a reader holding a listing of an older release fails with "file not found" instead of
reading other bytes under the same name. Files lent by the previous release already carry their
digest and keep their names (they are hard links to the same bytes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.core.contract import FileReport
from pipeline.core.layout import content_name, empty_file_path, named_digest, table_files
from pipeline.core.schema import all_schemas
from pipeline.read.hashing import HASH_WORKERS
from pipeline.read.threads import ordered_map
from pipeline.write.parquet_writer import write_batches


def write_empty_tables(staging: Path) -> list[str]:
    """A zero-row file for every table without one under ``staging``; returns the tables it wrote."""
    written = []
    for name, schema in all_schemas().items():
        if not table_files(staging, name):
            write_batches(staging / empty_file_path(schema), schema, [])
            written.append(name)
    return written


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    with path.open("rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def name_by_content(staging: Path, reports: list[FileReport]) -> dict[str, str]:
    """Rename every Parquet file without a digest in its name; ``reports``' outputs follow.

    Returns the renames, old relative path → new one.
    """
    unnamed = [path for name in all_schemas() for path in table_files(staging, name) if named_digest(path.name) is None]
    digests = ordered_map(file_digest, iter(unnamed), HASH_WORKERS)  # hashlib lets go of the GIL while it hashes
    renamed = {}
    for path, digest in zip(unnamed, digests, strict=True):
        target = path.with_name(content_name(path.name, digest))
        path.rename(target)
        renamed[path.relative_to(staging).as_posix()] = target.relative_to(staging).as_posix()
    for report in reports:
        if report.output is not None and report.output in renamed:
            report.output = renamed[report.output]
    return renamed
