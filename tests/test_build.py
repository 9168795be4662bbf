"""Whole builds: selection, headers, rejects, reconciliation, overlaps, ordering, publishing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import HeaderError, InputFormatError, LakeError, RejectLimitError
from pipeline.families.selection import SelectionError
from tests.conftest import BOX_HEADER, IMAGE_HEADER, LABEL_HEADER, WriteSource, build, query, sources_by_file

VAL_BOXES = "validation-annotations-bbox.csv"
VAL_LABELS = "validation-annotations-human-imagelabels.csv"
VAL_LABELS_BOXABLE = "validation-annotations-human-imagelabels-boxable.csv"
EDGE_IDS = ["0000000000000000", "7fffffffffffffff", "8000000000000000", "ffffffffffffffff"]


def _box(image_id: str, label: str = "/m/0k4j", x_min: str = "0.1") -> str:
    return f"{image_id},xclick,{label},1,{x_min},0.9,0.2,0.8,0,0,0,0,0"


def _boxes(*rows: str) -> str:
    return BOX_HEADER + "\n" + "\n".join(rows) + "\n"


def test_image_id_round_trip_at_the_edges(write_source: WriteSource, tmp_path: Path) -> None:
    build(write_source({VAL_BOXES: _boxes(*(_box(i) for i in EDGE_IDS))}), tmp_path / "lake")
    rows = query(tmp_path / "lake", "select image_id, image_id_u64 from boxes").rows()
    assert rows == [
        ("0000000000000000", 0),
        ("7fffffffffffffff", 2**63 - 1),
        ("8000000000000000", 2**63),
        ("ffffffffffffffff", 2**64 - 1),
    ]
    assert all(format(u, "016x") == s for s, u in rows)


def test_rows_are_sorted_by_image_id_within_each_file(write_source: WriteSource, tmp_path: Path) -> None:
    ids = ["ffffffffffffffff", "0000000000000001", "8000000000000000", "0000000000000001"]
    manifest = build(
        write_source({VAL_BOXES: _boxes(*(_box(i, x_min=f"0.{n}") for n, i in enumerate(ids, 1)))}), tmp_path / "lake"
    )
    (path,) = (tmp_path / "lake" / "boxes" / "split=validation").glob("validation-annotations-bbox.*.parquet")
    table = pq.read_table(path)
    assert table.column("image_id").to_pylist() == sorted(ids)
    assert [round(x, 1) for x in table.column("x_min").to_pylist()] == [0.2, 0.4, 0.3, 0.1]  # stable
    assert sources_by_file(manifest)[VAL_BOXES]["resorted"] is True


@pytest.mark.parametrize(
    ("row", "line", "reason"),
    [
        ("00000000000000zz,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0", 3,
         "ImageID: expected 16 lowercase hex digits, found '00000000000000zz'"),
        ("000000000000000,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0", 3,
         "ImageID: expected 16 lowercase hex digits, found '000000000000000'"),
        ("00000000000000AA,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0", 3,
         "ImageID: expected 16 lowercase hex digits, found '00000000000000AA'"),
        ("0000000000000002,xclick,/m/0k4j,1,abc,0.9,0.2,0.8,0,0,0,0,0", 3, "XMin: expected a finite number, found 'abc'"),
        ("0000000000000002,xclick,/m/0k4j,1,nan,0.9,0.2,0.8,0,0,0,0,0", 3, "XMin: expected a finite number, found 'nan'"),
        ("0000000000000002,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,2,0,0,0,0", 3, "IsOccluded: expected 1, 0 or -1, found '2'"),
        ("0000000000000002,xclick,k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0", 3, "LabelName: expected a MID like /m/0abc12, found 'k4j'"),
        ("0000000000000002,xclick,/m/0k4j,1,0.1,0.9", 3, "expected 13 fields, found 6"),
    ],
)  # fmt: skip
def test_bad_rows_are_quarantined_with_line_and_reason(
    write_source: WriteSource, tmp_path: Path, row: str, line: int, reason: str
) -> None:
    source = write_source({VAL_BOXES: _boxes(_box("0000000000000001"), row, _box("0000000000000003"))})
    manifest = build(source, tmp_path / "lake", max_rejects=1)
    assert query(tmp_path / "lake", 'select "table", source_file, line, reason from rejects').rows() == [
        ("boxes", VAL_BOXES, line, reason)
    ]
    assert query(tmp_path / "lake", "select image_id from boxes").to_series().to_list() == [
        "0000000000000001",
        "0000000000000003",
    ]
    report = sources_by_file(manifest)[VAL_BOXES]
    assert (report["rows_read"], report["rows_written"], report["rows_rejected"]) == (3, 2, 1)


def test_reject_raw_text_is_recoverable(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {"test-images-with-rotation.csv": IMAGE_HEADER + "\n"
         '0000000000000001,test,u,l,c,a,"Doe, J","a ""b""\nc",big,md5,,0.0\n'}
    )  # fmt: skip
    build(source, tmp_path / "lake", max_rejects=5)
    assert query(tmp_path / "lake", "select line, reason, raw from rejects").rows() == [
        (2, "OriginalSize: expected an integer, found 'big'",
         '0000000000000001,test,u,l,c,a,"Doe, J","a ""b""\nc",big,md5,,0.0'),
    ]  # fmt: skip


def test_too_many_rejects_fail_and_keep_the_old_lake(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(write_source({VAL_BOXES: _boxes(_box("0000000000000001"))}), lake)
    bad = write_source({VAL_BOXES: _boxes(_box("0000000000000002"), "junk", "0000000000000003,x")})
    with pytest.raises(RejectLimitError) as error:
        build(bad, lake)
    assert error.value.rejected == 2
    assert error.value.examples == [
        f"{VAL_BOXES}:3: expected 13 fields, found 1",
        f"{VAL_BOXES}:4: expected 13 fields, found 2",
    ]
    assert query(lake, "select image_id from boxes").item() == "0000000000000001"
    assert not any((lake / ".staging").glob("*")), "staging must be cleaned up"
    assert len(list((lake / "releases").iterdir())) == 1, "the failed build left no release"


def test_wrong_header_stops_before_any_work(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {VAL_BOXES: _boxes(_box("0000000000000001")), VAL_LABELS: "ImageID,LabelName,Source,Confidence\n"}
    )
    with pytest.raises(HeaderError) as error:
        build(source, tmp_path / "lake")
    assert str(error.value) == (
        f"{VAL_LABELS}: line 1: wrong header.\n  expected: {LABEL_HEADER}\n  found:    ImageID,LabelName,Source,Confidence"
    )
    assert not (tmp_path / "lake").exists()


def test_corrupt_gzip_is_a_clear_error(write_source: WriteSource, tmp_path: Path) -> None:
    good = _boxes(_box("0000000000000001")).encode()
    import gzip

    data = gzip.compress(good * 50)
    source = write_source({VAL_BOXES + ".gz": b""})
    (source / (VAL_BOXES + ".gz")).write_bytes(data[:20] + b"\x00" * 30 + data[50:])
    with pytest.raises((InputFormatError, HeaderError)):
        build(source, tmp_path / "lake")
    assert not (tmp_path / "lake").exists()


def test_gzip_sources_are_read_transparently(write_source: WriteSource, tmp_path: Path) -> None:
    text = _boxes(*(_box(f"{i:016x}") for i in range(5)))
    source = write_source({VAL_BOXES + ".gz": text})
    manifest = build(source, tmp_path / "lake")
    assert query(tmp_path / "lake", "select count(*) from boxes").item() == 5
    report = sources_by_file(manifest)[VAL_BOXES + ".gz"]
    raw = (source / (VAL_BOXES + ".gz")).read_bytes()
    assert report["md5"] == hashlib.md5(raw).hexdigest()
    assert report["bytes"] == len(raw)
    output = report["output"]
    assert re.fullmatch(r"boxes/split=validation/validation-annotations-bbox\.[0-9a-f]{12}\.parquet", output)
    digest = hashlib.sha256((tmp_path / "lake" / "current" / output).read_bytes()).hexdigest()
    assert output.split(".")[-2] == digest[:12], "the name carries the digest of the file's bytes"


def test_only_and_splits_select_files(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {
            VAL_BOXES: _boxes(_box("0000000000000001")),
            "test-annotations-bbox.csv": _boxes(_box("0000000000000002")),
            VAL_LABELS: LABEL_HEADER + "\n0000000000000001,verification,/m/0k4j,1\n",
        }
    )
    manifest = build(source, tmp_path / "lake", only=["boxes"], splits=["test"])
    assert [s["file"] for s in manifest["sources"]] == ["test-annotations-bbox.csv"]
    assert query(tmp_path / "lake", "select count(*) from image_labels").item() == 0
    with pytest.raises(SelectionError, match="unknown family or table 'box'"):
        build(source, tmp_path / "lake2", only=["box"])
    with pytest.raises(SelectionError, match="unknown split"):
        build(source, tmp_path / "lake2", splits=["val"])


def test_overlapping_label_files_write_each_row_once(write_source: WriteSource, tmp_path: Path) -> None:
    rows = ["0000000000000001,verification,/m/0k4j,1", "0000000000000001,verification,/m/0abc,0"]
    source = write_source(
        {
            VAL_LABELS: LABEL_HEADER + "\n" + "\n".join([*rows, "0000000000000001,verification,/m/09j2d,1"]) + "\n",
            VAL_LABELS_BOXABLE: LABEL_HEADER + "\n" + "\n".join([*rows, "0000000000000002,verification,/m/0k4j,1"]),
        }
    )
    manifest = build(source, tmp_path / "lake")
    assert query(tmp_path / "lake", "select count(*) from image_labels").item() == 4
    assert query(tmp_path / "lake", "select count(*) from (select distinct * from image_labels)").item() == 4
    boxable = sources_by_file(manifest)[VAL_LABELS_BOXABLE]
    assert (boxable["rows_read"], boxable["rows_written"], boxable["rows_duplicate"]) == (3, 1, 2)


def test_overlapping_image_files_write_each_image_once(write_source: WriteSource, tmp_path: Path) -> None:
    def image(i: int) -> str:
        return f"{i:016x},train,u,l,c,a,Au,T,1,md5,,0.0"

    source = write_source(
        {
            "train-images-boxable-with-rotation.csv": IMAGE_HEADER + "\n" + "\n".join(image(i) for i in (1, 2)) + "\n",
            "oidv6-train-images-with-labels-with-rotation.csv": IMAGE_HEADER
            + "\n"
            + "\n".join(image(i) for i in (1, 2, 3))
            + "\n",
        }
    )
    manifest = build(source, tmp_path / "lake")
    assert query(tmp_path / "lake", "select image_id_u64 from images order by 1").to_series().to_list() == [1, 2, 3]
    boxable = sources_by_file(manifest)["train-images-boxable-with-rotation.csv"]
    assert (boxable["rows_written"], boxable["rows_duplicate"], boxable["output"]) == (0, 2, None)


def test_manifest_reconciles_and_describes_the_build(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source({VAL_BOXES: _boxes(_box("0000000000000001"), "bad")})
    build(source, tmp_path / "lake", max_rejects=1)
    manifest = json.loads((tmp_path / "lake" / "_manifest.json").read_text())
    assert manifest["source"] == str(source)
    assert set(manifest["libraries"]) == {"pyarrow", "polars", "duckdb", "fsspec", "s3fs"}
    report = manifest["sources"][0]
    assert report["rows_read"] == report["rows_written"] + report["rows_rejected"] + report["rows_duplicate"]
    assert report["md5"] == hashlib.md5((source / VAL_BOXES).read_bytes()).hexdigest()
    assert manifest["tables"]["boxes"] == {"rows": 1, "files": [{"path": report["output"], "rows": 1}]}
    assert report["output"].startswith("boxes/split=validation/validation-annotations-bbox.")
    assert manifest["tables"]["rejects"]["rows"] == 1
    assert len(manifest["schemas"]["boxes"]) == 16
    assert {s["file"] for s in manifest["skipped"]} >= {"oidv6-train-annotations-bbox.csv"}


def test_refuses_to_replace_a_folder_that_is_not_a_lake(write_source: WriteSource, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(LakeError, match="not an oilake lake"):
        build(write_source({VAL_BOXES: _boxes(_box("0000000000000001"))}), precious)
    assert (precious / "thesis.tex").read_text() == "keep me"


def test_rebuild_replaces_the_lake(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(write_source({VAL_BOXES: _boxes(_box("0000000000000001"))}), lake)
    build(write_source({VAL_BOXES: _boxes(_box("0000000000000002"), _box("0000000000000003"))}), lake)
    assert query(lake, "select count(*) from boxes").item() == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
