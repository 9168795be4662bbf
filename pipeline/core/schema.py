"""Lake table schemas, loaded from the declarative files in ``schemas/``.

The TOML files are the single source of truth: the pipeline builds its Arrow
schemas from them, the data dictionary is generated from them, and the
contract tests compare written Parquet against them.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa

from pipeline.core.errors import SchemaError
from pipeline.resources import schemas_dir

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
}


@dataclass(frozen=True)
class Column:
    """One declared column of a lake table."""

    name: str
    type: str
    nullable: bool
    source: str
    description: str

    @property
    def arrow_type(self) -> pa.DataType:
        return parse_type(self.type)

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.arrow_type, nullable=self.nullable)


@dataclass(frozen=True)
class TableSchema:
    """A lake table: its columns, partitioning and sort order."""

    table: str
    description: str
    families: tuple[str, ...]
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]
    columns: tuple[Column, ...]
    kind: str = "table"  # "table": fed by source files; "mart": materialized from sql/40_marts/<table>_live.sql
    slice_by: str | None = None  # a mart computed in disjoint ranges of this key of every table that has it
    slice_sum: tuple[str, ...] = ()  # columns added up across the slices (the rest group); empty: rows are disjoint
    split_local: bool = False  # a mart whose rows of a split read only that split (and unpartitioned tables)

    @property
    def is_mart(self) -> bool:
        return self.kind == "mart"

    @property
    def arrow(self) -> pa.Schema:
        """The Arrow schema of the Parquet files (partition columns live in the path)."""
        return pa.schema([c.field for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def fingerprint(self) -> str:
        """A stable hash of names, order, types and nullability."""
        text = json.dumps([[c.name, str(c.arrow_type), c.nullable] for c in self.columns] + [list(self.partition_by)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


KINDS = ("table", "mart", "evaluation")

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*|<|>|,|:)\s*")


def parse_type(text: str) -> pa.DataType:
    """Parse a declared type such as ``list<struct<x: float32 not null>>``."""
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise SchemaError(f"cannot parse type {text!r}")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise SchemaError(f"type {text!r} ends early")
        token = tokens[pos]
        if expected is not None and token != expected:
            raise SchemaError(f"type {text!r}: expected {expected!r}, found {token!r}")
        pos += 1
        return token

    def data_type() -> pa.DataType:
        name = take()
        if name == "list":
            take("<")
            item = data_type()
            take(">")
            return pa.list_(pa.field("item", item, nullable=not not_null()))
        if name == "struct":
            take("<")
            fields = []
            while True:
                field_name = take()
                take(":")
                field_type = data_type()
                fields.append(pa.field(field_name, field_type, nullable=not not_null()))
                if peek() == ",":
                    take(",")
                    continue
                take(">")
                return pa.struct(fields)
        if name not in _PRIMITIVES:
            raise SchemaError(f"type {text!r}: unknown type {name!r}")
        return _PRIMITIVES[name]

    def not_null() -> bool:
        if peek() == "not":
            take("not")
            take("null")
            return True
        return False

    result = data_type()
    if pos != len(tokens):
        raise SchemaError(f"type {text!r}: unexpected {tokens[pos]!r}")
    return result


def _load(path: Path) -> TableSchema:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        columns = tuple(Column(**c) for c in raw["columns"])
        schema = TableSchema(
            table=raw["table"],
            description=raw["description"],
            families=tuple(raw.get("families", ())),
            partition_by=tuple(raw.get("partition_by", ())),
            sort_by=tuple(raw.get("sort_by", ())),
            columns=columns,
            kind=raw.get("kind", "table"),
            slice_by=raw.get("slice_by"),
            slice_sum=tuple(raw.get("slice_sum", ())),
            split_local=raw.get("split_local", False),
        )
    except (KeyError, TypeError) as exc:
        raise SchemaError(f"{path}: invalid schema file ({exc})") from exc
    if schema.kind not in KINDS:
        raise SchemaError(f"{path}: kind {schema.kind!r} is not one of {', '.join(KINDS)}")
    if schema.table != path.stem:
        raise SchemaError(f"{path}: table {schema.table!r} must match the file name")
    for column in columns:
        column.arrow_type  # noqa: B018 - validates the type early
    _check_slices(path, schema)
    if schema.split_local and (schema.kind != "mart" or "split" not in schema.column_names):
        raise SchemaError(f"{path}: split_local needs a mart with a split column")
    return schema


def _check_slices(path: Path, schema: TableSchema) -> None:
    """A sliced mart names a key and sums only integer columns it declares."""
    if schema.slice_by is None:
        if schema.slice_sum:
            raise SchemaError(f"{path}: slice_sum needs slice_by")
        return
    if schema.kind != "mart":
        raise SchemaError(f"{path}: only a mart can declare slice_by")
    types = {c.name: c.type for c in schema.columns}
    for name in schema.slice_sum:
        if not types.get(name, "").startswith(("int", "uint")):
            raise SchemaError(f"{path}: slice_sum column {name!r} is not a declared integer column")


@cache
def all_schemas() -> dict[str, TableSchema]:
    """Every declared table, by name, in file-name order."""
    return {p.stem: _load(p) for p in sorted(schemas_dir().glob("*.toml"))}


@cache
def output_schemas(group: str) -> dict[str, TableSchema]:
    """The declared outputs of a command (``schemas/<group>/*.toml``, e.g. ``evaluation``), by name."""
    return {p.stem: _load(p) for p in sorted((schemas_dir() / group).glob("*.toml"))}


def mart_schemas() -> list[TableSchema]:
    """The marts: tables materialized at build time from the query layer."""
    return [s for s in all_schemas().values() if s.is_mart]


def table_schema(table: str) -> TableSchema:
    """The declared schema of one table."""
    try:
        return all_schemas()[table]
    except KeyError:
        raise SchemaError(f"no schema declared for table {table!r}") from None
