"""Other engines read the lake's folders as they are: every table has a file, names are release-safe.

pyarrow.dataset and Polars read each table straight from ``LAKE/<table>`` (Hive partitions
discovered from the paths) and must equal the DuckDB catalog value for value, on the sample lake
and on a ``--only boxes`` lake whose other tables no source fed. Spark and Dask read the same
folders in ``make interop`` (tests/interop/).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.catalog.ddl import spark_statements, spark_string, spark_type
from pipeline.cli import cli
from pipeline.core.contract import FileReport, Pointer
from pipeline.core.errors import LakeError, OilakeError
from pipeline.core.layout import content_name, empty_file_path, named_digest, partition_fields
from pipeline.core.schema import all_schemas, parse_type, table_schema
from pipeline.lake.pin import pin_release
from pipeline.lake.verify import verify_lake
from pipeline.resources import sample_dir
from tests.conftest import VAL_BOXES, build, sources_by_file

TABLES = list(all_schemas())
SampleLake = tuple[Path, dict[str, object]]


@pytest.fixture(scope="module")
def boxes_only_lake(tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """The sample built with ``--only boxes``: every other table is fed by no source."""
    lake = tmp_path_factory.mktemp("boxes-only") / "lake"
    return lake, build(sample_dir(), lake, only=["boxes"])


@pytest.fixture(params=["sample", "boxes-only"])
def any_lake(request: pytest.FixtureRequest) -> SampleLake:
    lake: SampleLake = request.getfixturevalue("sample_lake" if request.param == "sample" else "boxes_only_lake")
    return lake


def _catalog(lake: Path, table: str) -> pa.Table:
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    try:
        return con.sql(f"select * from {table}").to_arrow_table()
    finally:
        con.close()


def _rows(table: pa.Table) -> list[str]:
    """Every row as text (names, order and exact values), sorted: equal lists mean equal tables."""
    return sorted(repr(row) for row in table.to_pylist())


def _declared(table: str) -> pa.Schema:
    schema = table_schema(table)
    return pa.schema([*schema.arrow, *partition_fields(schema)])


@pytest.mark.parametrize("table", TABLES)
def test_every_table_read_from_its_folder_equals_the_catalog(any_lake: SampleLake, table: str) -> None:
    lake, manifest = any_lake
    folder = lake / table
    assert folder.is_dir(), f"{folder} dangles"
    expected = _catalog(lake, table)
    assert expected.num_rows == manifest["tables"][table]["rows"]  # type: ignore[index]

    dataset = ds.dataset(folder, format="parquet", partitioning="hive")
    read = dataset.to_table()
    assert read.schema.remove_metadata().equals(_declared(table)), read.schema
    assert _rows(read) == _rows(expected)

    scanned = pl.scan_parquet(folder, hive_partitioning=True).collect()
    assert scanned.columns == _declared(table).names
    assert scanned.schema == pl.DataFrame(_declared(table).empty_table()).schema
    assert _rows(scanned.to_arrow()) == _rows(expected)


def test_a_table_no_source_fed_is_one_zero_row_file(boxes_only_lake: SampleLake, tmp_path: Path) -> None:
    lake, manifest = boxes_only_lake
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    for name in ("images", "classes", "hierarchy", "relationships"):
        [file] = tables[name]["files"]
        assert file["rows"] == 0 and tables[name]["rows"] == 0
        assert file["path"] == content_name(empty_file_path(table_schema(name)), file["path"].split(".")[-2])
    assert tables["images"]["files"][0]["path"].startswith("images/split=train/images-empty.")
    assert tables["classes"]["files"][0]["path"].startswith("classes/classes-empty.")
    assert verify_lake(lake).ok
    shutil.copytree(lake, tmp_path / "copy")  # follows every link (`cp -rL`): none dangles
    assert pq.read_table(tmp_path / "copy" / "images").num_rows == 0


def test_every_file_name_carries_the_digest_of_its_bytes(sample_lake: SampleLake) -> None:
    lake, manifest = sample_lake
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    paths = [f["path"] for entry in tables.values() for f in entry["files"]]
    assert len(paths) >= len(TABLES)
    for path in paths:
        digest = hashlib.sha256((lake / "current" / path).read_bytes()).hexdigest()
        assert named_digest(Path(path).name) == digest[:12], path
    outputs = {s["file"]: s["output"] for s in manifest["sources"]}  # type: ignore[attr-defined]
    assert re.fullmatch(
        r"boxes/split=train/oidv6-train-annotations-bbox\.[0-9a-f]{12}\.parquet",
        outputs["oidv6-train-annotations-bbox.csv"],
    )
    assert set(outputs.values()) - {None} <= set(paths)


def test_the_naming_rules() -> None:
    assert content_name("a-b.parquet", "0123456789abcdef") == "a-b.0123456789ab.parquet"
    assert named_digest("a-b.0123456789ab.parquet") == "0123456789ab"
    assert named_digest("a-b.parquet") is None and named_digest("a.0123456789AB.parquet") is None
    assert empty_file_path(table_schema("boxes")) == "boxes/split=train/boxes-empty.parquet"
    assert empty_file_path(table_schema("class_stats")) == "class_stats/class_stats-empty.parquet"


def test_a_stale_listing_fails_loudly_after_a_publish(small_lake: tuple[Path, Path]) -> None:
    source, lake = small_lake
    boxes = ds.dataset(lake / "boxes", format="parquet", partitioning="hive")  # listed now, read later
    labels = ds.dataset(lake / "image_labels", format="parquet", partitioning="hive")
    old_release = (lake / "current").resolve()
    pinned = ds.dataset(old_release / "boxes", format="parquet", partitioning="hive")
    assert boxes.to_table().num_rows == 3

    with (source / VAL_BOXES).open("a") as out:
        out.write("0000000000000009,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n")
    manifest = build(source, lake)
    assert (lake / "current").resolve() != old_release

    with pytest.raises(FileNotFoundError):
        boxes.to_table()  # the old name is gone: no silent read of the new release's different bytes
    assert ds.dataset(lake / "boxes", format="parquet", partitioning="hive").to_table().num_rows == 4
    assert pinned.to_table().num_rows == 3, "a job pinned to its release reads it while --keep keeps it"
    assert sources_by_file(manifest)["validation-annotations-human-imagelabels.csv"]["reused_from"]
    assert labels.to_table().num_rows == 1, "a reused file keeps its name: a listing of it still reads"


# --- oilake ddl -------------------------------------------------------------------------------


def test_spark_types_and_strings() -> None:
    assert spark_type(pa.uint64()) == "DECIMAL(20,0)" and spark_type(pa.int8()) == "TINYINT"
    clicks = parse_type("list<struct<x: float32 not null, y: float32 not null, positive: bool>>")
    assert spark_type(clicks) == "ARRAY<STRUCT<`x`: FLOAT, `y`: FLOAT, `positive`: BOOLEAN>>"
    assert spark_string("it's a \\ path") == "'it\\'s a \\\\ path'"


def test_ddl_prints_spark_tables_pinned_to_the_current_release(small_lake: tuple[Path, Path]) -> None:
    _, lake = small_lake
    release = (lake / "current").resolve()
    result = CliRunner().invoke(cli, ["ddl", "--engine", "spark", "--lake", str(lake), "--tables", "boxes,classes"])
    assert result.exit_code == 0, result.output
    header, *statements = [s for s in result.output.split(";\n\n") if s.strip()]
    assert header.startswith(f"-- oilake ddl --engine spark: release {release.name} of file:{release}\n")
    assert [s.split(" (")[0].splitlines()[0] for s in statements] == [
        "CREATE TABLE `boxes`", "MSCK REPAIR TABLE `boxes`", "DROP TABLE IF EXISTS `classes`", "CREATE TABLE `classes`",
    ]  # fmt: skip
    assert header.endswith("\n\nDROP TABLE IF EXISTS `boxes`")
    create_boxes = statements[0]
    assert (
        "  `image_id_u64` DECIMAL(20,0) COMMENT 'The ImageID\\'s exact unsigned 64-bit integer value.'," in create_boxes
    )
    assert create_boxes.endswith(
        "USING parquet\nPARTITIONED BY (`split`)\n"
        "COMMENT 'Object bounding boxes, one row per box, from the train, validation and test box files.'\n"
        f"LOCATION 'file:{release}/boxes'"
    )
    assert "  `split` STRING COMMENT 'Split: train, validation or test (Hive partition).'\n)" in create_boxes
    assert statements[-1].endswith(f"LOCATION 'file:{release}/classes'") and "PARTITIONED" not in statements[-1]


def test_ddl_with_a_database_and_its_errors(small_lake: tuple[Path, Path]) -> None:
    _, lake = small_lake
    statements = spark_statements("s3a://bucket/oi/releases/r1", database="oi")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `oi`"
    assert len(statements) == 1 + sum(3 if s.partition_by else 2 for s in all_schemas().values()) + 1
    assert statements[-1].startswith("CREATE OR REPLACE VIEW `oi`.`mask_archives` AS SELECT CAST(NULL AS STRING)")
    assert statements[-1].endswith("WHERE FALSE")  # no archive in this release
    archive = FileReport("mask_pixels", "test", "test-masks-f.zip", "mask_pixels", rows_read=3, rows_written=2,
                         rows_rejected=1)  # fmt: skip
    with_archive = spark_statements("file:/x", archives=[archive])[-1]
    assert with_archive.endswith(
        "FROM VALUES ('test', 'f', 'test-masks-f.zip', 3, 2, 1) AS t(split, digit, archive, members, rows_written, "
        "rows_rejected)"
    )
    assert "MSCK REPAIR TABLE `oi`.`images`" in statements
    assert any(s.endswith("LOCATION 's3a://bucket/oi/releases/r1/class_stats'") for s in statements)
    with pytest.raises(OilakeError, match="unknown table"):
        spark_statements("file:/x", tables=["box"])
    with pytest.raises(LakeError, match="release 'nope' is not in"):
        pin_release(lake, "nope")
    result = CliRunner().invoke(cli, ["ddl", "--lake", str(lake), "--release", "nope"])
    assert result.exit_code == 1 and "error: release 'nope' is not in" in result.output


@pytest.mark.server
def test_pin_release_on_an_object_store(s3_bucket: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
    release = "20240101T000000.000000Z"
    fs.pipe_file(f"{s3_bucket}/oi/releases/{release}/_manifest.json", b"{}")
    pointer = Pointer(release, f"releases/{release}/lake.duckdb", f"releases/{release}/_manifest.json", "now", {})
    fs.pipe_file(f"{s3_bucket}/oi/_current.json", json.dumps(pointer.to_json()).encode())
    pinned = pin_release(f"s3://{s3_bucket}/oi")
    assert pinned.release == release and pinned.url == f"s3://{s3_bucket}/oi/releases/{release}"
    assert pin_release(f"s3://{s3_bucket}/oi", scheme="s3a").table_url("boxes") == (
        f"s3a://{s3_bucket}/oi/releases/{release}/boxes"
    )


def test_a_full_rebuild_of_the_same_sources_keeps_every_name(small_lake: tuple[Path, Path]) -> None:
    source, lake = small_lake
    before = sorted(p.relative_to(lake / "current").as_posix() for p in (lake / "current").rglob("*.parquet"))
    build(source, lake, full=True)  # every file read again: the same bytes, the same names
    after = sorted(p.relative_to(lake / "current").as_posix() for p in (lake / "current").rglob("*.parquet"))
    assert after == before and len(after) == len(TABLES)
