"""Named exceptions, each with a ``hint`` saying what to do; the CLI prints both."""

from __future__ import annotations


class OilakeError(Exception):
    """Base class of every error the pipeline raises on purpose.

    ``hint`` is the class's advice; pass ``hint=`` to give one raise its own.
    """

    hint: str = "`oilake COMMAND -h` explains the command's options, with examples"

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint


class SchemaError(OilakeError):
    """A schema file is invalid, or written data does not match its schema."""

    hint = "schemas/ and the written data disagree: a bug in oilake or an edited schemas/ file; report it"


class SourceError(OilakeError):
    """The source folder or a source file cannot be read."""

    hint = "check --source: a folder or URL holding files under their official names"


class HeaderError(SourceError):
    """A source file's header is not the one its family publishes."""

    hint = "the file is not in the official format for its name; check that it is the right file"

    def __init__(self, file: str, expected: list[list[str]], found: list[str] | str | None) -> None:
        self.file = file
        self.expected = expected
        self.found = found
        wanted = "\n        or: ".join(",".join(h) for h in expected)
        got = "an empty file" if found is None else found if isinstance(found, str) else ",".join(found)
        super().__init__(f"{file}: line 1: wrong header.\n  expected: {wanted}\n  found:    {got}")


class InputFormatError(SourceError):
    """A source file breaks its format in a way that no single row can be blamed for."""

    hint = "the file is damaged or not in its official format; download it again (`.gz` files are read as gzip)"


class SourceNotFoundError(SourceError):
    """A remote source file is not (or no longer) at its URL (HTTP 404)."""

    hint = "the file was listed but could not be read: check that --source still holds it, and retry"


class AccessDeniedError(SourceError):
    """The source refuses access (HTTP 401/403, S3 AccessDenied): credentials or permissions."""

    hint = (
        "s3:// is read anonymously unless AWS credentials are configured (AWS_ACCESS_KEY_ID/AWS_PROFILE or "
        "~/.aws); give them, or --storage-option anon=false / key=... secret=...; for http(s), put user:password@ "
        "in the URL"
    )


class SourceUnreachableError(SourceError):
    """The source's host cannot be reached (connection refused, unknown host, timeout)."""

    hint = (
        "check the host and port in --source (for S3: AWS_ENDPOINT_URL or --storage-option endpoint_url=...) "
        "and that the server is up"
    )


class FetchError(OilakeError):
    """``oilake fetch`` could not download or verify every selected file."""

    hint = "check --dest: a folder, or an object-store URL that the credentials can write"


class FileListError(OilakeError):
    """A ``--file-list`` cannot be read as a list of official files."""

    hint = "use the columns of pipeline/data/official-files.tsv"


class RejectLimitError(OilakeError):
    """More rows were quarantined than ``--max-rejects`` allows."""

    hint = "fix the source rows, or pass --max-rejects N to publish with them quarantined in `rejects`"

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

    hint = "nothing was published; counts that do not add up are a bug in oilake: report it with this message"


class LakeError(OilakeError):
    """The lake folder cannot be written or read."""

    hint = (
        "pass --lake the folder or URL that `oilake build --lake` wrote; "
        "`oilake releases --lake LAKE` lists its releases"
    )


class VerifyError(LakeError):
    """A published release differs from its manifest."""

    hint = "rebuild with `oilake build --full`"


class QueryError(OilakeError):
    """DuckDB rejected a query (or a ``--where`` condition) on the catalog."""

    hint = "the catalog's views and columns are listed in docs/views.md"


class MemoryBudgetError(OilakeError):
    """A build step in DuckDB needed more memory than the build's budget, even spilling to disk."""

    hint = "set OILAKE_DUCKDB_MEMORY higher (e.g. OILAKE_DUCKDB_MEMORY=2GB), or build fewer families at once (--only)"


class BenchError(OilakeError):
    """The benchmark cannot run here, or one of its runs failed."""

    hint = "run it from a clone of the repository: `make bench` installs the benchmark extra and runs it"


class EvaluationError(OilakeError):
    """``oilake evaluate`` cannot score the predictions against the lake."""

    hint = "`oilake evaluate -h` lists the prediction formats and the options, with examples"


class PredictionsError(EvaluationError):
    """A predictions file is not in a form ``oilake evaluate`` reads (named with its file, line and column)."""

    hint = (
        "predictions are the official CSV (ImageID,LabelName,Score,XMin,XMax,YMin,YMax; for relationships the "
        "VRD columns), the same columns as Parquet, or the Kaggle form (ImageId,PredictionString)"
    )


class MaskNotFoundError(OilakeError):
    """A mask path is not in the lake's ``mask_pixels`` table (or is not a mask path at all)."""

    hint = (
        "mask paths are mask_pixels.mask_path, `<ImageID>_<MID without slashes>_<BoxID>.png`; "
        '`oilake sql "select mask_path from mask_pixels limit 5"` lists some'
    )


class MaskSelectionError(OilakeError):
    """A mask selection, target size or export cannot be served as asked (named with the value at fault)."""

    hint = "docs/masks.md explains the selections, the mask grid and the sizes (height, width)"
