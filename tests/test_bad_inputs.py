"""The bad-input corpus: every case of tests/bad_inputs/cases.toml builds to its declared outcome."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.build.run import BuildOptions, build_lake
from pipeline.cli import cli
from pipeline.core import errors
from pipeline.read.files import SourceFile
from pipeline.read.sources import Source
from tests.conftest import LABEL_HEADER, query

CORPUS = Path(__file__).parent / "bad_inputs"
CASES: dict[str, dict] = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["cases"]
COUNTS = {"read": "rows_read", "written": "rows_written", "rejected": "rows_rejected",
          "duplicate": "rows_duplicate", "blank_lines": "blank_lines"}  # fmt: skip


def test_every_case_folder_is_catalogued() -> None:
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders == set(CASES)
    assert len(CASES) >= 25


def _source(case: str, tmp_path: Path, run: str) -> Path:
    """A fresh copy of the case's files (a run may truncate them)."""
    source = tmp_path / f"source-{run}"
    shutil.copytree(CORPUS / case, source)
    return source


def _change_after_planning(monkeypatch: pytest.MonkeyPatch, shrink_to: int | None, append: str | None) -> None:
    """Cut a file to ``shrink_to`` bytes, or append ``append``, right after the build found it and took its size."""
    find = Source.find

    def find_then_change(self: Source, official: object) -> SourceFile | None:
        found = find(self, official)  # type: ignore[arg-type]
        if found is not None and Path(found.path).parent.name.startswith("source-"):  # a copy of the case
            with open(found.path, "r+b") as fh:
                if shrink_to is not None:
                    fh.truncate(shrink_to)
                if append is not None:
                    fh.seek(0, os.SEEK_END)
                    fh.write(append.encode())
        return found

    monkeypatch.setattr(Source, "find", find_then_change)


def _snapshot(lake: Path) -> dict[str, str]:
    """Every path under ``lake`` with its content hash (or link target), links not followed."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(lake):
        for name in dirs + files:
            path = Path(folder) / name
            key = path.relative_to(lake).as_posix()
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_file():
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[key] = "dir"
    if found.get(".staging") == "dir":
        del found[".staging"]  # the build's empty work folder; anything left inside it still shows
    return found


def _plain(value: object) -> object:
    return "NULL" if value is None else value


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = CASES[case]
    max_rejects = spec.get("max_rejects", 0)
    if "shrink_to" in spec or "append" in spec:
        _change_after_planning(monkeypatch, spec.get("shrink_to"), spec.get("append"))
    if spec["outcome"] == "ok":
        _check_ok(case, spec, _source(case, tmp_path, "lib"), tmp_path / "lake", max_rejects)
    else:
        assert spec["outcome"] == "error", f"{case}: outcome must be ok or error"
        _check_error(case, spec, tmp_path, max_rejects)


def _check_ok(case: str, spec: dict, source: Path, lake: Path, max_rejects: int) -> None:
    build_lake(BuildOptions(source=str(source), lake=lake, max_rejects=max_rejects))
    manifest = json.loads((lake / "_manifest.json").read_text())
    reports = {s["file"]: s for s in manifest["sources"]}
    assert set(reports) == {p.name for p in source.iterdir()}, "every file of the case is ingested, none skipped"
    for file, report in reports.items():
        assert report["rows_read"] == report["rows_written"] + report["rows_rejected"] + report["rows_duplicate"], file
    assert set(spec["sources"]) == set(reports)
    for file, counts in spec["sources"].items():
        assert {k: reports[file][COUNTS[k]] for k in counts} == counts, file

    rejects = query(lake, "select source_file, line, reason, raw from rejects order by source_file, line").rows()
    assert len(rejects) == sum(r["rows_rejected"] for r in reports.values())
    expected = spec.get("rejects", [])
    assert len(rejects) == len(expected), rejects
    only_file = next(iter(reports)) if len(reports) == 1 else None
    for (file, line, reason, raw), want in zip(rejects, expected, strict=True):
        assert file == want.get("file", only_file)
        assert line == want["line"], (line, reason)
        assert want["reason"] in reason, reason
        assert want.get("raw", "") in raw, raw

    for table, rows in spec.get("tables", {}).items():
        assert query(lake, f"select count(*) from {table}").item() == rows, table
    for check in spec.get("values", []):
        got = [[_plain(v) for v in row] for row in query(lake, check["sql"]).rows()]
        assert got == check["rows"], check["sql"]


def _check_error(case: str, spec: dict, tmp_path: Path, max_rejects: int) -> None:
    error_class = getattr(errors, spec["error"])

    def check_message(message: str) -> None:
        for part in spec["message"]:
            assert part in message, f"{part!r} not in {message!r}"

    # A first build: nothing is left where the lake would be.
    fresh = tmp_path / "fresh-lake"
    with pytest.raises(error_class) as raised:
        build_lake(BuildOptions(source=str(_source(case, tmp_path, "fresh")), lake=fresh, max_rejects=max_rejects))
    check_message(str(raised.value))
    assert not (fresh / "_manifest.json").exists() and not (fresh / "lake.duckdb").exists()

    # A rebuild of a published lake: the lake is untouched, through the library and through the CLI.
    lake = tmp_path / "lake"
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "validation-annotations-human-imagelabels.csv").write_text(
        LABEL_HEADER + "\n0001eeaf4aed83f9,verification,/m/0cmf2,1\n"
    )
    build_lake(BuildOptions(source=str(previous), lake=lake))
    before = _snapshot(lake)
    with pytest.raises(error_class):
        build_lake(BuildOptions(source=str(_source(case, tmp_path, "lib")), lake=lake, max_rejects=max_rejects))
    assert _snapshot(lake) == before

    args = ["build", "--source", str(_source(case, tmp_path, "cli")), "--lake", str(lake)]
    result = CliRunner().invoke(cli, [*args, "--max-rejects", str(max_rejects)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error_lines, result.stderr
    check_message(result.stderr)
    assert _snapshot(lake) == before
    assert query(lake, "select image_id from image_labels").item() == "0001eeaf4aed83f9"
