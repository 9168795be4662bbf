"""fsspec storage options for a URL: values parsed, S3 anonymous unless credentials exist, http auth out of the URL.

``s3://`` is anonymous unless AWS credentials are configured (environment, shared files, SSO, credential
process, container role; EC2 instance metadata is never probed: pass ``anon=false`` there), or auth options
are given (``--storage-option`` or fsspec's own config). A custom endpoint comes from ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3`` (read by botocore itself) or ``--storage-option endpoint_url=...``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import fsspec
import fsspec.config
import fsspec.utils

HTTP_PROTOCOLS = frozenset({"http", "https"})
S3_PROTOCOLS = frozenset({"s3", "s3a"})
# Options that say how to authenticate to S3: when any is given, the anonymous default is not applied.
S3_AUTH_OPTIONS = frozenset({"anon", "key", "secret", "token", "profile", "session", "username", "password"})


def parse_option_value(text: str) -> object:
    """A ``--storage-option`` value: JSON when it parses (``true``, ``8388608``, ``{"a": 1}``), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


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
    given = options.get("headers") or {}
    if not isinstance(given, Mapping):
        raise ValueError(f"the storage option headers must be a JSON object, not {given!r}")
    headers = dict(given)
    headers.setdefault(
        "Authorization", aiohttp.encode_basic_auth(unquote(parts.username or ""), unquote(parts.password or ""))
    )
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, {**options, "headers": headers}  # aiohttp drops the header on a redirect to another host
