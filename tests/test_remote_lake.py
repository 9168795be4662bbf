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
from tests.conftest import build
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
    assert fs.exists(f"{s3_bucket}/lakes/oi/releases/{release}/boxes/split=train/oidv6-train-annotations-bbox.parquet")
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
