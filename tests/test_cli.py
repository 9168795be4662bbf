"""The CLI: thin over the library, actionable errors, data on stdout and logs on stderr."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from pipeline.catalog.datadict import render_data_dictionary
from pipeline.cli import cli
from tests.conftest import BOX_HEADER, WriteSource

VAL_BOXES = "validation-annotations-bbox.csv"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_build_prints_table_counts_on_stdout(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source({VAL_BOXES: BOX_HEADER + "\n0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n"})
    result = run("build", "--source", str(source), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "attribute_rates\t1", "box_geometry\t1", "boxes\t1", "class_stats\t1", "image_summary\t1",
    ]  # fmt: skip
    assert "skip  boxes (test): test-annotations-bbox.csv not in the source" in result.stderr
    assert "lake ready" in result.stderr


def test_header_error_is_actionable(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source({VAL_BOXES: "ImageID,LabelName\n"})
    result = run("build", "--source", str(source), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {VAL_BOXES}: line 1: wrong header.\n  expected: {BOX_HEADER},XClick1X,")
    assert f"\n        or: {BOX_HEADER}\n" in result.stderr
    assert "found:    ImageID,LabelName" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_reject_limit_names_the_flag(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source({VAL_BOXES: BOX_HEADER + "\nnot-an-id,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n"})
    result = run("build", "--source", str(source), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 1
    assert f"{VAL_BOXES}:2: ImageID: expected 16 lowercase hex digits, found 'not-an-id'" in result.stderr
    assert "--max-rejects" in result.stderr
    assert not (tmp_path / "lake").exists()
    ok = run("build", "--source", str(source), "--lake", str(tmp_path / "lake"), "--max-rejects", "1")
    assert ok.exit_code == 0 and ok.stdout == "rejects\t1\n"


def test_missing_source_and_unknown_family(tmp_path: Path) -> None:
    result = run("build", "--source", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
    result = run("build", "--lake", str(tmp_path / "lake"), "--only", "bogus")
    assert result.exit_code == 1 and "unknown family or table 'bogus'" in result.stderr


def test_docs_prints_the_data_dictionary() -> None:
    result = run("docs")
    assert result.exit_code == 0 and result.stdout == render_data_dictionary()


def test_sql_formats(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    lake = str(sample_lake[0])
    query = "select label_name, boxes from class_stats where split = 'train' order by boxes desc, label_name limit 2"
    csv = run("sql", "--lake", lake, query)
    assert csv.exit_code == 0 and csv.stdout == "label_name,boxes\nPerson,221\nMan,92\n"
    json_lines = run("sql", "--lake", lake, "--format", "json", query)
    assert json_lines.stdout == '{"label_name":"Person","boxes":221}\n{"label_name":"Man","boxes":92}\n'
    table = run("sql", "--lake", lake, "--format", "table", query)
    assert "│ Person" in table.stdout and "221" in table.stdout
    out = tmp_path / "top.parquet"
    assert run("sql", "--lake", lake, "--format", "parquet", "--output", str(out), query).exit_code == 0
    assert pl.read_parquet(out).rows() == [("Person", 221), ("Man", 92)]


def test_sql_errors_are_actionable(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    bad = run("sql", "--lake", str(sample_lake[0]), "select nope from boxes")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: Binder Error") and "hint:" in bad.stderr
    missing = run("sql", "--lake", str(tmp_path / "nowhere"), "select 1")
    assert missing.exit_code == 1 and "not a built oilake lake" in missing.stderr
    assert missing.stderr.splitlines()[-1].startswith("hint: pass --lake the folder or URL that `oilake build")


def test_a_bad_file_list_is_an_error_with_a_hint(tmp_path: Path) -> None:
    listing = tmp_path / "files.tsv"
    listing.write_text("family\tfile\n")
    result = run("fetch", "--dest", str(tmp_path / "dest"), "--file-list", str(listing))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: --file-list {listing}: missing column(s) ")
    assert result.stderr.endswith("hint: use the columns of pipeline/data/official-files.tsv\n")
    assert not (tmp_path / "dest").exists()


def test_sql_shell_runs_statements_until_eof(sample_lake: tuple[Path, dict[str, object]]) -> None:
    result = CliRunner().invoke(
        cli, ["sql", "--lake", str(sample_lake[0])], input="select count(*) as n\nfrom images;\n.tables\n"
    )
    assert result.exit_code == 0
    assert "240" in result.stdout and "boxes_expanded" in result.stdout


def test_image_list_command(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    lake = str(sample_lake[0])
    result = run("image-list", "--lake", lake, "--classes", "Cat,Dog", "--split", "test")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines == sorted(set(lines)) and lines and all(line.startswith("test/") for line in lines)
    assert result.stderr.strip() == f"{len(lines)} image(s)"
    out = tmp_path / "list.txt"
    assert (
        run("image-list", "--lake", lake, "--classes", "Cat,Dog", "--split", "test", "--output", str(out)).exit_code
        == 0
    )
    assert out.read_text() == result.stdout
    unknown = run("image-list", "--lake", lake, "--classes", "Dgo")
    assert unknown.exit_code == 1 and '"Dgo" (closest:' in unknown.stderr
    where = run("image-list", "--lake", lake, "--classes", "Person", "--where", "no_such_column")
    assert where.exit_code == 1 and where.stderr.startswith("error: --where:")


def test_duckdb_memory_budget_exceeded_is_a_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OILAKE_DUCKDB_MEMORY", "2MB")
    result = run("build", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 1
    assert "DuckDB needed more than the build's memory budget of 2MB" in result.stderr
    assert "set OILAKE_DUCKDB_MEMORY higher" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "lake").exists()
