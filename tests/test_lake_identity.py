"""What a lake folder is, and what a build may delete there (issue 11, defects 1, 3, 4 and 9)."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.lake import local
from pipeline.lake.local import MARKER, LocalStore
from pipeline.lake.lock import LOCK, LakeLockedError, lake_lock
from tests.conftest import BOX_HEADER, WriteSource, build, query

VAL_BOXES = "validation-annotations-bbox.csv"


def _boxes(*image_ids: str) -> dict[str, str]:
    rows = [f"{i},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for i in image_ids]
    return {VAL_BOXES: BOX_HEADER + "\n" + "\n".join(rows) + "\n"}


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- defect 1: a folder is a lake only by positive evidence -------------------------------------


@pytest.mark.parametrize("name", ["mine", "20200101T000000.000000Z"])
def test_a_folder_with_a_releases_folder_is_not_a_lake_and_is_never_touched(
    name: str, write_source: WriteSource, tmp_path: Path
) -> None:
    folder = tmp_path / "d"
    (folder / "releases" / name).mkdir(parents=True)
    (folder / "releases" / name / "notes.txt").write_text("keep")
    before = _tree(folder)
    result = CliRunner().invoke(
        cli, ["build", "--source", str(write_source(_boxes("0000000000000001"))), "--lake", str(folder)]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: refusing to write {folder}: it is not empty and not an oilake lake" in result.output
    assert "found releases" in result.output and "hint: choose a new or empty folder with --lake" in result.output
    assert _tree(folder) == before, "nothing written, nothing deleted (not even a lock file)"
    assert (folder / "releases" / name / "notes.txt").read_text() == "keep"


def test_an_empty_folder_becomes_a_lake_and_a_lake_keeps_what_oilake_did_not_make(
    write_source: WriteSource, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    build(write_source(_boxes("0000000000000001")), lake)
    assert (lake / MARKER).is_file() and LocalStore(lake).is_lake()
    (lake / "releases" / "mine").mkdir()
    (lake / "releases" / "mine" / "notes.txt").write_text("keep")
    (lake / ".staging").mkdir(exist_ok=True)
    (lake / ".staging" / "scratch").mkdir()
    for n in range(2, 5):
        build(write_source(_boxes(f"000000000000000{n}")), lake)
    assert (lake / "releases" / "mine" / "notes.txt").read_text() == "keep", "not a release: never pruned"
    assert (lake / ".staging" / "scratch").is_dir(), "not a staging folder oilake made"
    assert "mine" not in [r.id for r in LocalStore(lake).releases()]


def test_a_killed_first_build_leaves_a_marked_lake_the_next_build_cleans(
    write_source: WriteSource, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    store = LocalStore(lake)
    with store.lock("test"):
        _, staging = store.new_release()
    # what a SIGKILL would have left: the marker and a staging folder
    staging.mkdir(parents=True, exist_ok=True)
    (lake / MARKER).write_text("{}")
    build(write_source(_boxes("0000000000000001")), lake)
    assert not staging.exists() and query(lake, "select count(*) from boxes").item() == 1


# -- defect 3: a failed first build takes back only what it made ----------------------------------


def test_a_losing_first_build_removes_nothing_of_the_winner(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "new"
    winner = LocalStore(lake)
    with winner.lock("winner"):
        (lake / ".staging" / "20200101T000000.000000Z").mkdir(parents=True)
        with pytest.raises(LakeLockedError):
            build(write_source(_boxes("0000000000000001")), lake)
        assert (lake / LOCK).is_file() and (lake / ".staging" / "20200101T000000.000000Z").is_dir()
        assert json.loads((lake / LOCK).read_text())["command"] == "winner", "the winner's lock file is intact"
        with pytest.raises(LakeLockedError):
            build(write_source(_boxes("0000000000000002")), lake)


def test_a_failed_first_build_removes_its_folder_and_a_waiting_locker_retries(tmp_path: Path) -> None:
    lake = tmp_path / "new"
    first = LocalStore(lake)
    opened = threading.Event()
    results: list[str] = []

    def waiter() -> None:
        opened.wait()
        # it opened the lock file before the first build removed it: it must not trust that flock
        with lake_lock(lake, "second", create_root=True):
            results.append(str(os.stat(lake / LOCK).st_ino))

    with pytest.raises(RuntimeError), first.lock("first"):
        old = os.open(lake / LOCK, os.O_RDWR)  # a locker that opened the file and will flock it later
        raise RuntimeError("the build failed")
    assert not lake.exists(), "a failed first build leaves no folder behind"
    fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the flock of a removed file: worth nothing
    assert not local.LocalStore(lake).is_lake()
    os.close(old)
    thread = threading.Thread(target=waiter)
    thread.start()
    opened.set()
    thread.join(10)
    assert results and lake.is_dir() and (lake / LOCK).is_file()


def test_a_locker_whose_lock_file_was_replaced_locks_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    real_open = os.open
    swapped = []

    def racing_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        if str(path).endswith(LOCK) and not swapped:
            swapped.append(True)
            os.unlink(path)  # another build took back its lock file between our open and our flock
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    with lake_lock(lake, "me") as held:
        monkeypatch.setattr(os, "open", real_open)
        assert swapped and (lake / LOCK).is_file()
        assert json.loads((lake / LOCK).read_text())["command"] == "me", "it holds the file the path names"
        assert held.holder.command == "me"


# -- defect 4: nothing after the swap fails a build; the history and current agree ---------------


def test_a_failure_after_the_swap_is_a_note_and_the_publish_is_recorded(
    write_source: WriteSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalStore, "_ensure_entry_links", fail)
    monkeypatch.setattr(LocalStore, "prune", fail)
    source = write_source(_boxes("0000000000000002"))
    result = CliRunner().invoke(cli, ["build", "--source", str(source), "--lake", str(lake)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    store = LocalStore(lake)
    current = store.require_current()
    assert f"note  release {current} is current, but the lake's entry links could not be made" in result.output
    assert f"note  release {current} is published, but pruning old releases failed" in result.output
    assert store.history()[-1].release == current and len(store.history()) == 2
    assert query(lake, "select image_id from boxes").item() == "0000000000000002"


def test_a_failure_of_the_swap_leaves_history_and_current_as_they_were(
    write_source: WriteSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    store = LocalStore(lake)
    before, history = store.current_id(), (lake / "_history.jsonl").read_bytes()

    def fail(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(local.os, "replace", fail)
    with pytest.raises(OSError, match="Input/output error"):
        build(write_source(_boxes("0000000000000002")), lake)
    monkeypatch.undo()
    assert store.current_id() == before and (lake / "_history.jsonl").read_bytes() == history


def test_a_record_whose_swap_never_happened_is_not_a_publish(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    store = LocalStore(lake)
    first = store.require_current()
    # a build killed between recording its publish and swapping `current`
    with (lake / "_history.jsonl").open("a") as out:
        out.write('{"event": "publish", "release": "20990101T000000.000000Z", "at": "2099-01-01T00:00:00+00:00"}\n')
    assert [e.release for e in store.history()] == [first]
    build(write_source(_boxes("0000000000000002")), lake)
    assert [e.release for e in store.history()] == [first, store.require_current()]
    assert "2099" not in (lake / "_history.jsonl").read_text()


# -- defect 9: damaged metadata never blocks the lake --------------------------------------------


def test_a_torn_history_line_is_skipped_with_a_note_and_cut_by_the_next_write(
    write_source: WriteSource, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    build(write_source(_boxes("0000000000000001")), lake)
    build(write_source(_boxes("0000000000000002")), lake)
    history = lake / "_history.jsonl"
    with history.open("a") as out:
        out.write('{"event": "pub')
    runner = CliRunner()
    listed = runner.invoke(cli, ["releases", "--lake", str(lake)])
    assert listed.exit_code == 0, listed.output
    assert f"note  {history}: line 3 is damaged" in listed.output and "skipped" in listed.output
    rolled = runner.invoke(cli, ["rollback", "--lake", str(lake)])
    assert rolled.exit_code == 0, rolled.output
    assert history.read_text().endswith("}\n") and "pub\n" not in history.read_text()
    assert [e.event for e in LocalStore(lake).history()] == ["publish", "publish", "rollback"]
    built = runner.invoke(
        cli, ["build", "--source", str(write_source(_boxes("0000000000000003"))), "--lake", str(lake)]
    )
    assert built.exit_code == 0, built.output


def test_a_damaged_manifest_is_a_named_error_for_verify_and_a_full_rebuild_for_build(
    write_source: WriteSource, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    source = write_source(_boxes("0000000000000001"))
    build(source, lake)
    store = LocalStore(lake)
    damaged = store.release_path(store.require_current()) / "_manifest.json"
    damaged.write_text(damaged.read_text()[:100])
    runner = CliRunner()
    verified = runner.invoke(cli, ["verify", "--lake", str(lake)])
    assert verified.exit_code == 1 and "Traceback" not in verified.output
    assert f"error: {damaged}: not JSON" in verified.output
    assert "hint: " in verified.output and "`oilake rollback`" in verified.output
    listed = runner.invoke(cli, ["releases", "--lake", str(lake)])
    assert listed.exit_code == 0, listed.output
    built = runner.invoke(cli, ["build", "--source", str(source), "--lake", str(lake)])
    assert built.exit_code == 0, built.output
    assert f"note  {damaged}: not JSON" in built.output and "every file is read again" in built.output
    assert "reuse " not in built.output and "read  boxes/validation" in built.output
    assert query(lake, "select count(*) from boxes").item() == 1
