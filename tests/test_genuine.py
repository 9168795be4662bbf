"""The genuine Open Images files and rows in ../shared come back with every value intact."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED, build, query

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/openimages is not beside the project")

HEADS = {
    "oidv6-train-annotations-bbox.head.csv": ("oidv6-train-annotations-bbox.csv", "boxes"),
    "validation-annotations-bbox.head.csv": ("validation-annotations-bbox.csv", "boxes"),
    "train-annotations-human-imagelabels-boxable.head.csv": ("train-annotations-human-imagelabels-boxable.csv", "image_labels"),
    "validation-annotations-human-imagelabels-boxable.head.csv": ("validation-annotations-human-imagelabels-boxable.csv", "image_labels"),
    "train-annotations-object-segmentation.head.csv": ("train-annotations-object-segmentation.csv", "masks"),
    "train-images-boxable-with-rotation.head.csv": ("train-images-boxable-with-rotation.csv", "images"),
}  # fmt: skip


@pytest.fixture(scope="module")
def genuine_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("genuine")
    for head, (official, _) in HEADS.items():
        shutil.copy(SHARED / "genuine-rows" / head, source / official)
    for name in ("class-descriptions-boxable.csv", "oidv6-class-descriptions.csv", "bbox_labels_600_hierarchy.json"):
        shutil.copy(SHARED / "metadata" / name, source / name)
    shutil.copy(
        SHARED / "genuine-rows" / "oidv6-attributes-description.head.csv", source / "oidv6-attributes-description.csv"
    )
    shutil.copy(
        SHARED / "genuine-rows" / "oidv6-relationships-description.head.csv",
        source / "oidv6-relationships-description.csv",
    )
    shutil.copy(
        SHARED / "genuine-rows" / "oidv6-relationship-triplets.head.csv", source / "oidv6-relationship-triplets.csv"
    )
    lake = tmp_path_factory.mktemp("genuine-lake") / "lake"
    build(source, lake)
    return lake


def _same_number(text: str, value: float) -> bool:
    """A float32 holds a published number when both name the same float32 and it prints back the same digits."""
    return np.float32(text) == np.float32(value) and float(str(np.float32(value))) == float(text)


BOX_COLUMNS = {
    "XMin": "x_min", "XMax": "x_max", "YMin": "y_min", "YMax": "y_max",
    "XClick1X": "x_click_1x", "XClick2X": "x_click_2x", "XClick3X": "x_click_3x", "XClick4X": "x_click_4x",
    "XClick1Y": "x_click_1y", "XClick2Y": "x_click_2y", "XClick3Y": "x_click_3y", "XClick4Y": "x_click_4y",
}  # fmt: skip
FLAGS = {"IsOccluded": "is_occluded", "IsTruncated": "is_truncated", "IsGroupOf": "is_group_of",
         "IsDepiction": "is_depiction", "IsInside": "is_inside"}  # fmt: skip


@pytest.mark.parametrize("head", ["oidv6-train-annotations-bbox.head.csv", "validation-annotations-bbox.head.csv"])
def test_genuine_boxes_round_trip(genuine_lake: Path, head: str) -> None:
    with open(SHARED / "genuine-rows" / head, newline="") as fh:
        expected = list(csv.DictReader(fh))
    split = "train" if head.startswith("oidv6-train") else "validation"
    rows = query(genuine_lake, f"select * from boxes where split = '{split}'").to_dicts()
    assert len(rows) == len(expected)
    for want, got in zip(expected, rows, strict=True):
        assert got["image_id"] == want["ImageID"] and got["image_id_u64"] == int(want["ImageID"], 16)
        assert (got["source"], got["label_mid"]) == (want["Source"], want["LabelName"])
        for column, name in BOX_COLUMNS.items():
            if column in want:
                assert _same_number(want[column], got[name]), (column, want[column], got[name])
            else:
                assert got[name] is None
        for column, name in FLAGS.items():
            assert got[name] == {"1": True, "0": False, "-1": None}[want[column]]


def test_genuine_segmentation_round_trip(genuine_lake: Path) -> None:
    with open(SHARED / "genuine-rows" / "train-annotations-object-segmentation.head.csv", newline="") as fh:
        expected = {r["MaskPath"]: r for r in csv.DictReader(fh)}
    rows = query(genuine_lake, "select * from masks").to_dicts()
    assert sorted(r["mask_path"] for r in rows) == sorted(expected)
    assert [r["image_id"] for r in rows] == sorted(r["image_id"] for r in rows)
    for got in rows:
        want = expected[got["mask_path"]]
        assert (got["image_id"], got["label_mid"], got["box_id"]) == (want["ImageID"], want["LabelName"], want["BoxID"])
        assert _same_number(want["PredictedIoU"], got["predicted_iou"])
        clicks = [c.split(" ") for c in want["Clicks"].split(";")]
        assert len(got["clicks"]) == len(clicks)
        for (x, y, positive), click in zip(clicks, got["clicks"], strict=True):
            assert _same_number(x, click["x"]) and _same_number(y, click["y"])
            assert click["positive"] == (positive == "1")


def test_genuine_images_round_trip(genuine_lake: Path) -> None:
    with open(
        SHARED / "genuine-rows" / "train-images-boxable-with-rotation.head.csv", newline="", encoding="utf-8"
    ) as fh:
        expected = sorted(csv.DictReader(fh), key=lambda r: r["ImageID"])
    rows = query(genuine_lake, "select * from images order by image_id").to_dicts()
    for want, got in zip(expected, rows, strict=True):
        assert (got["author"], got["title"], got["original_md5"]) == (
            want["Author"],
            want["Title"],
            want["OriginalMD5"],
        )
        assert got["original_size"] == int(want["OriginalSize"]) and got["rotation"] == float(want["Rotation"])
        assert got["thumbnail_300k_url"] == want["Thumbnail300KURL"]


def test_genuine_labels_round_trip(genuine_lake: Path) -> None:
    rows = query(genuine_lake, "select split, image_id, source, label_mid, confidence from image_labels").rows()
    assert rows == [
        ("train", "000002b66c9c498e", "verification", "/m/014j1m", 0.0),
        ("train", "000002b66c9c498e", "verification", "/m/014sv8", 1.0),
        ("train", "000002b66c9c498e", "verification", "/m/01599", 0.0),
        ("train", "000002b66c9c498e", "verification", "/m/015p6", 0.0),
        ("validation", "0001eeaf4aed83f9", "verification", "/m/0cmf2", 1.0),
    ]


def test_genuine_class_descriptions(genuine_lake: Path) -> None:
    with open(SHARED / "metadata" / "oidv6-class-descriptions.csv", newline="", encoding="utf-8") as fh:
        names = {r["LabelName"]: r["DisplayName"] for r in csv.DictReader(fh)}
    rows = dict(query(genuine_lake, "select label_mid, display_name from classes").rows())
    assert len(rows) == len(names) + 1  # plus the hierarchy root
    assert rows["/m/01c_0l"] == "Ducks, geese and swans"
    assert rows["/m/0bl9f"] == "Entity"
    assert all(rows[mid] == name for mid, name in names.items())
    assert query(genuine_lake, "select count(*) from classes where is_boxable").item() == 601


def test_genuine_hierarchy_edges(genuine_lake: Path) -> None:
    counts = dict(query(genuine_lake, "select relation, count(*) from hierarchy group by all").rows())
    parents = query(
        genuine_lake, "select parent_mid from hierarchy where child_mid = '/m/01_5g' order by 1"
    ).to_series()
    assert parents.to_list() == ["/m/03hlz0c", "/m/04brg2"]
    assert sum(counts.values()) == query(genuine_lake, "select count(*) from (select distinct * from hierarchy)").item()
    assert set(counts) == {"subcategory", "part"}
