"""The SQL surfaces read the release's own files only: no writes, no other files, no silent missing file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.catalog import views
from pipeline.cli import cli
from pipeline.lake import manifest
from pipeline.query.api import DamagedReleaseError, FileAccessError, open_lake
from tests.test_sql import tiny_lake  # noqa: F401 - the fixture

SECRET = "top-secret-line-7c1f"


def _sql(lake: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["sql", "--lake", str(lake), "--format", "csv", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _release(lake: Path) -> Path:
    return (lake / "current").resolve()


def _boxes_file(release: Path) -> Path:
    """The validation box file (its name carries a digest of its bytes)."""
    (path,) = (release / "boxes" / "split=validation").glob("validation-annotations-bbox.*.parquet")
    return path


def _files(release: Path) -> dict[str, bytes]:
    return {p.relative_to(release).as_posix(): p.read_bytes() for p in sorted(release.rglob("*")) if p.is_file()}


def test_the_manifest_names_agree() -> None:
    assert views.MANIFEST == manifest.MANIFEST


def test_views_read_the_files_the_manifest_lists(tiny_lake: Path) -> None:  # noqa: F811
    release = _release(tiny_lake)
    con = duckdb.connect(str(release / views.CATALOG), read_only=True)
    sql = con.execute("select sql from duckdb_views() where view_name = 'boxes'").fetchall()[0][0]
    con.close()
    assert "*.parquet" not in sql and f"list_value('{_boxes_file(release)}')" in sql
    assert "hive_partitioning = true" in sql


def test_copy_into_the_release_is_refused_and_the_release_unchanged(tiny_lake: Path) -> None:  # noqa: F811
    release = _release(tiny_lake)
    before = _files(release)
    target = release / "boxes" / "split=validation" / "extra.parquet"
    code, output = _sql(tiny_lake, f"copy (select * from boxes) to '{target}'")
    assert code == 1
    assert "error: copy statements are refused: the lake is opened read-only" in output
    assert "hint: " in output and "--allow-file-access" in output and "Traceback" not in output
    assert _files(release) == before and not target.exists()
    for statement in (
        f"attach '{tiny_lake}/other.duckdb' as other",
        "install httpfs",
        "set enable_external_access = true",
        "select 1; copy (select 1) to 'x.csv'",
    ):
        code, output = _sql(tiny_lake, statement)
        assert code == 1 and "statements are refused" in output, statement
    assert _files(release) == before


def test_reading_another_file_is_refused_without_its_content(tiny_lake: Path, tmp_path: Path) -> None:  # noqa: F811
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\n")
    code, output = _sql(tiny_lake, f"select * from read_csv('{secret}')")
    assert code == 1 and SECRET not in output
    assert f'error: Permission Error: Cannot access file "{secret}"' in output and "(file access is off)" in output
    result = CliRunner().invoke(
        cli,
        ["image-list", "--lake", str(tiny_lake), "--classes", "Cat",
         "--where", f"label_mid = (select content::int from read_text('{secret}'))"],
    )  # fmt: skip
    assert result.exit_code == 1 and SECRET not in result.output and "Traceback" not in result.output
    assert f'Cannot access file "{secret}"' in result.output and "hint: " in result.output
    result = CliRunner().invoke(
        cli,
        ["image-list", "--lake", str(tiny_lake), "--classes", "Cat",
         "--where", f"true) group by 1; copy (select 1) to '{tmp_path}/x.csv'; select (1"],
    )  # fmt: skip
    assert result.exit_code == 1 and "copy statements are refused" in result.output
    assert not (tmp_path / "x.csv").exists()
    with open_lake(tiny_lake) as opened, pytest.raises(FileAccessError):
        opened.arrow(f"select * from read_text('{secret}')")


def test_a_deleted_file_is_a_named_error_not_fewer_rows(tiny_lake: Path) -> None:  # noqa: F811
    release = _release(tiny_lake)
    deleted = _boxes_file(release)
    deleted.unlink()
    with open_lake(tiny_lake) as opened, pytest.raises(DamagedReleaseError) as caught:
        opened.sql("select count(*) from boxes")
    assert f"release {release.name} is damaged" in str(caught.value)
    assert deleted.name in str(caught.value)
    assert "oilake verify" in caught.value.hint
    code, output = _sql(tiny_lake, "select count(*) as n from boxes")
    assert code == 1 and f"error: release {release.name} is damaged" in output
    assert f"hint: run `oilake verify --lake {tiny_lake}`" in output


def test_an_extra_file_in_the_release_is_ignored(tiny_lake: Path) -> None:  # noqa: F811
    release = _release(tiny_lake)
    code, output = _sql(tiny_lake, "select count(*) as n from boxes")
    assert code == 0
    source = _boxes_file(release)
    con = duckdb.connect()
    con.execute(f"copy (select * from '{source}') to '{source.parent}/zz-extra.parquet'")
    con.close()
    assert _sql(tiny_lake, "select count(*) as n from boxes") == (0, output)


def test_file_access_is_an_explicit_opt_in(tiny_lake: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "boxes.csv"
    code, output = _sql(tiny_lake, "--allow-file-access", f"copy (select image_id from boxes) to '{out}'")
    assert code == 0, output
    assert out.read_text().splitlines()[0] == "image_id"
    with open_lake(tiny_lake, file_access=True) as opened:
        assert opened.sql(f"select count(*) from read_csv('{out}')").item() == len(out.read_text().splitlines()) - 1
