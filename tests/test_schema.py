"""Schema files: type parsing, loading, and the contract with written Parquet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import SchemaError
from pipeline.core.schema import _load, all_schemas, mart_schemas, parse_type
from pipeline.resources import sql_dir


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("uint64", pa.uint64()),
        ("float32", pa.float32()),
        (
            "list<struct<x: float32 not null, y: float32, positive: bool not null>>",
            pa.list_(
                pa.struct(
                    [
                        pa.field("x", pa.float32(), nullable=False),
                        pa.field("y", pa.float32()),
                        pa.field("positive", pa.bool_(), nullable=False),
                    ]
                )
            ),
        ),
        ("list<list<int8>>", pa.list_(pa.list_(pa.int8()))),
    ],
)
def test_parse_type(text: str, expected: pa.DataType) -> None:
    assert parse_type(text) == expected


@pytest.mark.parametrize("text", ["float", "list<int8", "struct<x float32>", "int8 int8"])
def test_parse_type_rejects_nonsense(text: str) -> None:
    with pytest.raises(SchemaError):
        parse_type(text)


def test_every_public_table_is_declared() -> None:
    assert sorted(s.table for s in all_schemas().values() if not s.is_mart) == [
        "attributes", "boxes", "class_ancestors", "class_parts", "class_paths", "classes", "hierarchy", "human_parts_images", "image_labels", "images",
        "mask_pixels", "masks", "narratives", "rejects", "relationship_names", "relationship_triplets", "relationships",
    ]  # fmt: skip
    assert sorted(s.table for s in mart_schemas()) == [
        "attribute_rates", "box_geometry", "class_stats", "image_summary", "mask_stats", "relationship_stats",
    ]  # fmt: skip


def test_every_mart_has_its_sql_file_and_no_families() -> None:
    for schema in mart_schemas():
        assert (sql_dir() / "40_marts" / f"{schema.table}_live.sql").is_file()
        assert schema.families == () and schema.partition_by == ()
    assert {p.stem for p in (sql_dir() / "40_marts").glob("*.sql")} == {f"{s.table}_live" for s in mart_schemas()}


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.toml"
    path.write_text('table = "odd"\nkind = "cube"\ndescription = "x"\ncolumns = []\n')
    with pytest.raises(SchemaError, match="kind 'cube' is not one of table, mart"):
        _load(path)


@pytest.mark.parametrize("table", sorted(all_schemas()))
def test_schema_columns_are_snake_case_and_documented(table: str) -> None:
    schema = all_schemas()[table]
    assert schema.description
    for column in schema.columns:
        assert column.name == column.name.lower() and " " not in column.name
        assert column.description and column.source
    if schema.partition_by:
        assert schema.column_names[:2] == ["image_id", "image_id_u64"]


def test_fingerprint_changes_with_type() -> None:
    schema = all_schemas()["boxes"]
    assert len(schema.fingerprint) == 16
    assert schema.fingerprint != all_schemas()["masks"].fingerprint


def test_sample_lake_matches_declared_schemas(sample_lake: tuple[Path, dict[str, object]]) -> None:
    """The contract: every Parquet file written equals its table's declared schema."""
    lake, _ = sample_lake
    checked = set()
    for table, schema in all_schemas().items():
        for path in sorted((lake / table).rglob("*.parquet")):
            written = pq.read_schema(path).remove_metadata()
            assert written.equals(schema.arrow), f"{path} differs from schemas/{table}.toml"
            checked.add(table)
    assert checked == set(all_schemas())
