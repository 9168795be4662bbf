"""The CLI: thin over the library, actionable errors, data on stdout and logs on stderr."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from pipeline.cli import cli
from pipeline.datadict import render_data_dictionary
from tests.conftest import BOX_HEADER, WriteSource

VAL_BOXES = "validation-annotations-bbox.csv"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_build_prints_table_counts_on_stdout(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source({VAL_BOXES: BOX_HEADER + "\n0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n"})
    result = run("build", "--source", str(source), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "boxes\t1\n"
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
