"""Failure taxonomy: what a backend exception means (missing, denied, unreachable, cut) and its named error."""

from __future__ import annotations

import socket
import sys
from urllib.parse import urlsplit

from pipeline.core.errors import AccessDeniedError, SourceError, SourceNotFoundError, SourceUnreachableError
from pipeline.core.official import OfficialFile
from pipeline.read.redact import redact_text
from pipeline.read.storage_options import HTTP_PROTOCOLS


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _kind_of(exc: BaseException) -> str | None:
    """What a backend exception means: missing, denied, unreachable, cut, or None when it does not say.

    A backend's exception types are only looked up when its module is loaded (an exception of its type
    implies it is), so a local build never pays for importing aiohttp or botocore.
    """
    if isinstance(exc, socket.gaierror | ConnectionRefusedError):
        return "unreachable"
    if isinstance(exc, ConnectionResetError | EOFError):
        return "cut"
    if "aiohttp" in sys.modules:
        kind = _aiohttp_kind(exc)
        if kind is not None:
            return kind
    if "botocore.exceptions" in sys.modules:
        return _botocore_kind(exc)
    return None


def _aiohttp_kind(exc: BaseException) -> str | None:
    import aiohttp

    if isinstance(exc, aiohttp.ClientResponseError):
        return {404: "missing", 410: "missing", 401: "denied", 403: "denied"}.get(exc.status)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "unreachable"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return "cut"
    return None


def _botocore_kind(exc: BaseException) -> str | None:
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return "missing"
        if code in ("401", "403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return "denied"
        return None
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError):
        return "unreachable"
    if isinstance(exc, boto.ResponseStreamingError | boto.IncompleteReadError):
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
    root = _chain(exc)[-1]
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(root, aiohttp.ClientResponseError):
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
