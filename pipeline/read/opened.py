"""An open source file: decompressed bytes out; the raw bytes hashed, counted and checked as they pass.

A cut transfer is an error, not a short file; a file of exactly the official size must have the official md5.
"""

from __future__ import annotations

from typing import IO

import pyarrow as pa

from pipeline.core.errors import InputFormatError, OilakeError
from pipeline.read.failures import failure_kind, source_error
from pipeline.read.files import SourceFile
from pipeline.read.hashing import BackgroundMd5
from pipeline.read.page_cache import DropBehind


class HashingReader:
    """A read-only file wrapper that computes md5 and counts bytes as they pass.

    Given the ``file`` it reads, it also turns backend errors into named errors, fills short reads,
    and at the end of the data checks that the advertised size arrived (a cut transfer is an error,
    not a short file) and that a file of exactly the official size has the official md5.
    """

    def __init__(
        self, raw: IO[bytes], file: SourceFile | None = None, url: str = "", drop: DropBehind | None = None
    ) -> None:
        self._raw = raw
        self._file = file
        self._url = url
        self._drop = drop  # drops the pages read from the page cache (sources larger than memory)
        self.md5 = BackgroundMd5()
        self.bytes_read = 0
        self.closed = False
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        data = self._read_raw(size)
        if size is None or size < 0 or not data or len(data) >= size:
            return data
        parts = [data]  # a short read (a network stream): fill up to ``size`` or the end
        missing = size - len(data)
        while missing > 0 and (more := self._read_raw(missing)):
            parts.append(more)
            missing -= len(more)
        return b"".join(parts)

    def _read_raw(self, size: int) -> bytes:
        try:
            data = self._raw.read(size)
        except OilakeError:
            raise
        except Exception as exc:  # each backend has its own types: _failed sorts them
            raise self._failed(exc) from exc
        self.md5.update(data)
        self.bytes_read += len(data)
        if self._drop is not None:
            self._drop.advance(self.bytes_read, final=not data)
        if not data and size != 0 and not self._ended:
            self._ended = True
            self._check_end()
        return data

    def _failed(self, exc: Exception) -> Exception:
        file = self._file
        if file is None:
            return exc
        if failure_kind(exc) == "cut":
            expected = f" of {file.size:,}" if file.size is not None else ""
            return InputFormatError(
                f"{file.name}: truncated transfer from {self._url}: the connection was cut after "
                f"{self.bytes_read:,}{expected} bytes were read"
            )
        return source_error(exc, self._url, file.official)

    def _check_end(self) -> None:
        file = self._file
        if file is None:
            return
        if file.size is not None and self.bytes_read < file.size:
            raise InputFormatError(
                f"{file.name}: truncated transfer from {self._url}: the data ended after {self.bytes_read:,} "
                f"of the {file.size:,} bytes advertised"
            )
        official = file.official
        if not file.compressed and official.md5 and official.bytes == self.bytes_read:
            md5 = self.md5.hexdigest()
            if md5 != official.md5:
                raise InputFormatError(
                    f"{file.name}: md5 {md5} differs from the official {official.md5} although the size is the "
                    f"official {official.bytes:,} bytes: the file is corrupt (from {self._url})"
                )

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
            if self._drop is not None:
                self._drop.advance(self.bytes_read, final=True)
            self._raw.close()
            self.md5.close()
            self.closed = True


class OpenedSource:
    """An open source file: ``stream`` gives decompressed bytes, ``hashed`` the raw md5."""

    def __init__(
        self,
        raw: IO[bytes],
        compressed: bool,
        file: SourceFile | None = None,
        url: str = "",
        drop: DropBehind | None = None,
    ) -> None:
        self.hashed = HashingReader(raw, file, url, drop)
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
