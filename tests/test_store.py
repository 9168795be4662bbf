"""Every lake operation through one store interface, on a local folder and on an s3:// lake (moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import s3fs
from click.testing import CliRunner

from pipeline.build.run import BuildOptions, build_lake
from pipeline.cli import cli
from pipeline.core.contract import BuildResult
from pipeline.lake.local import LocalStore
from pipeline.lake.lock import LakeLockedError
from pipeline.lake.remote import LOCK_OBJECT, ObjectStore
from pipeline.lake.store import StoreCapabilityError, list_releases, open_store, rollback
from pipeline.lake.verify import verify_lake
from pipeline.query.api import open_lake
from pipeline.resources import sample_dir
from tests.conftest import BOX_HEADER, WriteSource

VAL_BOXES = "validation-annotations-bbox.csv"
KINDS = ["local", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=KINDS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A lake location of each kind: a folder, or a prefix in a fresh moto bucket."""
    if request.param == "local":
        return str(tmp_path / "lake")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/lakes/oi"


def _boxes(*image_ids: str) -> dict[str, str]:
    rows = [f"{i},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for i in image_ids]
    return {VAL_BOXES: BOX_HEADER + "\n" + "\n".join(rows) + "\n"}


def _build(source: Path, lake: str, **options: Any) -> BuildResult:
    return build_lake(BuildOptions(source=str(source), lake=lake, **options))


def _count(lake: str) -> int:
    with open_lake(lake) as opened:
        return int(opened.sql("select count(*) from boxes").item())


def test_open_store_picks_the_kind(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "lake"), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}/lake"), LocalStore)
    assert isinstance(open_store("memory://lakes/oi"), ObjectStore)


def test_releases_rollback_verify_and_reading_work_on_each_kind(lake: str, write_source: WriteSource) -> None:
    first = _build(write_source(_boxes("0000000000000001")), lake)
    second = _build(write_source(_boxes("0000000000000002", "0000000000000003")), lake)
    assert isinstance(first, BuildResult) and first.manifest.table_rows()["boxes"] == 1
    releases = list_releases(lake)
    assert [(r.id, r.status) for r in releases] == [(first.release, "published"), (second.release, "current")]
    assert [r.finished for r in releases] == [first.manifest.finished, second.manifest.finished]
    assert [r.rows for r in releases] == [first.manifest.data_rows, second.manifest.data_rows]
    assert _count(lake) == 2
    assert verify_lake(lake).ok

    assert rollback(lake) == first.release
    assert _count(lake) == 1
    store = open_store(lake)
    assert store.current_id() == first.release
    assert [(e.event, e.release) for e in store.history()] == [
        ("publish", first.release), ("publish", second.release), ("rollback", first.release)
    ]  # fmt: skip
    assert verify_lake(lake).ok and verify_lake(lake, release_id=second.release).ok

    runner = CliRunner()
    listed = runner.invoke(cli, ["releases", "--lake", lake])
    assert listed.exit_code == 0, listed.output
    assert [line.split("\t")[:2] for line in listed.output.splitlines()] == [
        [first.release, "current"], [second.release, "published"]
    ]  # fmt: skip
    moved = runner.invoke(cli, ["rollback", "--lake", lake, "--to", second.release])
    assert moved.exit_code == 0, moved.output
    assert f"current release: {second.release}" in moved.output
    verified = runner.invoke(cli, ["verify", "--lake", lake])
    assert verified.exit_code == 0 and f"release {second.release}: verified" in verified.output
    queried = runner.invoke(cli, ["sql", "--lake", lake, "--format", "csv", "select count(*) as n from boxes"])
    assert queried.exit_code == 0 and queried.output.splitlines() == ["n", "2"]
    images = runner.invoke(cli, ["image-list", "--lake", lake, "--classes", "Cat"])
    assert images.exit_code == 1 and "Cat" in images.output  # the tiny lake names no classes
    with open_lake(lake) as opened:
        assert opened.scan("boxes").collect().get_column("split").to_list() == ["validation", "validation"]

    third = _build(write_source(_boxes("0000000000000004")), lake)
    assert third.pruned == [first.release], "--keep 2: the current release and the one published before"
    assert [r.id for r in list_releases(lake)] == [second.release, third.release]


def test_an_incremental_build_reuses_unchanged_outputs_on_each_kind(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[str] = []
    real_copy = s3fs.S3FileSystem.copy

    def copy(self: s3fs.S3FileSystem, source: str, target: str, **kwargs: object) -> None:
        copied.append(target.rsplit("/releases/", 1)[-1].split("/", 1)[-1])
        real_copy(self, source, target, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "copy", copy)
    source = tmp_path / "source"
    source.mkdir()
    for name in (VAL_BOXES, "oidv6-class-descriptions.csv", "validation-annotations-human-imagelabels.csv"):
        (source / name).write_bytes((sample_dir() / name).read_bytes())
    first = _build(source, lake)
    second = _build(source, lake)
    assert {r.file: r.reused_from for r in second.manifest.sources} == {
        r.file: first.release for r in first.manifest.sources
    }
    assert second.manifest.table_rows() == first.manifest.table_rows()
    outputs = {r.output for r in second.manifest.sources if r.output}
    if lake.startswith("s3://"):
        assert outputs <= set(copied), "reused outputs are copied inside the object store, not uploaded"
    assert verify_lake(lake).ok
    with open_lake(lake) as opened:
        assert opened.sql("select count(*) from boxes_named where label_name is not null").item() == 285

    (source / VAL_BOXES).write_text(
        (source / VAL_BOXES).read_text() + "abcdefabcdefabcd,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n"
    )
    third = _build(source, lake)
    reused = {r.file: bool(r.reused_from) for r in third.manifest.sources}
    assert reused[VAL_BOXES] is False and reused["validation-annotations-human-imagelabels.csv"] is True
    assert third.manifest.table_rows()["boxes"] == 286
    assert verify_lake(lake).ok


def test_verify_reports_a_missing_file_on_each_kind(lake: str, write_source: WriteSource) -> None:
    result = _build(write_source(_boxes("0000000000000001")), lake)
    part = result.manifest.tables["boxes"].files[0].path
    store = open_store(lake)
    if isinstance(store, LocalStore):
        (store.release_path(result.release) / part).unlink()
    else:
        s3fs.S3FileSystem(anon=False, skip_instance_cache=True).rm(f"{store.release_root(result.release)}/{part}")
    problems = verify_lake(lake).problems
    assert f"{part}: listed in the manifest but missing" in problems
    assert any(p.startswith("lake.duckdb: view boxes fails") for p in problems)


def test_an_s3_lake_has_a_writer_lock(s3_bucket: str, write_source: WriteSource) -> None:
    lake = f"s3://{s3_bucket}/lake"
    source = write_source(_boxes("0000000000000001"))
    _build(source, lake)
    fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
    assert not fs.exists(f"{s3_bucket}/lake/{LOCK_OBJECT}"), "a finished build deletes its lock"
    store = open_store(lake)
    with store.lock("test holder"):
        with pytest.raises(LakeLockedError) as raised:
            _build(source, lake)
        assert raised.value.holder is not None and raised.value.holder.command == "test holder"
        assert "cannot tell whether that process is still running" in str(raised.value)
        assert f"delete {lake}/{LOCK_OBJECT}" in raised.value.hint
        with pytest.raises(LakeLockedError):
            rollback(lake)
    assert len(list_releases(lake)) == 1, "the refused build left nothing behind"
    _build(source, lake)
    assert len(list_releases(lake)) == 2


def test_a_store_without_conditional_writes_refuses_to_write(write_source: WriteSource) -> None:
    with pytest.raises(StoreCapabilityError, match="no conditional write") as raised:
        _build(write_source(_boxes("0000000000000001")), "memory://oilake-test/lake")
    assert "s3://" in raised.value.hint


def test_a_prefix_holding_other_objects_is_refused(s3_bucket: str, write_source: WriteSource) -> None:
    fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
    fs.pipe_file(f"{s3_bucket}/data/notes.txt", b"mine")
    with pytest.raises(Exception, match="is not an oilake lake"):
        _build(write_source(_boxes("0000000000000001")), f"s3://{s3_bucket}/data")
    assert fs.cat_file(f"{s3_bucket}/data/notes.txt") == b"mine"


def test_catalog_on_an_object_store_lake_is_a_named_error() -> None:
    result = CliRunner().invoke(cli, ["catalog", "--lake", "s3://user:secret@bucket/lake"])
    assert result.exit_code == 1
    assert "error: oilake catalog rewrites a local lake's catalog" in result.output
    assert "hint: rebuild the object-store lake" in result.output
    assert "secret" not in result.output


def test_an_object_store_lake_shows_only_its_redacted_url() -> None:
    store = ObjectStore("memory://user:pw@bucket/lake?token=SECRET")
    assert store.url == "memory://***@bucket/lake?token=***"
    with pytest.raises(StoreCapabilityError) as raised, store.lock("build"):
        pass
    assert "pw" not in str(raised.value) and "SECRET" not in str(raised.value)
    assert "memory://***@bucket/lake?token=***" in str(raised.value)
