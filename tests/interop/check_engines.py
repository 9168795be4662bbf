"""`make interop`: Spark (`local[2]`), Dask and Ray Data read every table of the lake as DuckDB does.

On the bundled sample and on a `--only boxes` build (whose other tables no source fed), every
table read by each engine straight from its folder equals the DuckDB catalog value for value;
Spark SQL also reads the catalog tables `oilake ddl --engine spark` creates, runs the portable
views of sql/ as written and the cookbook queries that use only them, with DuckDB's answers; a
Spark listing made before a publish fails loudly after it; the recipes of docs/engines.md run as
written.

Run in its own environment (`.venv-interop`, see tests/interop/requirements.txt) by `make interop`;
`make test` never collects this file (its name does not start with `test_`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import duckdb
import pyarrow as pa
import pytest
import ray
from click.testing import CliRunner
from pyspark.sql import Row, SparkSession
from ray.data.datasource import Partitioning

from pipeline.cli import cli
from pipeline.core.schema import all_schemas
from pipeline.resources import sample_dir, sql_dir
from tests.conftest import BOX_HEADER, VAL_BOXES, build
from tests.test_cookbook import cookbook
from tests.test_docs_examples import blocks

ROOT = Path(__file__).resolve().parents[2]
TABLES = list(all_schemas())
LAKES = ("sample", "boxes-only")
# sql/ files that run on Spark SQL unchanged (docs/engines.md lists the others and why)
PORTABLE = [
    *sorted((sql_dir() / "10_named").glob("*.sql")),
    *(
        p
        for p in sorted((sql_dir() / "40_marts").glob("*.sql"))
        if p.stem not in ("box_geometry_live", "mask_stats_live")
    ),
]
# cookbook questions whose query runs on Spark SQL as written (given the portable views)
COOKBOOK_ON_SPARK = (
    "Top 20 classes by boxes in train",
    "Share of group-of boxes per class",
    "Narratives mentioning 'guitar' with a Guitar box",
    "Triplets with the most zero-shot instances",
    "One image's boxes (a point lookup by image_id)",
    "Images whose rotation is unknown",
    "Box area distribution for a class",
    "Images with the most boxes",
    "Machine labels that humans verified as absent",
    "Classes boxed in train but never in validation",
)
RECIPES = ROOT / "docs" / "engines.md"
# the engines' own deprecation notices (pyspark on pandas 3, dask's reset_index, ray's settings) are not ours
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="session")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    built = {}
    for name, only in (("sample", None), ("boxes-only", ["boxes"])):
        lake = tmp_path_factory.mktemp(name) / "lake"
        build(sample_dir(), lake, only=only)
        built[name] = lake
    return built


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("oilake-interop")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def ray_started() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _duckdb(lake: Path, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _duckdb_table(lake, sql).to_pylist()
    return rows


def _duckdb_table(lake: Path, sql: str) -> pa.Table:
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def _plain(value: Any, digits: int | None) -> Any:
    """Spark's and DuckDB's values as the same Python values (``digits``: round floats, for computed ones)."""
    if isinstance(value, Row):
        return {k: _plain(v, digits) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: _plain(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, digits) for v in value]
    if isinstance(value, Decimal):  # decimal(20,0): Spark's UBIGINT
        return int(value)
    if isinstance(value, float) and digits is not None:
        return round(value, digits)
    return value


def _rows(rows: list[Any], digits: int | None = None, ordered: bool = False) -> list[str]:
    texts = [repr(_plain(row, digits)) for row in rows]
    return texts if ordered else sorted(texts)


def _release(lake: Path) -> Path:
    return (lake / "current").resolve()


# --- every table, every engine ------------------------------------------------------------------


@pytest.mark.parametrize("lake_name", LAKES)
@pytest.mark.parametrize("table", TABLES)
def test_spark_reads_every_table_folder(
    spark: SparkSession, lakes: dict[str, Path], lake_name: str, table: str
) -> None:
    lake = lakes[lake_name]
    frame = spark.read.parquet(str(lake / table))
    expected = _duckdb_table(lake, f"select * from {table}")
    assert frame.columns == expected.column_names
    assert _rows(frame.collect()) == _rows(expected.to_pylist())


@pytest.mark.parametrize("lake_name", LAKES)
def test_spark_catalog_tables_from_oilake_ddl(spark: SparkSession, lakes: dict[str, Path], lake_name: str) -> None:
    lake = lakes[lake_name]
    database = lake_name.replace("-", "_")
    _create_tables(spark, lake, database)
    for table in TABLES:
        catalog = spark.table(f"{database}.{table}")
        assert catalog.columns == spark.read.parquet(str(lake / table)).columns, table
        assert _rows(catalog.collect()) == _rows(_duckdb(lake, f"select * from {table}")), table
    ubigint = spark.table(f"{database}.boxes").schema["image_id_u64"].dataType.simpleString()
    assert ubigint == "decimal(20,0)"


def _create_tables(spark: SparkSession, lake: Path, database: str) -> None:
    result = CliRunner().invoke(cli, ["ddl", "--engine", "spark", "--lake", str(lake), "--database", database])
    assert result.exit_code == 0, result.output
    for statement in result.output.split(";\n\n"):
        if statement.strip():
            spark.sql(statement)


@pytest.mark.parametrize("lake_name", LAKES)
def test_portable_views_and_cookbook_queries_give_duckdbs_answers(
    spark: SparkSession, lakes: dict[str, Path], lake_name: str
) -> None:
    lake = lakes[lake_name]
    database = f"views_{lake_name.replace('-', '_')}"
    _create_tables(spark, lake, database)
    spark.catalog.setCurrentDatabase(database)
    try:
        for path in PORTABLE:
            spark.sql(path.read_text(encoding="utf-8"))  # as written
            got = spark.table(path.stem).collect()
            assert _rows(got, digits=9) == _rows(_duckdb(lake, f"select * from {path.stem}"), digits=9), path.name
        if lake_name != "sample":
            return  # the cookbook's answers are the sample's (without class names, its ORDER BYs tie)
        questions = cookbook()
        answered = 0
        for heading in COOKBOOK_ON_SPARK:
            (query,) = questions[heading]
            query = query.strip().removesuffix(";")
            got = spark.sql(query).collect()
            expected = _duckdb(lake, query)
            assert _rows(got, digits=9, ordered=True) == _rows(expected, digits=9, ordered=True), heading
            answered += bool(expected)
        assert answered == len(COOKBOOK_ON_SPARK), "every question has an answer on the sample"
    finally:
        spark.catalog.setCurrentDatabase("default")


def test_spark_cannot_cast_a_ubigint_to_bigint(spark: SparkSession, lakes: dict[str, Path]) -> None:
    boxes = str(lakes["sample"] / "boxes")
    largest = spark.read.parquet(boxes).agg({"image_id_u64": "max"}).collect()[0][0]
    assert largest == Decimal(2**64 - 1)
    with pytest.raises(Exception, match="CAST_OVERFLOW"):
        spark.read.parquet(boxes).selectExpr("cast(image_id_u64 as bigint) as id").collect()


def test_a_spark_listing_made_before_a_publish_fails_loudly(spark: SparkSession, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    rows = [f"000000000000000{n},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for n in range(1, 4)]
    (source / VAL_BOXES).write_text(BOX_HEADER + "\n" + "\n".join(rows) + "\n")
    lake = tmp_path / "lake"
    build(source, lake)
    listed = spark.read.parquet(str(lake / "boxes"))  # the listing is made now
    pinned = spark.read.parquet(str(_release(lake) / "boxes"))
    assert listed.count() == 3
    with (source / VAL_BOXES).open("a") as out:
        out.write("0000000000000009,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n")
    build(source, lake)
    with pytest.raises(Exception, match=r"FAILED_READ_FILE\.FILE_NOT_EXIST"):
        listed.collect()
    assert spark.read.parquet(str(lake / "boxes")).count() == 4
    assert pinned.count() == 3, "a job pinned to its release reads it while --keep keeps it"


@pytest.mark.parametrize("lake_name", LAKES)
def test_dask_reads_every_table_folder(lakes: dict[str, Path], lake_name: str) -> None:
    lake = lakes[lake_name]
    for table in TABLES:
        frame = dd.read_parquet(str(lake / table), dtype_backend="pyarrow").compute()
        read = pa.Table.from_pandas(frame, preserve_index=False)
        expected = _duckdb(lake, f"select * from {table}")
        assert read.num_rows == len(expected), table
        assert _rows(read.to_pylist()) == _rows(expected), table


@pytest.mark.parametrize("lake_name", LAKES)
def test_ray_reads_every_table_folder(ray_started: None, lakes: dict[str, Path], lake_name: str) -> None:
    lake = lakes[lake_name]
    for table in TABLES:
        dataset = ray.data.read_parquet(str(lake / table), partitioning=Partitioning("hive"))
        read = pa.concat_tables(ray.get(dataset.to_arrow_refs())) if dataset.count() else None
        expected = _duckdb(lake, f"select * from {table}")
        assert dataset.count() == len(expected), table
        assert _rows(read.to_pylist() if read is not None else []) == _rows(expected), table
    if lake_name == "sample":
        boxes = ray.data.read_parquet(str(lake / "boxes"), partitioning=Partitioning("hive"))
        assert int(boxes.max("image_id"), 16) == 2**64 - 1  # the workaround docs/engines.md gives
        with pytest.raises(Exception, match=r"min_max|ArrowNotImplementedError"):
            boxes.max("image_id_u64")  # what docs/engines.md warns about


# --- the recipes of docs/engines.md ---------------------------------------------------------------


def test_the_recipes_run_as_written(lakes: dict[str, Path], tmp_path: Path) -> None:
    """Every runnable block of docs/engines.md, in order, in a folder with `lake`, `sql` and `.venv`."""
    (tmp_path / "lake").symlink_to(lakes["sample"])
    (tmp_path / "sql").symlink_to(ROOT / "sql")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {**os.environ, "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    ran, printed = 0, []
    for block in blocks(RECIPES):
        if block.not_run is not None and "make interop runs it" not in block.not_run:
            continue
        argvs = (
            [[sys.executable, "-c", block.text]]
            if block.language == "python"
            else [["bash", "-c", command] for command in block.commands()]
        )
        for argv in argvs:
            run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert run.returncode == 0, f"{block.id}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
            assert "Traceback" not in run.stderr, f"{block.id}\n{run.stderr[-3000:]}"
            printed.append(run.stdout)
        ran += 1
    assert ran >= 9
    assert sum(str(2**64 - 1) in out for out in printed) == 2, "Dask and Ray print the largest image_id_u64"
    assert "MSCK REPAIR TABLE `oi`.`boxes`" in (tmp_path / "lake-spark.sql").read_text()
