"""Each family, from a tiny source file to lake rows with pinned values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import BOX_HEADER, IMAGE_HEADER, LABEL_HEADER, XCLICK_HEADER, WriteSource, build, query

TRAIN_BOXES = "oidv6-train-annotations-bbox.csv"


def test_boxes_train_flags_and_xclick(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {
            TRAIN_BOXES: XCLICK_HEADER + "\n"
            "000002b66c9c498e,xclick,/m/01g317,1,0.012500,0.195312,0.148438,0.587500,0,1,-1,0,1,"
            "0.148438,0.012500,0.059375,0.195312,0.148438,0.357812,0.587500,0.325000\n"
            "000002b66c9c498e,activemil,/m/0k4j,1,0.1,0.9,0.2,0.8,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1\n"
        }
    )
    build(source, tmp_path / "lake")
    rows = query(
        tmp_path / "lake",
        "select source, label_mid, is_occluded, is_truncated, is_group_of, is_depiction, is_inside, "
        "x_click_1x::varchar as c1x, x_click_4y::varchar as c4y, x_min::varchar as x_min, split from boxes",
    ).to_dicts()
    assert rows == [
        {"source": "xclick", "label_mid": "/m/01g317", "is_occluded": False, "is_truncated": True, "is_group_of": None,
         "is_depiction": False, "is_inside": True, "c1x": "0.148438", "c4y": "0.325", "x_min": "0.0125", "split": "train"},
        {"source": "activemil", "label_mid": "/m/0k4j", "is_occluded": None, "is_truncated": None, "is_group_of": None,
         "is_depiction": None, "is_inside": None, "c1x": None, "c4y": None, "x_min": "0.1", "split": "train"},
    ]  # fmt: skip


def test_boxes_validation_has_null_xclick(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {"validation-annotations-bbox.csv": BOX_HEADER + "\n"
         "0001eeaf4aed83f9,xclick,/m/0cmf2,1,0.022673031,0.9642005,0.07103825,0.80054647,0,0,0,0,0\n"}
    )  # fmt: skip
    build(source, tmp_path / "lake")
    row = query(tmp_path / "lake", "select * from boxes").to_dicts()[0]
    assert row["split"] == "validation"
    assert all(row[f"x_click_{i}{axis}"] is None for i in range(1, 5) for axis in "xy")
    texts = query(tmp_path / "lake", "select x_min::varchar a, x_max::varchar b, y_max::varchar c from boxes").row(0)
    assert texts == ("0.022673031", "0.9642005", "0.80054647")


def test_masks_clicks(write_source: WriteSource, tmp_path: Path) -> None:
    header = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks\n"
    source = write_source(
        {
            "validation-annotations-object-segmentation.csv": header
            + "a_m04yx4_9a041d52.png,0000000000000001,/m/04yx4,9a041d52,0.8875,0.960938,0.454167,0.720833,0.86864,"
            "0.95498 0.65197 1;0.89370 0.56579 0\n"
            "b_m04yx4_00000000.png,0000000000000002,/m/04yx4,00000000,0.1,0.2,0.3,0.4,,\n"
            "c_m04yx4_00000001.png,0000000000000003,/m/04yx4,00000001,0.1,0.2,0.3,0.4,0.5,0.1 0.2\n"
        }
    )
    build(source, tmp_path / "lake", max_rejects=1)
    rows = query(tmp_path / "lake", "select image_id, predicted_iou, clicks from masks order by image_id").to_dicts()
    assert rows[0]["image_id"] == "0000000000000001"
    assert [(round(c["x"], 5), round(c["y"], 5), c["positive"]) for c in rows[0]["clicks"]] == [
        (0.95498, 0.65197, True),
        (0.8937, 0.56579, False),
    ]
    assert rows[1] == {"image_id": "0000000000000002", "predicted_iou": None, "clicks": []}
    reject = query(tmp_path / "lake", "select line, reason from rejects").row(0)
    assert reject == (
        4,
        "Clicks: click 1 of 1: expected 'x y L' (two numbers and L = 0 or 1, separated by one space), found '0.1 0.2'",
    )


def test_relationships_is_rows(write_source: WriteSource, tmp_path: Path) -> None:
    header = "ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,XMin2,XMax2,YMin2,YMax2,RelationshipLabel\n"
    source = write_source(
        {"oidv6-test-annotations-vrd.csv": header
         + "00000000000000aa,/m/04bcr3,/m/083vt,0.1,0.2,0.3,0.4,0.1,0.2,0.3,0.4,is\n"
         + "00000000000000aa,/m/04yx4,/m/0342h,0.1,0.5,0.1,0.9,0.3,0.6,0.4,0.7,plays\n"}
    )  # fmt: skip
    build(source, tmp_path / "lake")
    rows = query(
        tmp_path / "lake",
        "select label_mid_1, label_mid_2, relationship, x_min_2::varchar x2, split from relationships",
    ).rows()
    assert rows == [("/m/04bcr3", "/m/083vt", "is", "0.1", "test"), ("/m/04yx4", "/m/0342h", "plays", "0.3", "test")]


def test_image_labels_human_and_machine(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {
            "validation-annotations-human-imagelabels.csv": LABEL_HEADER + "\n"
            "0001eeaf4aed83f9,verification,/m/0cmf2,1\n0001eeaf4aed83f9,crowdsource-verification,/m/014j1m,0\n",
            "validation-annotations-machine-imagelabels.csv": LABEL_HEADER
            + "\n0001eeaf4aed83f9,machine,/m/05s2s,0.73\n",
        }
    )
    build(source, tmp_path / "lake")
    rows = query(
        tmp_path / "lake", "select source, label_mid, confidence::varchar c from image_labels order by c"
    ).rows()
    assert rows == [
        ("crowdsource-verification", "/m/014j1m", "0.0"),
        ("machine", "/m/05s2s", "0.73"),
        ("verification", "/m/0cmf2", "1.0"),
    ]


def test_images_quoting_and_rotation(write_source: WriteSource, tmp_path: Path) -> None:
    base = "https://x/o.jpg,https://x/p,https://creativecommons.org/licenses/by/2.0/,https://x/a"
    source = write_source(
        {
            "test-images-with-rotation.csv": IMAGE_HEADER + "\n"
            f'0000000000000001,test,{base},"Müller, ""Jo""","Ducks, geese\nand 日本",123,abc==,,\n'
            f"0000000000000002,test,{base},Ann,,456,def==,https://x/t.jpg,90.0\n"
            f"0000000000000003,test,{base},Bob,T,789,ghi==,https://x/u.jpg,nan\n"
        }
    )
    build(source, tmp_path / "lake")
    rows = query(
        tmp_path / "lake", "select author, title, original_size, thumbnail_300k_url, rotation from images"
    ).rows()
    assert rows == [
        ('Müller, "Jo"', "Ducks, geese\nand 日本", 123, None, None),
        ("Ann", "", 456, "https://x/t.jpg", 90.0),
        ("Bob", "T", 789, "https://x/u.jpg", None),
    ]


def _narrative(image_id: str, annotator: int, traces: list) -> str:
    return json.dumps(
        {
            "dataset_id": "open_images_validation",
            "image_id": image_id,
            "annotator_id": annotator,
            "caption": "A dog plays a guitar.",
            "timed_caption": [{"utterance": "A dog", "start_time": 0.0, "end_time": 1.5}],
            "traces": traces,
            "voice_recording": f"open_images_validation/x_{annotator}.ogg",
        }
    )


def test_narratives_nested_values_and_bad_lines(write_source: WriteSource, tmp_path: Path) -> None:
    lines = [
        _narrative("8000000000000000", 93, [[{"x": 0.5, "y": -0.0123, "t": 0.021}, {"x": 1.0042, "y": 0.5, "t": 0.1}]]),
        "{not json",
        _narrative("0000000000000001", 117, []),
        _narrative("XYZ", 1, []),
    ]
    source = write_source({"open_images_validation_localized_narratives.jsonl": "\n".join(lines) + "\n"})
    build(source, tmp_path / "lake", max_rejects=2)
    rows = query(tmp_path / "lake", "select * from narratives order by image_id").to_dicts()
    assert [r["image_id_u64"] for r in rows] == [1, 2**63]
    assert rows[0]["traces"] == []
    point = rows[1]["traces"][0][0]
    assert (round(point["x"], 4), round(point["y"], 4), round(point["t"], 3)) == (0.5, -0.0123, 0.021)
    assert rows[1]["timed_caption"] == [{"utterance": "A dog", "start_time": 0.0, "end_time": 1.5}]
    assert rows[1]["annotator_id"] == 93
    rejects = query(tmp_path / "lake", "select line, reason from rejects order by line").rows()
    assert rejects[0][0] == 2 and rejects[0][1].startswith("not valid JSON")
    assert rejects[1] == (4, "image_id: expected 16 lowercase hex digits, found 'XYZ'")


def test_narrative_nested_value_of_the_wrong_type_names_its_path(write_source: WriteSource, tmp_path: Path) -> None:
    lines = [
        _narrative("0000000000000001", 1, [[{"x": 0.5, "y": 0.5, "t": 0.1}]]),
        _narrative("0000000000000002", 2, [[{"x": 0.5, "y": 0.5, "t": 0.1}, {"x": "0.5", "y": 0.5, "t": 0.2}]]),
        _narrative("0000000000000003", 3, [[{"x": 0.5, "y": 0.5, "t": 0.1}], {"x": 0.5}]),
    ]
    source = write_source({"open_images_validation_localized_narratives.jsonl": "\n".join(lines) + "\n"})
    build(source, tmp_path / "lake", max_rejects=2)
    assert query(tmp_path / "lake", "select annotator_id from narratives").to_series().to_list() == [1]
    assert query(tmp_path / "lake", "select line, reason from rejects order by line").rows() == [
        (2, "traces[0][1].x: expected a number, found str"),
        (3, "traces[1]: expected a list, found dict"),
    ]


def test_classes_merge_names_flags_and_root(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source(
        {
            "oidv6-class-descriptions.csv": 'LabelName,DisplayName\n/m/01c_0l,"Ducks, geese and swans"\n/m/0k4j,Car\n',
            "class-descriptions-boxable.csv": "/m/0k4j,Car\r\n/m/0abc,Only boxable",
            "classes-segmentation.txt": "/m/0k4j\n",
        }
    )
    build(source, tmp_path / "lake")
    rows = query(tmp_path / "lake", "select * exclude (is_human_parts_class, is_trainable) from classes").rows()
    assert rows == [
        ("/m/01c_0l", "Ducks, geese and swans", False, False, False),
        ("/m/0abc", "Only boxable", True, False, False),
        ("/m/0bl9f", "Entity", False, False, True),
        ("/m/0k4j", "Car", True, True, False),
    ]
    assert query(tmp_path / "lake", "select count(*) from classes where is_trainable is null").item() == 4


def test_a_mid_listed_twice_in_a_class_file_is_a_counted_duplicate(write_source: WriteSource, tmp_path: Path) -> None:
    source = write_source({"classes-segmentation.txt": "/m/0k4j\n/m/0abc\n/m/0k4j\n"})
    manifest = build(source, tmp_path / "lake")
    report = manifest["sources"][0]
    assert (report["rows_read"], report["rows_written"], report["rows_duplicate"]) == (3, 2, 1)
    assert query(tmp_path / "lake", "select count(*) from classes where is_segmentable").item() == 2


def test_hierarchy_distinct_edges(write_source: WriteSource, tmp_path: Path) -> None:
    tree = {
        "LabelName": "/m/0bl9f",
        "Subcategory": [
            {"LabelName": "/m/a", "Subcategory": [{"LabelName": "/m/c"}], "Part": [{"LabelName": "/m/p"}]},
            {"LabelName": "/m/b", "Subcategory": [{"LabelName": "/m/c"}]},
            {"LabelName": "/m/a", "Subcategory": [{"LabelName": "/m/c"}]},
        ],
    }
    source = write_source({"bbox_labels_600_hierarchy.json": json.dumps(tree)})
    manifest = build(source, tmp_path / "lake")
    rows = query(tmp_path / "lake", "select * from hierarchy").rows()
    assert rows == [
        ("/m/0bl9f", "/m/a", "subcategory"),
        ("/m/0bl9f", "/m/b", "subcategory"),
        ("/m/a", "/m/c", "subcategory"),
        ("/m/a", "/m/p", "part"),
        ("/m/b", "/m/c", "subcategory"),
    ]
    report = manifest["sources"][0]
    assert (report["rows_read"], report["rows_written"], report["rows_duplicate"]) == (7, 5, 2)


@pytest.mark.parametrize(
    ("file", "table", "content", "expected"),
    [
        ("oidv6-attributes-description.csv", "attributes", "/m/0dnr7,(made of)Textile\n/m/02gy9n,Transparent\n",
         [("/m/02gy9n", "Transparent"), ("/m/0dnr7", "(made of)Textile")]),
        ("oidv6-relationships-description.csv", "relationship_names", "on,on (top of)\nat,at\n",
         [("at", "at"), ("on", "on (top of)")]),
        ("oidv6-relationship-triplets.csv", "relationship_triplets",
         "LabelName1,LabelName2,RelationshipLabel\n/m/03bt1vf,/m/02wzbmj,is\n",
         [("/m/03bt1vf", "/m/02wzbmj", "is")]),
        ("train-image-ids-with-human-parts-and-mammal-boxes.txt", "human_parts_images",
         "ffffffffffffffff\n0000000000000000\n",
         [("0000000000000000", 0, "train"), ("ffffffffffffffff", 2**64 - 1, "train")]),
    ],
)  # fmt: skip
def test_metadata_tables(
    write_source: WriteSource, tmp_path: Path, file: str, table: str, content: str, expected: list[tuple]
) -> None:
    build(write_source({file: content}), tmp_path / "lake")
    assert query(tmp_path / "lake", f"select * from {table}").rows() == expected
