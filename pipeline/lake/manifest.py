"""Write and read ``_manifest.json``: the draft a build fills in, finished from the files it wrote."""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.core.contract import (
    FileReport,
    Manifest,
    ManifestError,
    MaskOrphans,
    Skipped,
    TableEntry,
    TableFile,
    Tool,
    UnknownMids,
)
from pipeline.core.errors import LakeError
from pipeline.core.layout import MANIFEST, table_files
from pipeline.core.schema import all_schemas

LIBRARIES = ("pyarrow", "polars", "duckdb", "fsspec", "s3fs")


def tool_version() -> str | None:
    """The installed oilake version (outputs are reused only between builds of the same version)."""
    return _version("oilake")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ManifestDraft:
    """What a build records while it runs; ``finish`` adds the tables it wrote."""

    source: str
    release: str = ""
    options: dict[str, object] = field(default_factory=dict)
    started: str = field(default_factory=now)
    files: list[FileReport] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unknown_mids: dict[str, UnknownMids] = field(default_factory=dict)
    mask_orphans: dict[str, MaskOrphans] = field(default_factory=dict)

    def finish(self, root: Path) -> Manifest:
        return Manifest(
            release=self.release,
            tool=Tool("oilake", tool_version()),
            libraries={name: _version(name) for name in LIBRARIES},
            python=platform.python_version(),
            host=socket.gethostname(),
            started=self.started,
            finished=now(),
            source=self.source,
            options=self.options,
            sources=self.files,
            skipped=self.skipped,
            unknown_mids=self.unknown_mids,
            mask_orphans=self.mask_orphans,
            tables=describe_tables(root),
            schemas={name: s.fingerprint for name, s in all_schemas().items()},
        )


def describe_tables(root: Path) -> dict[str, TableEntry]:
    """Every declared table's files under ``root`` with their row counts (from the Parquet footers)."""
    tables = {}
    for name in all_schemas():
        files = [
            TableFile(p.relative_to(root).as_posix(), pq.ParquetFile(p).metadata.num_rows)
            for p in table_files(root, name)
        ]
        tables[name] = TableEntry.of(files)
    return tables


def write_manifest(root: Path, manifest: Manifest) -> Manifest:
    (root / MANIFEST).write_text(manifest.to_text(), encoding="utf-8")
    return manifest


def read_manifest(release: Path) -> Manifest:
    """The manifest of a release folder (or of a lake, through its entry link)."""
    path = release / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LakeError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        return Manifest.from_text(text, str(path))
    except ManifestError as exc:
        raise ManifestError(
            str(exc),
            hint=f"{path} is damaged or from another oilake version: `oilake rollback` to a release whose "
            "manifest is intact, or build again (a release with a damaged manifest is never reused)",
        ) from exc
