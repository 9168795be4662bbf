"""The DuckDB catalog: a view per table, readable read-only from anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.core.schema import all_schemas
from tests.conftest import BOX_HEADER, WriteSource, build


def test_catalog_opens_read_only_from_another_directory(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {"test-annotations-bbox.csv": BOX_HEADER + "\nffffffffffffffff,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n"}
    )
    build(source, tmp_path / "lake")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import duckdb; con = duckdb.connect('../lake/lake.duckdb', read_only=True); "
        "print(con.execute('select image_id_u64, split from boxes').fetchall())"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[(18446744073709551615, 'test')]"


def test_every_table_is_queryable_even_when_no_file_fed_it(write_source: WriteSource, tmp_path: Path) -> None:
    build(write_source({"oidv6-relationships-description.csv": "at,at\n"}), tmp_path / "lake")
    con = duckdb.connect(str(tmp_path / "lake" / "lake.duckdb"), read_only=True)
    for name, schema in all_schemas().items():
        columns = [row[0] for row in con.execute(f"describe {name}").fetchall()]
        expected = schema.column_names + (["split"] if schema.partition_by else [])
        assert columns == expected, name
    assert con.execute("select count(*) from boxes").fetchall() == [(0,)]
    assert con.execute("select * from relationship_names").fetchall() == [("at", "at")]


def test_views_and_columns_carry_the_schema_descriptions(sample_lake: tuple[Path, dict[str, object]]) -> None:
    lake, _ = sample_lake
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    comment = con.execute("select comment from duckdb_views() where view_name = 'boxes'").fetchall()[0][0]
    assert comment == all_schemas()["boxes"].description
    column = con.execute(
        "select comment from duckdb_columns() where table_name = 'boxes' and column_name = 'is_group_of'"
    ).fetchall()[0][0]
    assert "-1` (unknown) → NULL" in column


def test_sample_lake_views_answer_from_any_cwd(
    sample_lake: tuple[Path, dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, manifest = sample_lake
    monkeypatch.chdir(tmp_path)  # back after the test: the tests that follow in this process keep their cwd
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    for name, info in manifest["tables"].items():
        assert con.execute(f"select count(*) from {name}").fetchall() == [(info["rows"],)], name


def test_catalog_command_repoints_a_moved_lake(write_source: WriteSource, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    source = write_source(
        {"test-annotations-bbox.csv": BOX_HEADER + "\n0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n"}
    )
    build(source, tmp_path / "lake")
    moved = tmp_path / "moved"
    (tmp_path / "lake").rename(moved)
    result = CliRunner().invoke(cli, ["catalog", "--lake", str(moved)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(moved / "lake.duckdb"), read_only=True)
    assert con.execute("select count(*) from boxes_named").fetchall() == [(1,)]
