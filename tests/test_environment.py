"""Environmental failures (issue 11, defect 8): each an ``error:`` + ``hint:``, an exit status, no traceback,
and the published lake unchanged."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import pipeline.build.marts as marts
import pipeline.build.run as build_run
from pipeline.cli import cli
from pipeline.cli.group import INTERRUPTED
from tests.conftest import LABEL_HEADER, VAL_LABELS


def snapshot(lake: Path) -> dict[str, str]:
    """Every entry under ``lake`` (links by target, files by content), the lock file's record excepted."""
    seen = {}
    for path in sorted(lake.rglob("*")):
        relative = str(path.relative_to(lake))
        if path.is_symlink():
            seen[relative] = "-> " + os.readlink(path)
        elif path.is_file() and path.name != ".lock":
            seen[relative] = hashlib.md5(path.read_bytes()).hexdigest()
        elif path.is_dir():
            seen[relative] = "dir"
    return seen


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_advice(result: Result, code: int, *message: str) -> None:
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors and any(line.startswith("hint: ") for line in lines), result.output
    for part in message:
        assert part in errors[0], result.output


def _raiser(exc: BaseException) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (marts, "write_batches"),  # the marts' writer
        (build_run, "write_small_tables"),
        (build_run, "materialize_marts"),
        (build_run, "write_manifest"),
    ],
)
@pytest.mark.parametrize(
    ("code", "hint"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "that file system is read-only")]
)
def test_a_full_or_read_only_disk_is_advice_and_the_lake_is_unchanged(
    small_lake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, module: Any, name: str, code: int, hint: str
) -> None:
    source, lake = small_lake
    before = snapshot(lake)
    if not hasattr(module, name):
        pytest.skip(f"{module.__name__} has no {name}")
    monkeypatch.setattr(module, name, _raiser(OSError(code, os.strerror(code), str(lake / "x.parquet"))))
    (source / VAL_LABELS).write_text(f"{LABEL_HEADER}\n0000000000000002,verification,/m/0k4j,1\n")  # not reused
    result = run("build", "--source", str(source), "--lake", str(lake))
    assert_advice(result, 1, os.strerror(code))
    assert f"hint: {hint}" in result.output
    assert snapshot(lake) == before
    assert not list((lake / ".staging").iterdir()) if (lake / ".staging").exists() else True


def test_ctrl_c_during_the_marts_exits_130_and_leaves_the_lake_unchanged(
    small_lake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, lake = small_lake
    before = snapshot(lake)
    monkeypatch.setattr(build_run, "materialize_marts", _raiser(KeyboardInterrupt()))
    (source / VAL_LABELS).write_text(f"{LABEL_HEADER}\n0000000000000002,verification,/m/0k4j,1\n")
    result = run("build", "--source", str(source), "--lake", str(lake))
    assert_advice(result, INTERRUPTED, "interrupted")
    assert "hint: run the command again" in result.output
    assert snapshot(lake) == before
    assert not (lake / ".staging").exists() or not list((lake / ".staging").iterdir())
    monkeypatch.undo()
    assert run("build", "--source", str(source), "--lake", str(lake)).exit_code == 0


def test_a_folder_in_place_of_the_lock_file_is_named(small_lake: tuple[Path, Path]) -> None:
    source, lake = small_lake
    (lake / ".lock").unlink(missing_ok=True)
    (lake / ".lock").mkdir()
    before = snapshot(lake)
    result = run("build", "--source", str(source), "--lake", str(lake))
    assert_advice(result, 1, str(lake / ".lock"), "is a folder")
    assert "hint: remove that folder" in result.output
    assert snapshot(lake) == before


@pytest.mark.parametrize(
    "args",
    [("sql", "select 1 as n", "--output"), ("image-list", "--classes", "Tree", "--output")],
)
def test_output_into_a_missing_folder_is_named(small_lake: tuple[Path, Path], args: tuple[str, ...]) -> None:
    _, lake = small_lake
    target = lake.parent / "missing" / "out.txt"
    result = run(*args, str(target), "--lake", str(lake))
    assert_advice(result, 1, f"--output {target}", f"the folder {target.parent} does not exist")
    assert f"hint: make the folder first (mkdir -p {target.parent})" in result.output
    assert not target.parent.exists()


@pytest.mark.parametrize("fmt", [["--format", "csv"], []])  # csv is the default off a terminal
def test_a_nested_column_in_csv_names_the_column_and_the_formats(small_lake: tuple[Path, Path], fmt: list[str]) -> None:
    _, lake = small_lake
    result = run("sql", "--lake", str(lake), *fmt, "select [1, 2] as points, 3 as n")
    assert_advice(result, 1, "column(s) points hold nested values", "CSV cannot hold")
    assert "--format json or --format parquet" in result.output
    assert run("sql", "--lake", str(lake), "--format", "json", "select [1, 2] as points").output == (
        '{"points":[1,2]}\n'
    )


@pytest.mark.parametrize("command", [["catalog"], ["sql", "select 1"]])
def test_a_dangling_current_is_named_with_the_way_out(small_lake: tuple[Path, Path], command: list[str]) -> None:
    _, lake = small_lake
    kept = os.readlink(lake / "current")
    (lake / "current").unlink()
    (lake / "current").symlink_to("releases/20200101T000000.000000Z")
    before = snapshot(lake)
    result = run(*command, "--lake", str(lake))
    assert_advice(result, 1, "release 20200101T000000.000000Z (the one `current` points at) is missing")
    assert f"`oilake rollback --lake {lake} --to ID`" in result.output
    assert snapshot(lake) == before
    rolled = run("rollback", "--lake", str(lake))
    assert rolled.exit_code == 0, rolled.output
    assert os.readlink(lake / "current") == kept
