"""``oilake verify``: a published release re-checked against its manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.lake.verify import verify_lake
from tests.conftest import VAL_BOXES, VAL_LABELS


def _release(lake: Path) -> Path:
    return (lake / "current").resolve()


def _boxes_part(lake: Path) -> str:
    """The validation box file of the release (its name carries a digest of its bytes)."""
    (path,) = (_release(lake) / "boxes" / "split=validation").glob("validation-annotations-bbox.*.parquet")
    return path.relative_to(_release(lake)).as_posix()


def test_a_fresh_lake_verifies_with_its_sources(small_lake: tuple[Path, Path]) -> None:
    _, lake = small_lake
    result = verify_lake(lake, rehash=True)
    assert result.ok, result.problems
    assert "2 source file(s) re-hashed" in result.checked
    cli_result = CliRunner().invoke(cli, ["verify", "--lake", str(lake), "--rehash"])
    assert cli_result.exit_code == 0
    assert "verified" in cli_result.output


def _delete_part(lake: Path) -> None:
    (_release(lake) / _boxes_part(lake)).unlink()


def _add_unlisted(lake: Path) -> None:
    (_release(lake) / "boxes" / "split=validation" / "stray.parquet").write_bytes(
        (_release(lake) / _boxes_part(lake)).read_bytes()
    )


def _drop_a_row(lake: Path) -> None:
    path = _release(lake) / _boxes_part(lake)
    table = pq.read_table(path)
    path.unlink()  # a new inode: the other releases sharing the file keep theirs
    pq.write_table(table.slice(1), path)


def _edit_manifest(lake: Path) -> None:
    path = _release(lake) / "_manifest.json"
    manifest = json.loads(path.read_text())
    manifest["schemas"]["boxes"] = "0000000000000000"
    manifest["sources"][0]["rows_written"] += 1
    path.write_text(json.dumps(manifest))


TAMPERING: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "missing file": (
        _delete_part,
        ["{part}: listed in the manifest but missing", "lake.duckdb: view boxes fails"],
    ),
    "unlisted file": (
        _add_unlisted,
        ["boxes/split=validation/stray.parquet: present but not listed"],  # the views never read it
    ),
    "row count": (
        _drop_a_row,
        ["{part}: 2 rows, the manifest says 3", "{part}: 2 rows, but " + VAL_BOXES + " wrote 3"],
    ),
    "manifest edited": (
        _edit_manifest,
        ["boxes: built with a different schema", f"{VAL_BOXES}: read 3 != written 4 + rejected 0 + duplicate 0"],
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_verify_reports_every_difference_and_exits_1(small_lake: tuple[Path, Path], case: str) -> None:
    _, lake = small_lake
    tamper, expected = TAMPERING[case]
    part = _boxes_part(lake)
    tamper(lake)
    result = verify_lake(lake)
    assert not result.ok
    for fragment in (f.replace("{part}", part) for f in expected):
        assert any(fragment in problem for problem in result.problems), (fragment, result.problems)
    cli_result = CliRunner().invoke(cli, ["verify", "--lake", str(lake)])
    assert cli_result.exit_code == 1
    assert "FAIL  " in cli_result.output and "problem(s)" in cli_result.output


def test_rehash_notices_a_source_changed_since_the_build(small_lake: tuple[Path, Path]) -> None:
    source, lake = small_lake
    labels = source / VAL_LABELS
    labels.write_text(labels.read_text() + "0000000000000002,verification,/m/0k4j,0\n")
    assert verify_lake(lake).ok, "without --rehash the lake itself is intact"
    problems = verify_lake(lake, rehash=True).problems
    assert len(problems) == 1 and problems[0].startswith(f"{VAL_LABELS}: changed since the build")
    moved = verify_lake(lake, rehash=True, source=str(source.parent / "elsewhere")).problems
    assert moved and "pass --source where they are now" in moved[0]


def test_a_corrupt_parquet_file_is_a_problem_not_a_crash(small_lake: tuple[Path, Path]) -> None:
    _, lake = small_lake
    part = _boxes_part(lake)
    (_release(lake) / part).write_bytes(b"not parquet at all" * 100)  # the published bytes overwritten in place
    result = CliRunner().invoke(cli, ["verify", "--lake", str(lake)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"FAIL  {part}: unreadable Parquet: " in result.output
    assert "error: release " in result.output and "problem(s)" in result.output
