"""Find and open source files in a folder, an http(s) prefix or any fsspec URL.

Remote sources are streamed: http(s) files are read through one GET each (no whole-file buffer), object
stores (s3://, gs://, ...) in 8 MiB block reads. ``s3://`` is anonymous unless AWS credentials are
configured (environment, shared files, SSO, credential process, container role; EC2 instance metadata is
never probed: pass ``anon=false`` there), or auth options are given (``--storage-option`` or fsspec's own
config). A custom endpoint comes from ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` (read by botocore
itself) or ``--storage-option endpoint_url=...``. Every URL this module puts in a message goes through
``redact``, so credentials in a URL never reach a log, an error or the manifest.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO
from urllib.parse import unquote, urlsplit, urlunsplit

import fsspec
import fsspec.config
import fsspec.utils
import pyarrow as pa

from pipeline.core.errors import (
    AccessDeniedError,
    InputFormatError,
    OilakeError,
    SourceError,
    SourceNotFoundError,
    SourceUnreachableError,
)
from pipeline.core.official import OfficialFile
from pipeline.read.hashing import BackgroundMd5

COMPRESSED_SUFFIXES = (".gz",)
BLOCK_SIZE = 8 << 20
HTTP_PROTOCOLS = frozenset({"http", "https"})
S3_PROTOCOLS = frozenset({"s3", "s3a"})
# Options that say how to authenticate to S3: when any is given, the anonymous default is not applied.
S3_AUTH_OPTIONS = frozenset({"anon", "key", "secret", "token", "profile", "session", "username", "password"})

_SECRET_PARAM = re.compile(r"sig|token|key|secret|pass|pwd|credential|auth|session", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


# --- redaction ---------------------------------------------------------------------------------


def redact(uri: str) -> str:
    """``uri`` safe to show: ``user:password@`` becomes ``***@`` and secret-looking query values ``***``.

    >>> redact("https://me:pw@host/a?X-Amz-Signature=abc&x=1")
    'https://***@host/a?X-Amz-Signature=***&x=1'
    """
    if "::" in uri:  # fsspec URL chains: simplecache::s3://...
        return "::".join(redact(part) for part in uri.split("::"))
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _redact_param(param: str) -> str:
    name, sep, _ = param.partition("=")
    return f"{name}=***" if sep and _SECRET_PARAM.search(unquote(name)) else param


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (for messages that quote a library's exception)."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)


# --- storage options -----------------------------------------------------------------------------


def parse_option_value(text: str) -> object:
    """A ``--storage-option`` value: JSON when it parses (``true``, ``8388608``, ``{"a": 1}``), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_storage_options(items: Iterable[str]) -> dict[str, object]:
    """``KEY=VALUE`` items as fsspec options; raises ValueError on an item without ``=``."""
    options: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{item!r} is not KEY=VALUE")
        options[key.strip()] = parse_option_value(value)
    return options


def protocol_of(uri: str) -> str:
    """The fsspec protocol of ``uri`` (``file`` for a plain path)."""
    return fsspec.utils.get_protocol(uri)


def aws_credentials_found() -> bool:
    """Whether botocore's credential chain finds credentials, without probing EC2 instance metadata."""
    try:
        import botocore.session

        resolver = botocore.session.Session().get_component("credential_provider")
        resolver.remove("iam-role")  # the EC2 metadata service: a network call that hangs off EC2
        return resolver.load_credentials() is not None
    except Exception:  # a broken profile or credential process: let S3 report it in its own words
        return True


def resolve_storage_options(uri: str, options: Mapping[str, object] | None) -> dict[str, object]:
    """fsspec options for ``uri``: string values parsed (see ``parse_option_value``), s3 anonymous by default."""
    resolved = {k: parse_option_value(v) if isinstance(v, str) else v for k, v in (options or {}).items()}
    if protocol_of(uri) in S3_PROTOCOLS:
        configured = set(resolved)
        for protocol in S3_PROTOCOLS:
            configured |= set(fsspec.config.conf.get(protocol, {}))
        if not configured & S3_AUTH_OPTIONS:
            resolved["anon"] = not aws_credentials_found()
    return resolved


def http_credentials_out_of_url(uri: str, options: dict[str, object]) -> tuple[str, dict[str, object]]:
    """For ``http(s)://user:password@host/...``: the URL without them, and them as the client's basic auth.

    So file paths (which the manifest records) never hold the credentials.
    """
    if protocol_of(uri) not in HTTP_PROTOCOLS or "@" not in urlsplit(uri).netloc:
        return uri, options
    import aiohttp

    parts = urlsplit(uri)
    headers = dict(options.get("headers") or {})  # type: ignore[call-overload]
    headers.setdefault(
        "Authorization", aiohttp.encode_basic_auth(unquote(parts.username or ""), unquote(parts.password or ""))
    )
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, {**options, "headers": headers}  # aiohttp drops the header on a redirect to another host


# --- failures ------------------------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _kind_of(exc: BaseException) -> str | None:
    """What a backend exception means: missing, denied, unreachable, cut, or None when it does not say."""
    import aiohttp
    from botocore import exceptions as boto

    if isinstance(exc, aiohttp.ClientResponseError):
        return {404: "missing", 410: "missing", 401: "denied", 403: "denied"}.get(exc.status)
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return "missing"
        if code in ("401", "403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return "denied"
        return None
    if isinstance(
        exc,
        (aiohttp.ClientConnectorError, boto.EndpointConnectionError, boto.ConnectTimeoutError, socket.gaierror,
         ConnectionRefusedError),
    ):  # fmt: skip
        return "unreachable"
    if isinstance(
        exc,
        (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, boto.ResponseStreamingError,
         boto.IncompleteReadError, ConnectionResetError, EOFError),
    ):  # fmt: skip
        return "cut"
    return None


def failure_kind(exc: BaseException) -> str:
    """``missing``, ``denied``, ``unreachable``, ``cut`` or ``other``: the root cause first, then Python's types."""
    chain = _chain(exc)
    for cause in reversed(chain):
        kind = _kind_of(cause)
        if kind is not None:
            return kind
    for cause in chain:
        if isinstance(cause, PermissionError):
            return "denied"
        if isinstance(cause, FileNotFoundError):
            return "missing"
        if isinstance(cause, ConnectionError | TimeoutError):
            return "unreachable"
    return "other"


def _detail(exc: BaseException) -> str:
    """The root cause in a few words, URLs redacted."""
    import aiohttp

    root = _chain(exc)[-1]
    if isinstance(root, aiohttp.ClientResponseError):
        return f"HTTP {root.status} {root.message}".strip()
    text = str(root).strip() or type(root).__name__
    return redact_text(text.splitlines()[0])


def _describe(official: OfficialFile) -> str:
    split = f", split {official.split}" if official.split else ""
    return f"{official.name} (family {official.family}{split})"


def source_error(exc: BaseException, url: str, official: OfficialFile, action: str = "read") -> SourceError:
    """The named error for a failure to ``action`` ``url``, which holds ``official``."""
    kind, what = failure_kind(exc), _describe(official)
    if kind == "missing":
        return SourceNotFoundError(f"file not found at {url}: {what}")
    if kind == "denied":
        return AccessDeniedError(f"access denied to {url}: {what} ({_detail(exc)})")
    if kind == "unreachable":
        parts = urlsplit(url)
        where = parts.netloc.rpartition("@")[2] if parts.scheme in HTTP_PROTOCOLS else f"the service holding {url}"
        return SourceUnreachableError(f"cannot connect to {where} to {action} {what}: {_detail(exc)}")
    return SourceError(f"cannot {action} {url}: {what}: {_detail(exc)}")


# --- files ---------------------------------------------------------------------------------------


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


class HashingReader:
    """A read-only file wrapper that computes md5 and counts bytes as they pass.

    Given the ``file`` it reads, it also turns backend errors into named errors, fills short reads,
    and at the end of the data checks that the advertised size arrived (a cut transfer is an error,
    not a short file) and that a file of exactly the official size has the official md5.
    """

    def __init__(self, raw: IO[bytes], file: SourceFile | None = None, url: str = "") -> None:
        self._raw = raw
        self._file = file
        self._url = url
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
            self._raw.close()
            self.md5.close()
            self.closed = True


class OpenedSource:
    """An open source file: ``stream`` gives decompressed bytes, ``hashed`` the raw md5."""

    def __init__(self, raw: IO[bytes], compressed: bool, file: SourceFile | None = None, url: str = "") -> None:
        self.hashed = HashingReader(raw, file, url)
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
