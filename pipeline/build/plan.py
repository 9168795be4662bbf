"""Plan a build: the options, the selected source files, every header checked before any work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pipeline.core.contract import Skipped
from pipeline.core.errors import InputFormatError
from pipeline.core.official import official_files
from pipeline.families import Family, family_specs
from pipeline.families.hierarchy import Hierarchy, parse_hierarchy
from pipeline.families.selection import HIERARCHY, select_families, select_splits
from pipeline.lake.store import DEFAULT_KEEP
from pipeline.masks.ingest import FAMILY as MASK_ARCHIVES
from pipeline.masks.ingest import open_source_archive
from pipeline.read.csv_reader import check_header
from pipeline.read.files import SourceFile
from pipeline.read.redact import redact_text
from pipeline.read.sources import Source


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
    spec: Family | None  # None for the hierarchy JSON and the mask archives
    header: list[str] | None = None
    hierarchy: Hierarchy | None = None
    md5: str = ""
    members: int | None = None  # a mask archive's member count, from its end records


@dataclass
class Plan:
    files: list[Planned] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


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
            plan.skipped.append(Skipped(official.family, official.split, official.name))
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
                raise InputFormatError(f"{found.name}: cannot be read: {redact_text(str(exc))}") from exc
            planned.hierarchy = parse_hierarchy(found.name, data)
        elif official.family == MASK_ARCHIVES:
            if found.compressed:
                raise InputFormatError(
                    f"{found.name}: a mask archive is read as the zip file itself, not gzip-compressed",
                    hint=f"decompress it (`gunzip {found.name}`) so the source holds {official.name}",
                )
            with open_source_archive(source, found) as archive:  # a truncated or non-zip archive fails here
                planned.members = len(archive)
        plan.files.append(planned)
    return plan
