"""The lake's typed contract: manifest, file report, table entry, release, history, pointer and build result.

Pure data, no I/O (but a note on stderr for a skipped history line). Each type reads and writes
the JSON the lake stores (``_manifest.json``, ``_history.jsonl``, ``_current.json``) with
``from_json``/``to_json``; ``to_json(from_json(d)) == d`` for every document this version writes,
so lakes built before these types existed still read.
Nothing outside this module parses a manifest dict.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pipeline.core.errors import LakeError
from pipeline.core.progress import log

FORMAT = 2  # the manifest format this version writes and reads
Json = dict[str, Any]


class ManifestError(LakeError):
    """A manifest, history line or pointer is not in the format this oilake reads."""

    hint = "the lake was written by another oilake version or edited by hand: rebuild it with `oilake build --full`"


def _require(data: object, what: str, *keys: str) -> Json:
    if not isinstance(data, dict):
        raise ManifestError(f"{what}: expected a JSON object, found {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ManifestError(f"{what}: missing {', '.join(missing)}")
    return data


def _known_fields(cls: type, entry: Json) -> Json:
    """``entry`` without the keys ``cls`` has no field for (written by a newer version)."""
    known = {f.name for f in fields(cls)}
    return {k: v for k, v in entry.items() if k in known}


@dataclass
class FileReport:
    """What happened to one source file; the manifest records it and the counts must reconcile."""

    family: str
    split: str | None
    file: str
    table: str
    path: str = ""
    bytes: int = 0
    md5: str = ""
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    blank_lines: int = 0
    output: str | None = None
    resorted: bool = False
    seconds: float = 0.0
    etag: str | None = None
    reused_from: str | None = None

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_rejected + self.rows_duplicate

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> FileReport:
        """A report as the manifest records it (keys this version does not know are ignored)."""
        return cls(**_known_fields(cls, _require(data, "source report", "family", "split", "file", "table")))


@dataclass(frozen=True)
class TableFile:
    """One Parquet file of a table, relative to its release."""

    path: str
    rows: int


@dataclass
class TableEntry:
    """A table of a release: its files and their total rows."""

    rows: int = 0
    files: list[TableFile] = field(default_factory=list)

    @classmethod
    def of(cls, files: list[TableFile]) -> TableEntry:
        return cls(sum(f.rows for f in files), files)

    def to_json(self) -> Json:
        return {"rows": self.rows, "files": [{"path": f.path, "rows": f.rows} for f in self.files]}

    @classmethod
    def from_json(cls, data: object) -> TableEntry:
        entry = _require(data, "table entry", "rows", "files")
        files = [_require(f, "table file", "path", "rows") for f in entry["files"]]
        return cls(int(entry["rows"]), [TableFile(str(f["path"]), int(f["rows"])) for f in files])


@dataclass(frozen=True)
class Skipped:
    """A selected official file the source does not hold."""

    family: str
    split: str | None
    file: str

    def to_json(self) -> Json:
        return {"family": self.family, "split": self.split, "file": self.file}

    @classmethod
    def from_json(cls, data: object) -> Skipped:
        entry = _require(data, "skipped file", "family", "split", "file")
        return cls(entry["family"], entry["split"], entry["file"])


@dataclass
class UnknownMids:
    """MIDs used in the data that no description file names: how many, and a few examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> Json:
        return {"count": self.count, "examples": list(self.examples)}

    @classmethod
    def from_json(cls, data: object) -> UnknownMids:
        entry = _require(data, "unknown MIDs", "count", "examples")
        return cls(int(entry["count"]), [str(e) for e in entry["examples"]])


@dataclass
class MaskOrphans:
    """One split's mask PNGs without a segmentation row, and rows without a PNG (counted, kept, listed by a view).

    A PNG counts when the split's segmentation file was built; a row counts when the split's archive for its
    ImageID's first hex digit was built (a split whose archives were not downloaded has no orphan rows).
    """

    pngs_without_row: int = 0
    rows_without_png: int = 0
    examples: list[str] = field(default_factory=list)  # a few mask paths of either kind

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> MaskOrphans:
        return cls(**_known_fields(cls, _require(data, "mask orphans", "pngs_without_row", "rows_without_png")))


@dataclass(frozen=True)
class Tool:
    name: str
    version: str | None


@dataclass
class Manifest:
    """``_manifest.json``: what a release was built from, with what, and what it holds."""

    release: str
    tool: Tool
    libraries: dict[str, str | None]
    python: str
    host: str
    started: str
    finished: str
    source: str
    options: dict[str, Any]
    sources: list[FileReport]
    skipped: list[Skipped]
    unknown_mids: dict[str, UnknownMids]
    tables: dict[str, TableEntry]
    schemas: dict[str, str]
    mask_orphans: dict[str, MaskOrphans] = field(default_factory=dict)  # by split, for splits with mask archives
    format: int = FORMAT

    @property
    def reused_files(self) -> list[str]:
        return [f.file for f in self.sources if f.reused_from]

    def table_rows(self) -> dict[str, int]:
        return {name: entry.rows for name, entry in self.tables.items()}

    @property
    def data_rows(self) -> int:
        """Rows of every table but ``rejects``."""
        return sum(entry.rows for name, entry in self.tables.items() if name != "rejects")

    def to_json(self) -> Json:
        return {
            "format": self.format,
            "release": self.release,
            "tool": {"name": self.tool.name, "version": self.tool.version},
            "libraries": dict(self.libraries),
            "python": self.python,
            "host": self.host,
            "started": self.started,
            "finished": self.finished,
            "source": self.source,
            "options": dict(self.options),
            "reused_files": self.reused_files,
            "sources": [f.to_json() for f in self.sources],
            "skipped": [s.to_json() for s in self.skipped],
            "unknown_mids": {kind: found.to_json() for kind, found in self.unknown_mids.items()},
            "mask_orphans": {split: found.to_json() for split, found in self.mask_orphans.items()},
            "tables": {name: entry.to_json() for name, entry in self.tables.items()},
            "schemas": dict(self.schemas),
        }

    def to_text(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: object) -> Manifest:
        keys = ("format", "release", "tool", "started", "finished", "source", "sources", "tables", "schemas")
        entry = _require(data, "manifest", *keys)
        if entry["format"] != FORMAT:
            raise ManifestError(f"manifest format {entry['format']!r}; this oilake reads format {FORMAT}")
        tool = _require(entry["tool"], "manifest tool", "name", "version")
        return cls(
            format=FORMAT,
            release=str(entry["release"]),
            tool=Tool(str(tool["name"]), tool["version"]),
            libraries=dict(entry.get("libraries", {})),
            python=str(entry.get("python", "")),
            host=str(entry.get("host", "")),
            started=str(entry["started"]),
            finished=str(entry["finished"]),
            source=str(entry["source"]),
            options=dict(entry.get("options", {})),
            sources=[FileReport.from_json(s) for s in entry["sources"]],
            skipped=[Skipped.from_json(s) for s in entry.get("skipped", [])],
            unknown_mids={k: UnknownMids.from_json(v) for k, v in entry.get("unknown_mids", {}).items()},
            tables={name: TableEntry.from_json(t) for name, t in _require(entry["tables"], "tables").items()},
            schemas={str(k): str(v) for k, v in _require(entry["schemas"], "schemas").items()},
            mask_orphans={k: MaskOrphans.from_json(v) for k, v in entry.get("mask_orphans", {}).items()},
        )

    @classmethod
    def from_text(cls, text: str | bytes, where: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"{where}: not JSON: {exc}") from exc
        try:
            return cls.from_json(data)
        except ManifestError as exc:
            raise ManifestError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class Release:
    """A release kept by a lake: its id, whether it is (or was) current, and what its manifest says."""

    id: str
    current: bool
    published: bool
    created: str | None = None  # when its build started; None when its manifest cannot be read
    finished: str | None = None
    rows: int | None = None  # rows of every table but rejects

    @property
    def status(self) -> str:
        return "current" if self.current else ("published" if self.published else "unpublished")

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Release:
        return cls(**_known_fields(cls, _require(data, "release", "id", "current", "published")))


@dataclass(frozen=True)
class HistoryEvent:
    """One line of ``_history.jsonl``: a publish or a rollback (local lakes also name the process)."""

    event: str
    release: str
    at: str
    host: str | None = None
    pid: int | None = None

    def to_json(self) -> Json:
        data: Json = {"event": self.event, "release": self.release, "at": self.at}
        if self.host is not None:
            data["host"] = self.host
        if self.pid is not None:
            data["pid"] = self.pid
        return data

    @classmethod
    def from_json(cls, data: object) -> HistoryEvent:
        entry = _require(data, "history event", "event", "release", "at")
        return cls(str(entry["event"]), str(entry["release"]), str(entry["at"]), entry.get("host"), entry.get("pid"))


def history_line(line: str) -> HistoryEvent | None:
    """The event of one ``_history.jsonl`` line; None for a blank or damaged line."""
    try:
        return HistoryEvent.from_json(json.loads(line)) if line.strip() else None
    except (ValueError, ManifestError):
        return None


def history_from_text(text: str, where: str = "history") -> list[HistoryEvent]:
    """The events of a ``_history.jsonl`` text, oldest first; a damaged line is skipped with a note.

    Writers append whole lines, so a damaged line is normally the last one, torn by a write
    that did not finish; it never blocks the lake.
    """
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        event = history_line(line)
        if event is not None:
            events.append(event)
        elif line.strip():
            log(f"note  {where}: line {number} is damaged (a write that did not finish?); skipped: {line[:80]!r}")
    return events


def history_to_text(events: list[HistoryEvent]) -> str:
    return "".join(json.dumps(e.to_json()) + "\n" for e in events)


@dataclass(frozen=True)
class Pointer:
    """``_current.json`` of a lake on object storage: the current release and where its catalog is."""

    release: str
    catalog: str
    manifest: str
    published: str
    tables: dict[str, int]

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Pointer:
        entry = _require(data, "pointer", "release", "catalog", "manifest", "published", "tables")
        return cls(
            str(entry["release"]), str(entry["catalog"]), str(entry["manifest"]), str(entry["published"]),
            {str(k): int(v) for k, v in entry["tables"].items()},
        )  # fmt: skip


@dataclass(frozen=True)
class BuildResult:
    """What ``build_lake`` returns: the lake, the release it published, its manifest, what was pruned."""

    lake: str
    release: str
    manifest: Manifest
    pruned: list[str] = field(default_factory=list)

    def table_rows(self) -> dict[str, int]:
        return self.manifest.table_rows()

    def to_json(self) -> Json:
        return {"lake": self.lake, "release": self.release, "manifest": self.manifest.to_json(), "pruned": self.pruned}

    @classmethod
    def from_json(cls, data: object) -> BuildResult:
        entry = _require(data, "build result", "lake", "release", "manifest")
        pruned = [str(r) for r in entry.get("pruned", [])]
        return cls(str(entry["lake"]), str(entry["release"]), Manifest.from_json(entry["manifest"]), pruned)
