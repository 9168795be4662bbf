"""Where a release keeps its files: the manifest at its root, table T's in ``T/`` (``T/<key>=<value>/`` if partitioned).

The partition keys are the schema's ``partition_by``; nothing else in the code names them.
Paths are relative to a release (``posix`` strings), so the same rules serve a local folder
and an object-store prefix. A published file's name ends in a digest of its bytes
(``<stem>.<12 hex digits>.parquet``), so one name never means two contents across releases;
a table no source fed has one zero-row file (``<table>-empty``), in the first split's folder when
partitioned, so that engines that discover Hive partitions still find the key, typed as a string.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from pipeline.core.official import SPLITS
from pipeline.core.schema import TableSchema

MANIFEST = "_manifest.json"  # every release's record of what it holds, at its root
DIGEST_LENGTH = 12  # hex digits of the content digest in a published file's name
_NAMED = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})\.parquet$")
EMPTY_PARTITION = {"split": SPLITS[0]}  # the folder of a partitioned table's zero-row file


def files_pattern(table: str) -> str:
    """A glob (``pathlib`` and ``fsspec``) of every Parquet file of ``table``, at any depth."""
    return f"{table}/**/*.parquet"


def view_pattern(schema: TableSchema) -> str:
    """The glob a catalog view reads: one ``*`` folder per partition key, then the files."""
    return "/".join([schema.table, *("*" for _ in schema.partition_by), "*.parquet"])


def partition_path(schema: TableSchema, *values: str) -> str:
    """``boxes/split=train`` for ``partition_path(boxes, "train")``."""
    if len(values) != len(schema.partition_by):
        raise ValueError(f"{schema.table} is partitioned by {list(schema.partition_by)}, got values {list(values)}")
    return "/".join([schema.table, *(f"{key}={value}" for key, value in zip(schema.partition_by, values, strict=True))])


def file_path(schema: TableSchema, name: str, *values: str) -> str:
    """The path of one output file ``name`` of the table (in the partition of ``values``)."""
    return f"{partition_path(schema, *values)}/{name}"


def partition_fields(schema: TableSchema) -> list[pa.Field]:
    """The partition columns a reader adds from the path (Hive partitions are strings)."""
    return [pa.field(key, pa.string()) for key in schema.partition_by]


def table_dir(root: Path, table: str) -> Path:
    return root / table


def table_files(root: Path, table: str) -> list[Path]:
    """Every Parquet file of ``table`` under the release folder ``root``, sorted."""
    return sorted(root.glob(files_pattern(table))) if table_dir(root, table).is_dir() else []


def relative_files(root: Path, table: str) -> list[str]:
    """``table_files`` as paths relative to ``root``."""
    return [p.relative_to(root).as_posix() for p in table_files(root, table)]


def content_name(name: str, digest: str) -> str:
    """``a.parquet`` with the digest of its bytes: ``a.<first 12 hex digits>.parquet``."""
    return f"{name.removesuffix('.parquet')}.{digest[:DIGEST_LENGTH]}.parquet"


def named_digest(name: str) -> str | None:
    """The digest a file name carries (``content_name``), or None for a name without one."""
    found = _NAMED.match(name)
    return found.group("digest") if found else None


def empty_file_path(schema: TableSchema) -> str:
    """Where the zero-row file of a table no source fed goes (before ``content_name``)."""
    values = [EMPTY_PARTITION[key] for key in schema.partition_by]
    return file_path(schema, f"{schema.table}-empty.parquet", *values)
