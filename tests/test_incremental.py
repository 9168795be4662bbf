"""Idempotent and incremental builds: unchanged source files are reused, changed ones rebuilt."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.build.marts import QUERY_LAYER_KEY
from pipeline.build.reuse import load_previous, mart_donor
from pipeline.core.schema import all_schemas
from pipeline.lake.store import open_store
from pipeline.resources import sample_dir
from tests.conftest import BOX_HEADER, build, query, sources_by_file

VAL_BOXES = "validation-annotations-bbox.csv"
VAL_LABELS = "validation-annotations-human-imagelabels.csv"
VAL_LABELS_BOXABLE = "validation-annotations-human-imagelabels-boxable.csv"
CLASSES = "oidv6-class-descriptions.csv"


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    shutil.copytree(sample_dir(), folder, ignore=shutil.ignore_patterns("README*"))
    return folder


def _content(lake: Path) -> dict[str, list[tuple[object, ...]]]:
    return {name: query(lake, f"select * from {name} order by all").rows() for name in all_schemas()}


def _reused(manifest: dict[str, Any]) -> dict[str, bool]:
    return {name: bool(s["reused_from"]) for name, s in sources_by_file(manifest).items()}


@pytest.mark.slow
def test_a_second_build_reuses_every_unchanged_file_and_yields_the_same_lake(sample_copy: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first = build(sample_copy, lake)
    before = _content(lake)
    second = build(sample_copy, lake)
    assert set(_reused(second).values()) == {True}
    assert second["reused_files"] == [s["file"] for s in second["sources"]]
    assert {s["reused_from"] for s in second["sources"]} == {first["release"]}
    assert _content(lake) == before
    assert second["tables"] == first["tables"] or all(
        second["tables"][t]["rows"] == first["tables"][t]["rows"] for t in all_schemas()
    )
    output = str(sources_by_file(second)[VAL_BOXES]["output"])
    old = tmp_path / "lake" / "releases" / str(first["release"]) / output
    new = tmp_path / "lake" / "releases" / str(second["release"]) / output
    assert old.stat().st_ino == new.stat().st_ino, "reused outputs are hard links, not copies"

    full = build(sample_copy, lake, full=True)
    assert set(_reused(full).values()) == {False}
    assert _content(lake) == before, "a full rebuild of the same sources gives the same rows and values"


def test_changing_one_file_rebuilds_only_that_file(sample_copy: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(sample_copy, lake)
    boxes = sample_copy / VAL_BOXES
    boxes.write_text(boxes.read_text() + "abcdefabcdefabcd,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n")
    manifest = build(sample_copy, lake)
    rebuilt = sorted(name for name, reused in _reused(manifest).items() if not reused)
    assert rebuilt == [VAL_BOXES]
    assert query(lake, "select count(*) from boxes where image_id = 'abcdefabcdefabcd'").item() == 1
    assert sources_by_file(manifest)[VAL_BOXES]["rows_written"] == 286


def test_a_same_size_change_is_found_by_the_md5(sample_copy: Path, tmp_path: Path) -> None:
    """Name and size equal, one byte different: only the md5 (hashed two files at a time) tells them apart."""
    lake = tmp_path / "lake"
    build(sample_copy, lake)
    boxes = sample_copy / VAL_BOXES
    data = boxes.read_bytes()
    at = data.index(b",0.", data.index(b"\n")) + 3  # the first decimal digit of the first row's XMin
    changed = data[:at] + (b"1" if data[at : at + 1] != b"1" else b"2") + data[at + 1 :]
    assert len(changed) == len(data) and changed != data
    boxes.write_bytes(changed)
    manifest = build(sample_copy, lake)
    rebuilt = sorted(name for name, reused in _reused(manifest).items() if not reused)
    assert rebuilt == [VAL_BOXES]
    assert len(manifest["reused_files"]) == len(manifest["sources"]) - 1


def test_a_changed_full_label_file_also_rebuilds_its_boxable_subset(sample_copy: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first = build(sample_copy, lake)
    labels = sample_copy / VAL_LABELS
    labels.write_text(labels.read_text() + "abcdefabcdefabcd,verification,/m/0k4j,1\n")
    manifest = build(sample_copy, lake)
    rebuilt = sorted(name for name, reused in _reused(manifest).items() if not reused)
    assert rebuilt == [VAL_LABELS_BOXABLE, VAL_LABELS], "the subset was deduplicated against the changed file"
    subset = sources_by_file(manifest)[VAL_LABELS_BOXABLE]
    assert subset["rows_duplicate"] == sources_by_file(first)[VAL_LABELS_BOXABLE]["rows_duplicate"]
    assert query(lake, "select count(*) from image_labels where image_id = 'abcdefabcdefabcd'").item() == 1


def test_a_changed_class_file_rebuilds_the_metadata_tables_only(sample_copy: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(sample_copy, lake)
    classes = sample_copy / CLASSES
    classes.write_text(classes.read_text().replace("/m/0k4j,Car", "/m/0k4j,Automobile"))
    manifest = build(sample_copy, lake)
    rebuilt = {s["file"] for s in manifest["sources"] if not s["reused_from"]}
    assert rebuilt == {s["file"] for s in manifest["sources"] if s["split"] is None}
    assert query(lake, "select display_name from classes where label_mid = '/m/0k4j'").item() == "Automobile"
    assert query(lake, "select count(*) from boxes_named where label_name = 'Automobile'").item() > 0


def test_rejects_of_reused_files_are_carried_over(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    good = "0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0"
    (source / VAL_BOXES).write_text(f"{BOX_HEADER}\n{good}\nBAD,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n")
    lake = tmp_path / "lake"
    build(source, lake, max_rejects=1)
    manifest = build(source, lake, max_rejects=1)
    assert _reused(manifest) == {VAL_BOXES: True}
    assert query(lake, "select source_file, line from rejects").rows() == [(VAL_BOXES, 3)]
    with pytest.raises(Exception, match="1 row"):
        build(source, lake, max_rejects=0)


@pytest.mark.server
def test_remote_files_are_compared_by_etag(s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import s3fs

    from pipeline.read.sources import Source
    from tests.servers import upload

    source = tmp_path / "source"
    source.mkdir()
    (source / VAL_BOXES).write_bytes((sample_dir() / VAL_BOXES).read_bytes())
    (source / VAL_LABELS).write_bytes((sample_dir() / VAL_LABELS).read_bytes())
    url = f"s3://{s3_bucket}/oi"
    upload(source, url)
    lake = tmp_path / "lake"
    build(url, lake)

    opened: list[str] = []
    original_open = Source.open
    monkeypatch.setattr(Source, "open", lambda self, file: opened.append(file.name) or original_open(self, file))
    second = build(url, lake)
    assert _reused(second) == {VAL_BOXES: True, VAL_LABELS: True}
    assert opened.count(VAL_BOXES) == 1, "opened once, for the header check: the ETag decides, no md5 pass"

    fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
    fs.pipe_file(
        f"{s3_bucket}/oi/{VAL_LABELS}",
        (source / VAL_LABELS).read_bytes() + b"0123456789abcdef,verification,/m/0k4j,1\n",
    )
    third = build(url, lake)
    assert _reused(third) == {VAL_BOXES: True, VAL_LABELS: False}
    assert query(lake, "select count(*) from image_labels where image_id = '0123456789abcdef'").item() == 1


def test_a_corrupt_published_file_is_read_again_not_lent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source"
    source.mkdir()
    rows = [f"000000000000000{n},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for n in range(1, 4)]
    (source / VAL_BOXES).write_text(BOX_HEADER + "\n" + "\n".join(rows) + "\n")
    lake = tmp_path / "lake"
    part = str(sources_by_file(build(source, lake))[VAL_BOXES]["output"])
    (lake / "current" / part).write_bytes(b"garbage" * 200)  # the published bytes overwritten in place
    capsys.readouterr()
    manifest = build(source, lake)
    err = capsys.readouterr().err
    assert f"note  {part} of release " in err and "is damaged: unreadable Parquet" in err
    assert "it is not reused" in err
    assert not _reused(manifest)[VAL_BOXES]
    assert query(lake, "select count(*) as n from boxes")["n"][0] == 3
    fresh = str(sources_by_file(manifest)[VAL_BOXES]["output"])
    assert fresh == part, "the same bytes as before the damage: the same name"
    assert os.stat(lake / "current" / fresh).st_nlink == 1  # a new file, not a link to the damaged one


MARTS = [s.table for s in all_schemas().values() if s.is_mart]
TRAIN_VRD = "oidv6-train-annotations-vrd.csv"


def _marts(lake: Path) -> dict[str, list[tuple[object, ...]]]:
    return {name: query(lake, f"select * from {name} order by all").rows() for name in MARTS}


def _add_box(folder: Path) -> None:
    boxes = folder / VAL_BOXES
    boxes.write_text(boxes.read_text() + "abcdefabcdefabcd,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n")


def _drop_last_relationship(folder: Path) -> None:
    vrd = folder / TRAIN_VRD
    vrd.write_text("".join(vrd.read_text().splitlines(keepends=True)[:-1]))


def _rename_car(folder: Path) -> None:
    classes = folder / CLASSES
    classes.write_text(classes.read_text().replace("/m/0k4j,Car", "/m/0k4j,Automobile"))


@pytest.mark.parametrize(
    ("change", "kept"),
    [(_add_box, "train, test"), (_drop_last_relationship, "validation, test"), (_rename_car, None)],
    ids=["validation-boxes", "train-relationships", "class-names"],
)
def test_a_rebuild_recomputes_the_marts_of_changed_splits_only(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, kept: str | None
) -> None:
    """The split-local marts keep the unchanged splits' rows; every mart equals a fresh build's."""
    lake = tmp_path / "lake"
    first = build(sample_copy, lake)
    before = _marts(lake)
    change(sample_copy)
    capsys.readouterr()
    build(sample_copy, lake)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("reuse marts")]
    if kept is None:
        assert lines == [], "a changed class file changes every split's names"
    else:
        assert lines == [
            f"reuse marts box_geometry, class_stats, image_summary, mask_stats: rows of {kept} kept from release "
            f"{first['release']} (those splits' source files are unchanged)"
        ]
    incremental = _marts(lake)
    build(sample_copy, tmp_path / "fresh")
    assert incremental == _marts(tmp_path / "fresh")
    assert incremental != before


def test_a_mart_computed_with_another_query_layer_is_not_kept(sample_copy: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(sample_copy, lake)
    previous = load_previous(open_store(lake))
    assert previous is not None
    donor = mart_donor(previous, ("train",))
    assert donor is not None and sorted(donor.files) == ["box_geometry", "class_stats", "image_summary", "mask_stats"]
    (path,) = previous.store.files(previous.release_id, "class_stats")
    published = previous.store.local_copy(previous.release_id, path)
    table = pq.read_table(published)
    os.chmod(published, 0o644)
    pq.write_table(table.replace_schema_metadata({QUERY_LAYER_KEY: "0000000000000000"}), published)
    donor = mart_donor(previous, ("train",))
    assert donor is not None and sorted(donor.files) == ["box_geometry", "image_summary", "mask_stats"]
    assert mart_donor(previous, ()) is None
