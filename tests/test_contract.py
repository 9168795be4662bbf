"""The typed lake contract reads and writes the lake's JSON exactly; the layout names table T's files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.build.run import BuildOptions, build_lake
from pipeline.core.contract import (
    BuildResult,
    FileReport,
    HistoryEvent,
    Manifest,
    ManifestError,
    Pointer,
    Release,
    history_from_text,
    history_to_text,
)
from pipeline.core.layout import file_path, partition_fields, partition_path, relative_files, view_pattern
from pipeline.core.schema import table_schema
from tests.conftest import BOX_HEADER, LABEL_HEADER, WriteSource

VAL_BOXES = "validation-annotations-bbox.csv"


@pytest.fixture
def built(write_source: WriteSource, tmp_path: Path) -> tuple[Path, BuildResult]:
    rows = "\n".join(f"000000000000000{n},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for n in range(1, 4))
    source = write_source(
        {
            VAL_BOXES: f"{BOX_HEADER}\n{rows}\nNOT-AN-ID,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n",
            "validation-annotations-human-imagelabels.csv": f"{LABEL_HEADER}\n0000000000000001,verification,/m/0k4j,1\n",
        }
    )
    lake = tmp_path / "lake"
    return lake, build_lake(BuildOptions(source=str(source), lake=lake, max_rejects=1))


def test_a_manifest_round_trips_byte_for_byte(built: tuple[Path, BuildResult]) -> None:
    lake, result = built
    text = (lake / "_manifest.json").read_text(encoding="utf-8")
    manifest = Manifest.from_text(text)
    assert manifest.to_text() == text
    assert manifest == result.manifest
    assert result.release == manifest.release == (lake / "current").resolve().name
    assert result.lake == str(lake.resolve()) and result.pruned == []
    boxes = manifest.tables["boxes"]
    assert boxes.rows == 3 and [f.path.split(".")[0] for f in boxes.files] == [
        "boxes/split=validation/validation-annotations-bbox"
    ]
    report = {r.file: r for r in manifest.sources}[VAL_BOXES]
    assert isinstance(report, FileReport) and report.rows_read == 4 and report.rows_rejected == 1 and report.reconciles
    assert manifest.table_rows()["rejects"] == 1
    assert manifest.data_rows == sum(rows for name, rows in manifest.table_rows().items() if name != "rejects")
    assert {s.file for s in manifest.skipped} >= {"oidv6-train-annotations-bbox.csv"}
    assert BuildResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_unreadable_manifests_are_named_errors() -> None:
    with pytest.raises(ManifestError, match="not JSON"):
        Manifest.from_text("{", "x/_manifest.json")
    with pytest.raises(ManifestError, match=re.escape("x/_manifest.json: manifest: missing format, release")):
        Manifest.from_text("{}", "x/_manifest.json")
    with pytest.raises(ManifestError, match="manifest format 1; this oilake reads format 2"):
        Manifest.from_json({k: None for k in ("release", "tool", "started", "finished", "source")} | {
            "format": 1, "sources": [], "tables": {}, "schemas": {}
        })  # fmt: skip
    with pytest.raises(ManifestError, match="source report: missing table"):
        FileReport.from_json({"family": "boxes", "split": None, "file": "x.csv"})


def test_history_pointer_and_release_round_trip() -> None:
    local = '{"event": "publish", "release": "r1", "at": "2024-01-01T00:00:00+00:00", "host": "h", "pid": 7}\n'
    remote = '{"event": "rollback", "release": "r0", "at": "2024-01-02T00:00:00+00:00"}\n'
    events = history_from_text(local + "\n" + remote)
    assert events == [
        HistoryEvent("publish", "r1", "2024-01-01T00:00:00+00:00", "h", 7),
        HistoryEvent("rollback", "r0", "2024-01-02T00:00:00+00:00"),
    ]
    assert history_to_text(events) == local + remote
    pointer = {"release": "r1", "catalog": "releases/r1/lake.duckdb", "manifest": "releases/r1/_manifest.json",
               "published": "2024-01-01T00:00:00+00:00", "tables": {"boxes": 3}}  # fmt: skip
    assert Pointer.from_json(pointer).to_json() == pointer
    release = Release("r1", current=False, published=True, created="a", finished="b", rows=3)
    assert release.status == "published" and Release.from_json(release.to_json()) == release
    assert Release("r2", current=False, published=False).status == "unpublished"


def test_the_layout_takes_the_partition_key_from_the_schema(built: tuple[Path, BuildResult]) -> None:
    boxes, classes = table_schema("boxes"), table_schema("classes")
    assert boxes.partition_by == ("split",) and not classes.partition_by
    assert partition_path(boxes, "train") == "boxes/split=train"
    assert file_path(boxes, "a.parquet", "test") == "boxes/split=test/a.parquet"
    assert file_path(classes, "classes.parquet") == "classes/classes.parquet"
    assert view_pattern(boxes) == "boxes/*/*.parquet" and view_pattern(classes) == "classes/*.parquet"
    assert [f.name for f in partition_fields(boxes)] == ["split"] and partition_fields(classes) == []
    with pytest.raises(ValueError, match="partitioned by"):
        partition_path(classes, "train")
    lake, result = built
    release = lake / "releases" / result.release
    assert relative_files(release, "boxes") == [f.path for f in result.manifest.tables["boxes"].files]
