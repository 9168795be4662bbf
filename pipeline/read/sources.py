"""Find and open source files in a folder, an http(s) prefix or any fsspec URL.

Remote sources are streamed: http(s) files are read through one GET each (no whole-file buffer), object
stores (s3://, gs://, ...) in 8 MiB block reads. Storage options and credentials are resolved by
``storage_options``; every URL this module puts in a message goes through ``redact``.
"""

from __future__ import annotations

from collections.abc import Mapping

import fsspec
import pyarrow as pa

from pipeline.core.errors import InputFormatError, SourceError
from pipeline.core.official import OfficialFile
from pipeline.read.failures import failure_kind, source_error
from pipeline.read.files import SourceFile
from pipeline.read.opened import OpenedSource
from pipeline.read.redact import redact, redact_text
from pipeline.read.storage_options import HTTP_PROTOCOLS, http_credentials_out_of_url, resolve_storage_options

COMPRESSED_SUFFIXES = (".gz",)
BLOCK_SIZE = 8 << 20


def _etag(info: Mapping[str, object]) -> str | None:
    for key in ("ETag", "etag", "e_tag"):
        value = info.get(key)
        if isinstance(value, str) and value:
            return value.strip('"')
    return None


class Source:
    """A folder or prefix that holds official files under their official names."""

    def __init__(self, uri: str, storage_options: Mapping[str, object] | None = None) -> None:
        self.uri = uri
        self.display_uri = redact(uri)
        target, options = http_credentials_out_of_url(uri, resolve_storage_options(uri, storage_options))
        try:
            self.fs, self.root = fsspec.core.url_to_fs(target, **options)
        except (ValueError, ImportError, TypeError) as exc:
            raise SourceError(f"cannot open source {self.display_uri!r}: {redact_text(str(exc))}") from exc
        self.root = self.root.rstrip("/")
        protocols = {self.fs.protocol} if isinstance(self.fs.protocol, str) else set(self.fs.protocol)
        self.local = "file" in protocols
        self.streaming = bool(protocols & HTTP_PROTOCOLS)
        if self.local and not self.fs.isdir(self.root):
            raise SourceError(f"source folder {self.display_uri!r} does not exist or is not a folder")

    def _join(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    def url(self, path: str) -> str:
        """The redacted URL of ``path`` (a plain path for a local source)."""
        return redact(path if self.local or self.streaming else self.fs.unstrip_protocol(path))

    def find(self, official: OfficialFile) -> SourceFile | None:
        """The file for ``official`` (plain, else ``.gz``), or None when absent (404 included)."""
        for name in (official.name, *(official.name + s for s in COMPRESSED_SUFFIXES)):
            path = self._join(name)
            try:
                info = self.fs.info(path)
            except Exception as exc:  # each backend has its own types: failure_kind sorts them
                if failure_kind(exc) == "missing":
                    continue
                raise source_error(exc, self.url(path), official, "look up") from exc
            if info.get("type") == "directory":
                continue
            size = info.get("size")
            return SourceFile(
                official=official, path=path, name=name, size=size if isinstance(size, int) else None,
                etag=_etag(info), display_url=self.url(path),
            )  # fmt: skip
        return None

    def open(self, file: SourceFile) -> OpenedSource:
        """Open ``file`` for streaming: decompressed bytes, hashed as they are read."""
        url = file.display_url or self.url(file.path)
        try:
            if self.streaming:  # one GET read as it arrives; size given so that no HEAD is sent first
                raw = self.fs.open(file.path, "rb", block_size=0, size=file.size)
            else:
                raw = self.fs.open(file.path, "rb", block_size=BLOCK_SIZE)
        except Exception as exc:  # each backend has its own types: source_error sorts them
            raise source_error(exc, url, file.official, "open") from exc
        return OpenedSource(raw, compressed=file.compressed, file=file, url=url)

    def read_head(self, file: SourceFile, limit: int = 1 << 16) -> bytes:
        """The first bytes of the decompressed file (for header checks)."""
        try:
            with self.open(file) as opened:
                return opened.stream.read(limit)
        except (OSError, EOFError, pa.ArrowInvalid) as exc:
            raise InputFormatError(f"{file.name}: cannot be read: {redact_text(str(exc))}") from exc
