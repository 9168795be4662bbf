"""Publishing releases: the layout, the pointer, --keep, rollback, readers during a publish, the lock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.errors import LakeError, RejectLimitError
from pipeline.lake.local import LocalStore
from pipeline.lake.lock import LOCK, LakeLockedError, lake_lock, lock_holder
from pipeline.query.api import open_lake
from tests.conftest import BOX_HEADER, WriteSource, build, query

VAL_BOXES = "validation-annotations-bbox.csv"


def _boxes(*image_ids: str) -> dict[str, str]:
    rows = [f"{i},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for i in image_ids]
    return {VAL_BOXES: BOX_HEADER + "\n" + "\n".join(rows) + "\n"}


def _ids(lake: Path) -> list[str]:
    return query(lake, "select image_id from boxes order by 1").to_series().to_list()


def test_a_build_publishes_a_release_behind_stable_entry_links(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    manifest = build(write_source(_boxes("0000000000000001")), lake)
    layout = LocalStore(lake)
    release = layout.release_path(layout.require_current())
    assert release.is_dir() and release.parent == lake / "releases"
    assert manifest["release"] == release.name
    assert os.readlink(lake / "current") == f"releases/{release.name}"
    assert os.readlink(lake / "boxes") == "current/boxes"
    assert os.readlink(lake / "lake.duckdb") == "current/lake.duckdb"
    assert json.loads((lake / "_manifest.json").read_text())["release"] == release.name
    assert sorted(p.name for p in (lake / "boxes").iterdir()) == ["split=validation"]
    assert [e.event for e in layout.history()] == ["publish"]
    assert not (lake / ".staging").exists()
    assert (lake / LOCK).read_text() == "", "a clean release of the lock leaves no holder record"


def test_keep_prunes_old_releases_and_rollback_restores_the_previous_one(
    write_source: WriteSource, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    ids = []
    for n in range(1, 4):
        ids.append(str(build(write_source(_boxes(f"000000000000000{n}")), lake)["release"]))
    layout = LocalStore(lake)
    assert [r.id for r in layout.releases()] == ids[1:], "default --keep 2: the current and one before"
    assert _ids(lake) == ["0000000000000003"]

    runner = CliRunner()
    result = runner.invoke(cli, ["rollback", "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    assert layout.current_id() == ids[1]
    assert _ids(lake) == ["0000000000000002"]
    assert [e.event for e in layout.history()] == ["publish", "publish", "publish", "rollback"]

    listed = runner.invoke(cli, ["releases", "--lake", str(lake)]).output.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [[ids[1], "current"], [ids[2], "published"]]

    missing = runner.invoke(cli, ["rollback", "--lake", str(lake), "--to", ids[0]])
    assert missing.exit_code == 1
    assert f"release '{ids[0]}' is not in" in missing.output and "oilake releases" in missing.output

    build(write_source(_boxes("0000000000000004")), lake, keep=1)
    assert [r.id for r in layout.releases()] == [layout.current_id()]
    with pytest.raises(LakeError, match="nothing to roll back to"):
        layout.rollback()


def test_a_reader_keeps_its_release_while_a_new_one_is_published(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    with open_lake(lake) as reader:
        assert reader.sql("select count(*) as n from boxes").item() == 1
        build(write_source(_boxes("0000000000000002", "0000000000000003")), lake)
        assert reader.sql("select count(*) as n from boxes").item() == 1
        assert reader.scan("boxes").collect().height == 1
    assert query(lake, "select count(*) from boxes").item() == 2


def test_a_failed_rebuild_leaves_the_published_release_untouched(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    before = LocalStore(lake).current_id()
    with pytest.raises(RejectLimitError):
        build(write_source(_boxes("NOT-AN-ID")), lake)
    layout = LocalStore(lake)
    assert layout.current_id() == before
    assert [r.id for r in layout.releases()] == [before]
    assert not (lake / ".staging").exists() or not any((lake / ".staging").iterdir())
    assert _ids(lake) == ["0000000000000001"]


def test_a_folder_built_by_an_older_oilake_gets_a_clear_error(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "_manifest.json").write_text("{}")
    with pytest.raises(LakeError, match="built by an older oilake"):
        build(write_source(_boxes("0000000000000001")), lake)


HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipeline.lake.lock import lake_lock
    with lake_lock(Path(sys.argv[1]), "test holder"):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_second_build_fails_fast_naming_the_holder(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lake)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LakeLockedError) as raised:
            build(write_source(_boxes("0000000000000002")), lake)
        assert raised.value.holder is not None and raised.value.holder.pid == holder.pid
        message = str(raised.value)
        assert f"pid {holder.pid} on {socket.gethostname()}, started 20" in message and "test holder" in message
        assert lock_holder(lake) == raised.value.holder

        result = CliRunner().invoke(cli, ["build", "--source", str(tmp_path / "source0"), "--lake", str(lake)])
        assert result.exit_code == 1
        assert f"pid {holder.pid}" in result.output and "hint: wait for that build to finish" in result.output
    finally:
        holder.kill()
        holder.wait()
    assert _ids(lake) == ["0000000000000001"]


def test_a_lock_left_by_a_dead_process_is_taken_over(
    write_source: WriteSource, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lake)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    assert json.loads((lake / LOCK).read_text())["pid"] == holder.pid, "the dead holder's record is still there"
    assert lock_holder(lake) is None
    with lake_lock(lake, "test") as lock:
        assert lock.stale is not None and lock.stale.pid == holder.pid
    assert f"taking over the lock of a build that died: pid {holder.pid}" in capsys.readouterr().err
    build(write_source(_boxes("0000000000000002")), lake)
    assert _ids(lake) == ["0000000000000002"]
