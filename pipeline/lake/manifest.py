"""The build manifest, ``LAKE/_manifest.json``: what was read, written and rejected."""

from __future__ import annotations

import json
import platform
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.core.schema import all_schemas
from pipeline.write.ingest import FileReport

MANIFEST = "_manifest.json"
LIBRARIES = ("pyarrow", "polars", "duckdb", "fsspec", "s3fs")


def tool_version() -> str | None:
    """The installed oilake version (outputs are reused only between builds of the same version)."""
    return _version("oilake")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class Manifest:
    """Everything a reader needs to trust the lake."""

    source: str
    release: str = ""
    options: dict[str, object] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    files: list[FileReport] = field(default_factory=list)
    skipped: list[dict[str, str | None]] = field(default_factory=list)
    unknown_mids: dict[str, dict] = field(default_factory=dict)

    def table_files(self, root: Path) -> dict[str, dict[str, object]]:
        tables: dict[str, dict[str, object]] = {}
        for name in all_schemas():
            parts = sorted((root / name).rglob("*.parquet")) if (root / name).is_dir() else []
            files = [
                {"path": p.relative_to(root).as_posix(), "rows": pq.ParquetFile(p).metadata.num_rows} for p in parts
            ]
            tables[name] = {"rows": sum(int(f["rows"]) for f in files), "files": files}
        return tables

    def to_dict(self, root: Path) -> dict[str, object]:
        return {
            "format": 2,
            "release": self.release,
            "tool": {"name": "oilake", "version": tool_version()},
            "libraries": {name: _version(name) for name in LIBRARIES},
            "python": platform.python_version(),
            "host": socket.gethostname(),
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": self.source,
            "options": self.options,
            "reused_files": [f.file for f in self.files if f.reused_from],
            "sources": [f.to_dict() for f in self.files],
            "skipped": self.skipped,
            "unknown_mids": self.unknown_mids,
            "tables": self.table_files(root),
            "schemas": {name: s.fingerprint for name, s in all_schemas().items()},
        }

    def write(self, root: Path) -> dict[str, object]:
        data = self.to_dict(root)
        (root / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return data


def read_manifest(lake: Path) -> dict[str, object]:
    """The manifest of a published lake."""
    return json.loads((lake / MANIFEST).read_text(encoding="utf-8"))
