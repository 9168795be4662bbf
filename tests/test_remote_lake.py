"""A lake on object storage (moto's S3 server on loopback): s3:// sources into an s3:// lake and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import s3fs
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.errors import OilakeError
from pipeline.lake.remote import POINTER, ObjectStore
from pipeline.query.api import open_lake
from pipeline.resources import sample_dir
from tests.conftest import BOX_HEADER, build
from tests.servers import DUMMY_SECRET, upload
from tests.test_remote_sources import table_rows

pytestmark = pytest.mark.server  # every test uses the moto S3 server


def _fs() -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(anon=False, skip_instance_cache=True)


def test_s3_sources_into_an_s3_lake_equal_the_local_build(
    s3_bucket: str, sample_lake: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    source = f"s3://{s3_bucket}/raw/openimages"
    lake = f"s3://{s3_bucket}/lakes/oi"
    upload(sample_dir(), source)
    manifest = build(source, lake)
    remote, local = table_rows(lake), table_rows(sample_lake[0])
    assert sum(len(rows) for rows in local.values()) > 20_000
    for table, rows in local.items():
        assert remote[table] == rows, table

    fs = _fs()
    release = str(manifest["release"])
    pointer = json.loads(fs.cat_file(f"{s3_bucket}/lakes/oi/{POINTER}"))
    assert pointer["release"] == release and pointer["catalog"] == f"releases/{release}/lake.duckdb"
    assert pointer["tables"]["boxes"] == 1537
    train_boxes = next(s["output"] for s in manifest["sources"] if s["file"] == "oidv6-train-annotations-bbox.csv")
    assert train_boxes.startswith("boxes/split=train/oidv6-train-annotations-bbox.")
    assert fs.exists(f"{s3_bucket}/lakes/oi/releases/{release}/{train_boxes}")
    assert sample_lake[1]["tables"] == manifest["tables"], "the same bytes, the same names, on both kinds of lake"
    assert DUMMY_SECRET not in fs.cat_file(f"{s3_bucket}/lakes/oi/releases/{release}/_manifest.json").decode()

    with open_lake(lake) as opened:
        assert opened.scan("boxes").collect().height == 1537
        assert opened.sql("select count(*) as n from boxes where split = 'validation'").item() == 285
        assert opened.sql("select label_name from class_stats order by boxes desc, label_name limit 1").item()

    result = CliRunner().invoke(cli, ["sql", "--lake", lake, "--format", "csv", "select count(*) as n from images"])
    assert result.exit_code == 0 and result.output.splitlines() == ["n", "240"]


def test_the_pointer_moves_last_and_old_releases_are_pruned(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("validation-annotations-bbox.csv", "oidv6-class-descriptions.csv"):
        (source / name).write_bytes((sample_dir() / name).read_bytes())
    lake = f"s3://{s3_bucket}/lake"
    first = str(build(source, lake)["release"])

    def broken_upload(self: ObjectStore, staging: Path, release_id: str) -> None:
        parquet = next(staging.rglob("*.parquet"))
        self.fs.put_file(str(parquet), self.path("releases", release_id, "partial.parquet"))
        raise OSError("connection reset while uploading")

    monkeypatch.setattr(ObjectStore, "promote", broken_upload)
    with pytest.raises(OSError, match="connection reset"):
        build(source, lake)
    monkeypatch.undo()
    remote = ObjectStore(lake)
    assert remote.current_id() == first, "a failed upload never moves the pointer"
    assert len(remote.release_ids()) == 2, "the partial upload is still there, unpublished"
    with open_lake(lake) as opened:
        assert opened.sql("select count(*) as n from boxes").item() == 285

    second = str(build(source, lake)["release"])
    third = str(build(source, lake)["release"])
    assert remote.release_ids() == sorted([second, third]), "--keep 2; the unpublished upload is gone"
    assert [e.release for e in remote.history()] == [first, second, third]


def test_a_missing_remote_lake_is_a_clear_error(s3_bucket: str) -> None:
    with pytest.raises(OilakeError, match="is not a built oilake lake"):
        open_lake(f"s3://{s3_bucket}/nothing-here")


# -- compare-and-swap publish, a lock with holder and expiry, a kill during the upload ---------------


def _small_source(tmp_path: Path, *image_ids: str) -> Path:
    folder = tmp_path / f"source-{len(image_ids)}"
    folder.mkdir(exist_ok=True)
    rows = [f"{i},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for i in image_ids]
    (folder / "validation-annotations-bbox.csv").write_text("\n".join([BOX_HEADER, *rows]) + "\n")
    return folder


def _race(monkeypatch: pytest.MonkeyPatch, lake: str, rival: Path) -> list[str]:
    """Just before the next build publishes, another build (its lock expired meanwhile) runs and publishes.

    The rival leaves the loser's upload alone (as two writers would that both think they hold the
    lake, e.g. on a store that ignores the lock): only the pointer's compare-and-swap keeps them apart.
    """
    real_publish, real_clean, real_prune = ObjectStore.publish, ObjectStore.clean_leftovers, ObjectStore.prune
    won: list[str] = []

    def publish_late(self: ObjectStore, release_id: str, event: str = "publish") -> None:
        if not won:
            won.append("racing")
            monkeypatch.setattr(ObjectStore, "clean_leftovers", lambda self: [])
            monkeypatch.setattr(ObjectStore, "prune", lambda self, keep: [])
            won[0] = str(build(rival, lake)["release"])
            monkeypatch.setattr(ObjectStore, "clean_leftovers", real_clean)
            monkeypatch.setattr(ObjectStore, "prune", real_prune)
        real_publish(self, release_id, event)

    monkeypatch.setenv("OILAKE_LOCK_TTL", "0")  # every lock is expired at once: the rival takes it over
    monkeypatch.setattr(ObjectStore, "publish", publish_late)
    return won


@pytest.mark.parametrize("first", [True, False], ids=["first-publish", "later-publish"])
def test_of_two_concurrent_publishes_exactly_one_wins(
    first: bool, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.lake.remote import LOCK_OBJECT, PointerMovedError

    lake = f"s3://{s3_bucket}/lake"
    before = [] if first else [str(build(_small_source(tmp_path, "0000000000000001"), lake)["release"])]
    loser = _small_source(tmp_path, "0000000000000003", "0000000000000004", "0000000000000005")
    with monkeypatch.context() as race:
        won = _race(race, lake, _small_source(tmp_path, "0000000000000001", "0000000000000002"))
        with pytest.raises(PointerMovedError, match=r"changed while release .* was being built") as raised:
            build(loser, lake)
    assert "run the command again" in raised.value.hint

    store = ObjectStore(lake)
    assert store.current_id() == won[0], "the rival's publish stands"
    assert store.release_ids() == sorted([*before, won[0]]), "the loser's release was deleted"
    assert [e.release for e in store.history()] == [*before, won[0]]
    assert not _fs().exists(f"{s3_bucket}/lake/{LOCK_OBJECT}"), "each build deleted only its own lock"
    with open_lake(lake) as opened:
        assert opened.sql("select count(*) from boxes").item() == 2


def _lock_record(s3_bucket: str, **fields: object) -> None:
    from pipeline.lake.remote import LOCK_OBJECT

    record = {"pid": 1, "host": "elsewhere", "started": "2026-01-01T00:00:00+00:00", "command": "build"} | fields
    _fs().pipe_file(f"{s3_bucket}/lake/{LOCK_OBJECT}", json.dumps(record).encode())


def test_a_live_lock_is_kept_and_an_expired_or_dead_one_is_taken_over(s3_bucket: str, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess

    from pipeline.lake.lock import LakeLockedError

    lake, source = f"s3://{s3_bucket}/lake", _small_source(tmp_path, "0000000000000001")
    _lock_record(s3_bucket, expires="2999-01-01T00:00:00+00:00")
    with pytest.raises(LakeLockedError, match="pid 1 on elsewhere") as raised:
        build(source, lake)
    assert "lock expires 2999-01-01" in str(raised.value) and "taken over only once it expires" in str(raised.value)
    _lock_record(s3_bucket)  # no expiry recorded (an older oilake): never taken over
    with pytest.raises(LakeLockedError):
        build(source, lake)

    _lock_record(s3_bucket, expires="2020-01-01T00:00:00+00:00")
    first = str(build(source, lake)["release"])
    gone = subprocess.run(["true"], check=True)  # a pid that existed and is gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert gone.returncode == 0
    _lock_record(s3_bucket, pid=dead.pid, host=socket.gethostname(), expires="2999-01-01T00:00:00+00:00")
    second = str(build(source, lake)["release"])
    _lock_record(s3_bucket, pid=os.getpid(), host=socket.gethostname(), expires="2999-01-01T00:00:00+00:00")
    with pytest.raises(LakeLockedError):
        build(source, lake)  # this very process: alive
    assert ObjectStore(lake).current_id() == second and first in ObjectStore(lake).release_ids()


KILL_DURING_UPLOAD = """
import os, signal, sys
from pipeline.build.run import build_lake
from pipeline.build.plan import BuildOptions
uploaded = []
def put_file(self, local, target, *args, **kwargs):
    real(self, local, target, *args, **kwargs)
    uploaded.append(target)
    if len(uploaded) == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the upload
import s3fs
real = s3fs.S3FileSystem.put_file
s3fs.S3FileSystem.put_file = put_file
build_lake(BuildOptions(source=sys.argv[1], lake=sys.argv[2]))
"""


@pytest.mark.parametrize("after", [1, 3])
def test_a_build_killed_during_the_upload_leaves_the_old_release_and_the_next_build_cleans_up(
    after: int, s3_bucket: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    from pipeline.lake.remote import LOCK_OBJECT

    lake = f"s3://{s3_bucket}/lake"
    first = str(build(_small_source(tmp_path, "0000000000000001"), lake)["release"])
    source = _small_source(tmp_path, "0000000000000001", "0000000000000002")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_UPLOAD, str(source), lake, str(after)],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    store = ObjectStore(lake)
    assert store.current_id() == first and len(store.release_ids()) == 2, "a partial, unpublished upload"
    assert _fs().exists(f"{s3_bucket}/lake/{LOCK_OBJECT}"), "the dead build's lock is left behind"
    with open_lake(lake) as opened:
        assert opened.sql("select count(*) from boxes").item() == 1

    second = str(build(source, lake)["release"])  # takes over the dead holder's lock, deletes the upload
    assert store.release_ids() == sorted([first, second]) and store.current_id() == second
    assert not _fs().exists(f"{s3_bucket}/lake/{LOCK_OBJECT}")
    with open_lake(lake) as opened:
        assert opened.sql("select count(*) from boxes").item() == 2
