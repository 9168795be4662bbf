"""Find and open source files in a folder, an http(s) prefix or any fsspec URL."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

import fsspec
import pyarrow as pa

from pipeline.errors import InputFormatError, SourceError
from pipeline.official import OfficialFile

COMPRESSED_SUFFIXES = (".gz",)


@dataclass(frozen=True)
class SourceFile:
    """An official file found in the source, possibly gzip-compressed."""

    official: OfficialFile
    path: str
    name: str
    size: int | None

    @property
    def compressed(self) -> bool:
        return self.name.endswith(".gz")


class Source:
    """A folder or prefix that holds official files under their official names."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri = uri
        try:
            self.fs, self.root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
        except (ValueError, ImportError) as exc:
            raise SourceError(f"cannot open source {uri!r}: {exc}") from exc
        self.root = self.root.rstrip("/")
        protocols = (self.fs.protocol,) if isinstance(self.fs.protocol, str) else self.fs.protocol
        if "file" in protocols and not self.fs.isdir(self.root):
            raise SourceError(f"source folder {uri!r} does not exist or is not a folder")

    def _join(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    def find(self, official: OfficialFile) -> SourceFile | None:
        """The file for ``official`` (plain, else ``.gz``), or None when absent."""
        for name in (official.name, *(official.name + s for s in COMPRESSED_SUFFIXES)):
            path = self._join(name)
            try:
                if self.fs.exists(path) and not self.fs.isdir(path):
                    try:
                        size = self.fs.size(path)
                    except (OSError, NotImplementedError):
                        size = None
                    return SourceFile(official=official, path=path, name=name, size=size)
            except OSError as exc:
                raise SourceError(f"cannot look up {path!r} in the source: {exc}") from exc
        return None

    def open(self, file: SourceFile) -> OpenedSource:
        """Open ``file`` for streaming: decompressed bytes, hashed as they are read."""
        try:
            raw = self.fs.open(file.path, "rb", block_size=8 << 20)
        except OSError as exc:
            raise SourceError(f"cannot open {file.name}: {exc}") from exc
        return OpenedSource(raw, compressed=file.compressed)

    def read_head(self, file: SourceFile, limit: int = 1 << 16) -> bytes:
        """The first bytes of the decompressed file (for header checks)."""
        try:
            with self.open(file) as opened:
                return opened.stream.read(limit)
        except (OSError, EOFError, pa.ArrowInvalid) as exc:
            raise InputFormatError(f"{file.name}: cannot be read: {exc}") from exc


class HashingReader:
    """A read-only file wrapper that computes md5 and counts bytes as they pass."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.md5 = hashlib.md5()
        self.bytes_read = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.md5.update(data)
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.bytes_read

    def seekable(self) -> bool:
        return False

    def drain(self) -> None:
        """Read to the end so that the md5 covers the whole file."""
        while self.read(8 << 20):
            pass

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            self.closed = True


class OpenedSource:
    """An open source file: ``stream`` gives decompressed bytes, ``hashed`` the raw md5."""

    def __init__(self, raw: IO[bytes], compressed: bool) -> None:
        self.hashed = HashingReader(raw)
        python_file = pa.PythonFile(self.hashed, mode="r")
        self.stream: pa.NativeFile = pa.CompressedInputStream(python_file, "gzip") if compressed else python_file

    def read_all(self) -> bytes:
        """Every decompressed byte (for small files only)."""
        chunks = []
        while chunk := self.stream.read(8 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    def finish(self) -> str:
        """Read any remaining raw bytes and return the md5 of the whole file."""
        self.hashed.drain()
        return self.hashed.md5.hexdigest()

    def close(self) -> None:
        self.stream.close()
        self.hashed.close()

    def __enter__(self) -> OpenedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
