"""Stream the members of a zip archive (a local file, http(s) or any fsspec URL) with range reads.

The end records and the central directory are read from the end of the file (Zip64 accepted: a train
mask archive holds ~168k members), then the members' bytes in spans of consecutive members, so an
archive is never unpacked to disk nor held whole in memory. A damaged archive (truncated, no end record,
a directory or local header that does not add up) raises ``ZipArchiveError`` naming it; a member whose own
bytes are bad (CRC-32, deflate data, encryption, method) comes out with ``error`` set, for the caller to reject.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import fsspec

from pipeline.core.errors import AccessDeniedError, SourceError, SourceNotFoundError, SourceUnreachableError
from pipeline.masks.errors import ZipArchiveError
from pipeline.read.failures import failure_kind
from pipeline.read.redact import redact, redact_text
from pipeline.read.storage_options import http_credentials_out_of_url, resolve_storage_options
from pipeline.read.threads import prefetch

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header
_MAX_COMMENT = 0xFFFF
DIRECTORY_CHUNK = 4 << 20  # the central directory is read this many bytes at a time
SPAN = 8 << 20  # consecutive members are read together, up to this many bytes a request
_SLACK = 1024  # room for a local header's extra field, which the central directory does not give
_GAP = 64 << 10  # members this close are read in one request
MAX_MEMBER = 16 << 20  # a member claiming more is refused, not inflated (a 1600x1600 1-bit mask is ~320 KB)


@dataclass(frozen=True)
class ZipEntry:
    """One member as the central directory describes it."""

    name: str
    offset: int  # of its local header
    compressed_size: int
    size: int
    crc: int
    method: int
    flags: int
    name_bytes: bytes


@dataclass(frozen=True)
class Member:
    """A member's name and bytes; ``error`` says why its bytes could not be taken out (``data`` is then empty)."""

    name: str
    data: bytes
    error: str | None = None


class RangeReader(Protocol):
    """Random access to a file's bytes: its ``size`` and ``read(start, end)`` (``end`` exclusive)."""

    size: int
    display: str

    def read(self, start: int, end: int) -> bytes: ...

    def close(self) -> None: ...


class LocalRanges:
    """A local file read with ``os.pread``."""

    def __init__(self, path: str) -> None:
        self.display = path
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise SourceNotFoundError(f"{os.path.basename(path)}: archive not found at {path}") from exc
        except OSError as exc:
            raise SourceError(f"cannot open archive {path}: {exc.strerror or exc}") from exc
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(self._fd)
            raise SourceError(f"{path} is not a regular file: an archive must be a file (or a link to one)")
        self.size = info.st_size

    def read(self, start: int, end: int) -> bytes:
        return os.pread(self._fd, end - start, start)

    def close(self) -> None:
        os.close(self._fd)


class FsspecRanges:
    """A file behind an fsspec filesystem, read by ranges (an http(s) ``Range`` request per read)."""

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str, size: int | None = None, display: str = "") -> None:
        self.fs, self.path = fs, path
        self.display = display or redact(path)
        self.requests = 0
        if size is None:
            try:
                size = self.fs.size(path)
            except Exception as exc:  # each backend has its own types: _backend_error sorts them
                raise _backend_error(exc, self.display, "look up") from exc
        if not isinstance(size, int):
            raise SourceError(
                f"{self.display}: the server does not give the archive's size, so it cannot be range-read"
            )
        self.size = size

    def read(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        self.requests += 1
        try:
            data = self.fs.cat_file(self.path, start=start, end=end)
        except Exception as exc:
            raise _backend_error(exc, self.display) from exc
        if len(data) > end - start:
            raise SourceError(
                f"{self.display}: the server ignored a Range request (asked for {end - start:,} bytes, sent "
                f"{len(data):,}): a zip archive is read by ranges",
                hint="serve the archives from a server or object store that answers Range requests (HTTP 206)",
            )
        return bytes(data)

    def close(self) -> None:
        pass


class HashedRanges:
    """A ``RangeReader`` that md5-hashes the file as reads pass over it in order; ``finish`` reads what they skipped.

    The members are read from the front in offset order, so the hash follows them; ``finish`` then reads only
    the central directory and the end records again (about 0.3% of a train archive) to give the whole file's md5.
    """

    def __init__(self, reader: RangeReader) -> None:
        self.reader = reader
        self.size, self.display = reader.size, reader.display
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hashed = 0  # bytes [0, _hashed) are in the hash
        self._lock = threading.Lock()

    def read(self, start: int, end: int) -> bytes:
        data = self.reader.read(start, end)
        with self._lock:
            if start <= self._hashed < start + len(data):
                self._md5.update(memoryview(data)[self._hashed - start :])
                self._hashed = start + len(data)
        return data

    def close(self) -> None:
        self.reader.close()

    @property
    def hashed(self) -> int:
        """Bytes from the start of the file hashed so far (a progress measure)."""
        return self._hashed

    def finish(self) -> str:
        """The md5 of the whole file (hex), reading the bytes no earlier read passed over in order."""
        with self._lock:
            while self._hashed < self.size:
                data = self.reader.read(self._hashed, min(self.size, self._hashed + SPAN))
                if not data:
                    name = self.display.rstrip("/").rsplit("/", 1)[-1]
                    raise ZipArchiveError(f"{name}: truncated: it ends at byte {self._hashed:,} of {self.size:,}")
                self._md5.update(data)
                self._hashed += len(data)
            return self._md5.hexdigest()


def _ends_with_comment(tail: bytes, at: int) -> bool:
    """Whether an end record at ``at`` is followed by exactly its comment, up to the end of the file."""
    return at + _EOCD.size <= len(tail) and at + _EOCD.size + struct.unpack_from("<H", tail, at + 20)[0] == len(tail)


def _detail(exc: BaseException) -> str:
    """The root cause of a backend failure in a few words, URLs redacted."""
    import aiohttp

    while (cause := exc.__cause__ or exc.__context__) is not None and cause is not exc:
        exc = cause
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}".strip()
    message = getattr(exc, "message", None)  # aiohttp's payload errors keep their words here
    text = (message if isinstance(message, str) and message else str(exc)).strip()
    return redact_text(text.splitlines()[0]) if text else type(exc).__name__


def _backend_error(exc: BaseException, display: str, action: str = "read") -> Exception:
    kind, detail, name = failure_kind(exc), _detail(exc), display.rstrip("/").rsplit("/", 1)[-1]
    if kind == "missing":
        return SourceNotFoundError(f"{name}: archive not found at {display}")
    if kind == "denied":
        return AccessDeniedError(f"{name}: access denied to {display} ({detail})")
    if kind == "unreachable":
        return SourceUnreachableError(f"{name}: cannot connect to {action} {display} ({detail})")
    if kind == "cut":
        return ZipArchiveError(f"{name}: the transfer was cut while reading the archive from {display} ({detail})")
    return SourceError(f"{name}: cannot {action} {display} ({detail})")


def open_ranges(url: str, storage_options: Mapping[str, object] | None = None, size: int | None = None) -> RangeReader:
    """A ``RangeReader`` for a local path, an http(s) URL or any fsspec URL (credentials kept out of messages)."""
    if "://" not in url and "::" not in url:
        return LocalRanges(url)
    target, options = http_credentials_out_of_url(url, resolve_storage_options(url, storage_options))
    try:
        fs, path = fsspec.core.url_to_fs(target, **options)
    except (ValueError, ImportError, TypeError) as exc:
        raise SourceError(f"cannot open archive {redact(url)!r}: {redact_text(str(exc))}") from exc
    return FsspecRanges(fs, path, size, redact(url))


class ZipArchive:
    """A zip archive read by ranges: ``len()`` members, ``entries()`` from the directory, ``members()`` with bytes."""

    def __init__(self, reader: RangeReader, name: str | None = None) -> None:
        self.reader = reader
        self.name = name or reader.display.rstrip("/").rsplit("/", 1)[-1]
        try:
            self.count, self.directory_offset, self.directory_size = self._locate()
        except BaseException:
            reader.close()
            raise

    def __len__(self) -> int:
        return self.count

    def __enter__(self) -> ZipArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.reader.close()

    def fail(self, what: str) -> ZipArchiveError:
        """The error for a damaged archive: its name, ``what`` is wrong, and where it was read from."""
        return self._fail(what)

    def _fail(self, what: str) -> ZipArchiveError:
        where = f" ({self.reader.display})" if self.reader.display != self.name else ""
        return ZipArchiveError(f"{self.name}: {what}{where}")

    def _read(self, start: int, end: int) -> bytes:
        data = self.reader.read(start, end)
        if len(data) < end - start:
            raise self._fail(
                f"truncated: reading bytes {start:,}-{end:,} gave only {len(data):,} bytes although the archive "
                f"is said to be {self.reader.size:,} bytes"
            )
        return data

    def _locate(self) -> tuple[int, int, int]:
        """Members, offset and size of the central directory, from the end record (Zip64 if present)."""
        size = self.reader.size
        tail_start = max(0, size - (_EOCD.size + _MAX_COMMENT + _ZIP64_LOCATOR.size))
        tail = self._read(tail_start, size)
        at = tail.rfind(b"PK\x05\x06")
        while at >= 0 and not _ends_with_comment(tail, at):
            at = tail.rfind(b"PK\x05\x06", 0, at)  # "PK\5\6" inside the comment: look further back
        if at < 0:
            raise self._fail(
                f"no end-of-central-directory record in its last {len(tail):,} bytes ({size:,} bytes in all): "
                "the archive is truncated or not a zip file"
            )
        _, disk, directory_disk, _, count, directory_size, directory_offset, _ = _EOCD.unpack_from(tail, at)
        end = tail_start + at
        locator = at - _ZIP64_LOCATOR.size
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            _, _, record_offset, disks = _ZIP64_LOCATOR.unpack_from(tail, locator)
            if record_offset + _ZIP64_EOCD.size > tail_start + locator:
                raise self._fail(f"the Zip64 locator points past itself (to byte {record_offset:,}): corrupt")
            record = self._read(record_offset, record_offset + _ZIP64_EOCD.size)
            if record[:4] != b"PK\x06\x06":
                raise self._fail(f"no Zip64 end record at byte {record_offset:,}: the archive is corrupt")
            fields = _ZIP64_EOCD.unpack(record)
            disk, directory_disk, count, directory_size, directory_offset = (
                fields[4], fields[5], fields[7], fields[8], fields[9],
            )  # fmt: skip
            end = record_offset
            if disks > 1:
                disk = 1
        if disk or directory_disk:
            raise self._fail("it spans several disks (a split archive); join the parts into one file first")
        if directory_offset + directory_size > end:
            raise self._fail(
                f"the central directory (bytes {directory_offset:,}-{directory_offset + directory_size:,}) runs "
                f"past its end record at byte {end:,}: the archive is corrupt"
            )
        return count, directory_offset, directory_size

    def entries(self) -> Iterator[ZipEntry]:
        """The central directory's entries in its order, read ``DIRECTORY_CHUNK`` bytes at a time."""
        position, stop = self.directory_offset, self.directory_offset + self.directory_size
        buffer, at, seen = b"", 0, 0

        def fill(needed: int) -> None:
            nonlocal buffer, at, position
            while len(buffer) - at < needed and position < stop:
                chunk_end = min(stop, position + DIRECTORY_CHUNK)
                buffer, at = buffer[at:] + self._read(position, chunk_end), 0
                position = chunk_end

        while True:
            fill(_CENTRAL.size)
            if len(buffer) - at < _CENTRAL.size:
                break
            here = position - (len(buffer) - at)  # the entry's byte in the archive
            fields = _CENTRAL.unpack_from(buffer, at)
            if fields[0] != b"PK\x01\x02":
                raise self._fail(f"central directory entry {seen + 1:,} at byte {here:,} has no signature: corrupt")
            name_length, extra_length, comment_length = fields[12], fields[13], fields[14]
            length = _CENTRAL.size + name_length + extra_length + comment_length
            fill(length)
            if len(buffer) - at < length:
                raise self._fail(f"central directory entry {seen + 1:,} at byte {here:,} runs past the directory's end")
            name_at = at + _CENTRAL.size
            name_bytes = buffer[name_at : name_at + name_length]
            extra = buffer[name_at + name_length : name_at + name_length + extra_length]
            yield self._entry(fields, name_bytes, extra)
            at += length
            seen += 1
        if seen != self.count or at != len(buffer):
            raise self._fail(
                f"the central directory holds {seen:,} entries in {self.directory_size:,} bytes, the end record "
                f"says {self.count:,}: the archive is corrupt"
            )

    def _entry(self, fields: tuple[Any, ...], name_bytes: bytes, extra: bytes) -> ZipEntry:
        flags, method, crc = int(fields[5]), int(fields[6]), int(fields[9])
        compressed, size, offset = int(fields[10]), int(fields[11]), int(fields[18])
        if 0xFFFFFFFF in (compressed, size, offset):
            compressed, size, offset = self._zip64_extra(extra, compressed, size, offset, name_bytes)
        name = name_bytes.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        return ZipEntry(name, offset, compressed, size, crc, method, flags, name_bytes)

    def _zip64_extra(self, extra: bytes, compressed: int, size: int, offset: int, name: bytes) -> tuple[int, int, int]:
        at = 0
        while at + 4 <= len(extra):
            tag, length = struct.unpack_from("<2H", extra, at)
            if tag == 0x0001:
                values = list(struct.unpack_from(f"<{min(length, 24) // 8}Q", extra, at + 4))
                if size == 0xFFFFFFFF and values:
                    size = values.pop(0)
                if compressed == 0xFFFFFFFF and values:
                    compressed = values.pop(0)
                if offset == 0xFFFFFFFF and values:
                    offset = values.pop(0)
                return compressed, size, offset
            at += 4 + length
        raise self._fail(f"member {name.decode('utf-8', 'replace')!r} needs a Zip64 extra field and has none: corrupt")

    def _spans(self) -> Iterator[tuple[int, bytes, list[ZipEntry]]]:
        """Runs of consecutive members, each read in one request: (start, bytes, entries)."""
        limit = self.directory_offset  # members lie before the central directory
        group: list[ZipEntry] = []
        start = end = 0
        for entry in self.entries():
            if _refused(entry) is not None:  # its bytes are not read at all
                if group:
                    yield start, self._read(start, min(end, limit)), group
                    group = []
                yield entry.offset, b"", [entry]
                continue
            reach = entry.offset + _LOCAL.size + len(entry.name_bytes) + entry.compressed_size + _SLACK
            if group and (entry.offset < start or entry.offset > end + _GAP or reach - start > SPAN):
                yield start, self._read(start, min(end, limit)), group
                group = []
            if not group:
                start = entry.offset
                if start >= limit:
                    raise self._fail(f"member {entry.name!r} starts at byte {start:,}, inside the central directory")
            group.append(entry)
            end = max(end, reach) if len(group) > 1 else reach
        if group:
            yield start, self._read(start, min(end, limit)), group

    def members(self, read_ahead: int = 2) -> Iterator[Member]:
        """Every member with its bytes, in directory order; ``read_ahead`` spans are read in the background."""
        spans = prefetch(self._spans(), read_ahead) if read_ahead > 0 else self._spans()
        for start, data, group in spans:
            for entry in group:
                yield self._member(entry, start, data)

    def _member(self, entry: ZipEntry, start: int, span: bytes) -> Member:
        refused = _refused(entry)
        if refused is not None:
            return Member(entry.name, b"", refused)
        at = entry.offset - start
        if at + _LOCAL.size > len(span) or span[at : at + 4] != b"PK\x03\x04":
            raise self._fail(f"member {entry.name!r}: no local header at byte {entry.offset:,}: corrupt")
        fields = _LOCAL.unpack_from(span, at)
        name_length, extra_length = fields[9], fields[10]
        begin = entry.offset + _LOCAL.size + name_length + extra_length
        finish = begin + entry.compressed_size
        if finish > self.directory_offset:
            raise self._fail(f"member {entry.name!r}: its data runs into the central directory: corrupt")
        name_at = at + _LOCAL.size
        if span[name_at : name_at + name_length] != entry.name_bytes and name_at + name_length <= len(span):
            raise self._fail(f"member {entry.name!r}: its local header names another file: corrupt")
        # a local extra field longer than the slack: read this member alone
        raw = span[begin - start : finish - start] if finish - start <= len(span) else self._read(begin, finish)
        return _extract(entry, raw)


def _refused(entry: ZipEntry) -> str | None:
    """Why a member's bytes are not even read (encrypted, too large, a method other than stored or deflate)."""
    if entry.flags & 0x1:
        return "encrypted zip member"
    if max(entry.size, entry.compressed_size) > MAX_MEMBER:
        return f"zip member of {max(entry.size, entry.compressed_size):,} bytes is larger than a mask can be"
    if entry.method not in (0, 8):
        return f"zip compression method {entry.method} (only stored and deflate are read)"
    return None


def _extract(entry: ZipEntry, raw: bytes) -> Member:
    if entry.method == 0:
        data = raw
    else:  # 8, deflate (``_refused`` let no other method through)
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, entry.size + 1)
        except zlib.error as exc:
            return Member(entry.name, b"", f"zip member's deflate data is corrupt ({exc})")
        if not inflater.eof:
            return Member(entry.name, b"", "zip member's deflate data is truncated or longer than its size")
    if len(data) != entry.size:
        return Member(entry.name, b"", f"zip member holds {len(data):,} bytes, its directory entry says {entry.size:,}")
    if zlib.crc32(data) != entry.crc:
        return Member(entry.name, b"", "zip member fails its CRC-32 check")
    return Member(entry.name, data)


def open_archive(
    url: str, storage_options: Mapping[str, object] | None = None, size: int | None = None, name: str | None = None
) -> ZipArchive:
    """Open the zip archive at ``url`` (path, http(s) or fsspec URL); ``size``, when known, saves a HEAD."""
    return ZipArchive(open_ranges(url, storage_options, size), name)


def iter_members(url: str, storage_options: Mapping[str, object] | None = None) -> Iterator[Member]:
    """Every member of the archive at ``url``, name and bytes, streamed."""
    with open_archive(url, storage_options) as archive:
        yield from archive.members()
