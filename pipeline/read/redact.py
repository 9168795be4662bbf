"""Redact URLs for display: credentials in a URL never reach a log, an error or the manifest."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"sig|token|key|secret|pass|pwd|credential|auth|session", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


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
