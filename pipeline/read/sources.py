"""Find and open source files in a folder, an http(s) prefix or any fsspec URL.

Remote sources are streamed: http(s) files are read through one GET each (no whole-file buffer), object
stores (s3://, gs://, ...) in 8 MiB block reads. Storage options and credentials are resolved by
``storage_options``; every URL this module puts in a message goes through ``redact``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import fsspec
import pyarrow as pa

from pipeline.core.errors import InputFormatError, SourceError
from pipeline.core.official import OfficialFile
from pipeline.read.failures import failure_kind, source_error
from pipeline.read.files import SourceFile
from pipeline.read.opened import OpenedSource
from pipeline.read.page_cache import drop_behind
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


def _query_out_of_url(uri: str) -> tuple[str, str]:
    """An http(s) URL without its query string, and the query string (appended to each file's URL)."""
    if "://" not in uri or urlsplit(uri).scheme not in HTTP_PROTOCOLS:
        return uri, ""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(query="", fragment="")), parts.query


def _file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class Source:
    """A folder or prefix that holds official files under their official names."""

    def __init__(self, uri: str, storage_options: Mapping[str, object] | None = None) -> None:
        self.uri = uri
        self.display_uri = redact(uri)
        target, options = http_credentials_out_of_url(uri, resolve_storage_options(uri, storage_options))
        target, self.query = _query_out_of_url(target)
        try:
            self.fs, self.root = fsspec.core.url_to_fs(target, **options)
        except (ValueError, ImportError, TypeError) as exc:
            raise SourceError(f"cannot open source {self.display_uri!r}: {redact_text(str(exc))}") from exc
        self.root = self.root.rstrip("/")
        protocols = {self.fs.protocol} if isinstance(self.fs.protocol, str) else set(self.fs.protocol)
        self.local = "file" in protocols
        self.streaming = bool(protocols & HTTP_PROTOCOLS)
        self.drop_cache_behind = False  # local files read without keeping them cached (see read/page_cache.py)
        if self.local and not self.fs.isdir(self.root):
            raise SourceError(f"source folder {self.display_uri!r} does not exist or is not a folder")

    def _join(self, name: str) -> str:
        """The path of ``name``: joined into the URL's path, the query string (a presigned prefix) kept at the end."""
        path = f"{self.root}/{name}" if self.root else name
        return f"{path}?{self.query}" if self.query else path

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
            self._check_regular(path, info)
            size = info.get("size")
            return SourceFile(
                official=official, path=path, name=name, size=size if isinstance(size, int) else None,
                etag=_etag(info), display_url=self.url(path),
            )  # fmt: skip
        return None

    def _check_regular(self, path: str, info: Mapping[str, object]) -> None:
        """Only regular files (links followed) are sources: a folder or a FIFO under an official name is an error."""
        what = "a folder" if info.get("type") == "directory" else None
        if self.local and what is None:
            try:
                mode = os.stat(path).st_mode  # follows links: a link to a FIFO is a FIFO
            except OSError as exc:
                raise SourceError(f"cannot look up {self.url(path)}: {exc.strerror or exc}") from exc
            what = None if stat.S_ISREG(mode) else _file_kind(mode)
            if what is not None and os.path.islink(path):
                what = f"a link to {what} ({os.path.realpath(path)})"
        if what is not None:
            raise SourceError(
                f"{self.url(path)} is {what}, not a regular file: a source file must be a file (or a link to one)",
                hint="put the downloaded file itself under its official name, or remove what is there",
            )

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
        drop = drop_behind(raw) if self.local and self.drop_cache_behind else None
        return OpenedSource(raw, compressed=file.compressed, file=file, url=url, drop=drop)

    def read_head(self, file: SourceFile, limit: int = 1 << 16) -> bytes:
        """The first bytes of the decompressed file (for header checks)."""
        try:
            with self.open(file) as opened:
                return opened.stream.read(limit)
        except (OSError, EOFError, pa.ArrowInvalid) as exc:
            raise InputFormatError(f"{file.name}: cannot be read: {redact_text(str(exc))}") from exc
