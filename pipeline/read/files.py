"""An official file as found in a source: where it is, its size and ETag, its redacted URL."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.official import OfficialFile
from pipeline.read.redact import redact


@dataclass(frozen=True)
class SourceFile:
    """An official file found in the source, possibly gzip-compressed."""

    official: OfficialFile
    path: str
    name: str
    size: int | None
    etag: str | None = None  # the remote object's ETag (S3, GCS, HTTP), None for local files
    display_url: str = ""  # where the file is, credentials redacted

    @property
    def compressed(self) -> bool:
        return self.name.endswith(".gz")

    @property
    def display_path(self) -> str:
        """The path to show or record: credentials redacted."""
        return self.display_url or redact(self.path)
