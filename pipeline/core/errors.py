"""Named exceptions; the CLI turns each into an actionable message."""

from __future__ import annotations


class OilakeError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class SchemaError(OilakeError):
    """A schema file is invalid, or written data does not match its schema."""


class SourceError(OilakeError):
    """The source folder or a source file cannot be read."""


class HeaderError(SourceError):
    """A source file's header is not the one its family publishes."""

    def __init__(self, file: str, expected: list[list[str]], found: list[str] | None) -> None:
        self.file = file
        self.expected = expected
        self.found = found
        wanted = "\n        or: ".join(",".join(h) for h in expected)
        got = "an empty file" if found is None else ",".join(found)
        super().__init__(f"{file}: line 1: wrong header.\n  expected: {wanted}\n  found:    {got}")


class InputFormatError(SourceError):
    """A source file breaks its format in a way that no single row can be blamed for."""


class SourceNotFoundError(SourceError):
    """A remote source file is not (or no longer) at its URL (HTTP 404)."""


class AccessDeniedError(SourceError):
    """The source refuses access (HTTP 401/403, S3 AccessDenied): credentials or permissions."""


class SourceUnreachableError(SourceError):
    """The source's host cannot be reached (connection refused, unknown host, timeout)."""


class FetchError(OilakeError):
    """``oilake fetch`` could not download or verify every selected file."""


class RejectLimitError(OilakeError):
    """More rows were quarantined than ``--max-rejects`` allows."""

    def __init__(self, rejected: int, limit: int, examples: list[str]) -> None:
        self.rejected = rejected
        self.limit = limit
        self.examples = examples
        listing = "\n".join(f"  {e}" for e in examples)
        super().__init__(
            f"{rejected} row(s) rejected, more than --max-rejects={limit}; nothing was published.\n"
            f"First rejects:\n{listing}"
        )


class ReconciliationError(OilakeError):
    """Counts of a build do not add up; the build is not published."""


class LakeError(OilakeError):
    """The lake folder cannot be written or read."""


class MemoryBudgetError(OilakeError):
    """A build step in DuckDB needed more memory than the build's budget, even spilling to disk."""
