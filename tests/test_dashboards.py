"""Dashboards on the Parquet: the marts keep their paths, file names and column types across releases,
and the Streamlit recipe of docs/report.md runs on them and shows what SQL says."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.core.schema import all_schemas
from pipeline.resources import sample_dir
from tests.conftest import BOX_HEADER, LABEL_HEADER, VAL_BOXES, VAL_LABELS, WriteSource, build, query

ROOT = Path(__file__).resolve().parents[1]

# The marts as dashboards see them: columns in order with their Arrow types. A change here is a breaking
# change for every dashboard that reads the marts: make it on purpose, with a note in the docs.
MART_CONTRACT: dict[str, list[tuple[str, str]]] = {
    "attribute_rates": [
        ("label_mid", "string"),
        ("label_name", "string"),
        ("boxes", "int64"),
        ("occluded_share", "double"),
        ("truncated_share", "double"),
        ("group_of_share", "double"),
        ("depiction_share", "double"),
        ("inside_share", "double"),
        ("unknown_occluded", "int64"),
        ("unknown_truncated", "int64"),
        ("unknown_group_of", "int64"),
        ("unknown_depiction", "int64"),
        ("unknown_inside", "int64"),
    ],
    "box_geometry": [
        ("label_mid", "string"),
        ("label_name", "string"),
        ("split", "string"),
        ("boxes", "int64"),
        ("area_mean", "double"),
        ("area_p05", "double"),
        ("area_p25", "double"),
        ("area_median", "double"),
        ("area_p75", "double"),
        ("area_p95", "double"),
        ("aspect_ratio_p05", "double"),
        ("aspect_ratio_p25", "double"),
        ("aspect_ratio_median", "double"),
        ("aspect_ratio_p75", "double"),
        ("aspect_ratio_p95", "double"),
    ],
    "class_stats": [
        ("label_mid", "string"),
        ("label_name", "string"),
        ("split", "string"),
        ("images", "int64"),
        ("boxes", "int64"),
        ("masks", "int64"),
        ("relationships", "int64"),
        ("positive_labels", "int64"),
        ("negative_labels", "int64"),
        ("machine_labels", "int64"),
        ("is_boxable", "bool"),
        ("is_trainable", "bool"),
        ("is_segmentable", "bool"),
    ],
    "image_summary": [
        ("image_id", "string"),
        ("image_id_u64", "uint64"),
        ("split", "string"),
        ("boxes", "int64"),
        ("classes", "int64"),
        ("masks", "int64"),
        ("relationships", "int64"),
        ("narratives", "int64"),
        ("positive_labels", "int64"),
        ("rotation", "float"),
        ("license", "string"),
    ],
    "mask_stats": [
        ("label_mid", "string"),
        ("label_name", "string"),
        ("split", "string"),
        ("masks", "int64"),
        ("images", "int64"),
        ("empty_masks", "int64"),
        ("area_fraction_mean", "double"),
        ("area_fraction_p05", "double"),
        ("area_fraction_p25", "double"),
        ("area_fraction_median", "double"),
        ("area_fraction_p75", "double"),
        ("area_fraction_p95", "double"),
        ("box_fill_mean", "double"),
        ("mask_width_mean", "double"),
        ("mask_height_mean", "double"),
        ("masks_with_row", "int64"),
        ("box_iou_mean", "double"),
    ],
    "relationship_stats": [
        ("label_mid_1", "string"),
        ("label_name_1", "string"),
        ("relationship", "string"),
        ("label_mid_2", "string"),
        ("label_name_2", "string"),
        ("relationships", "int64"),
        ("images", "int64"),
        ("in_triplet_list", "bool"),
    ],
}


def columns(schema: Any) -> list[tuple[str, str]]:
    return [(f.name, str(f.type)) for f in schema]


def stem(name: str) -> str:
    """A file name without its content digest (``<stem>.<12 hex>.parquet``) and extension."""
    return re.sub(r"(\.[0-9a-f]{12})?\.parquet$", "", name)


def mart_view(lake: Path) -> dict[str, tuple[str, list[tuple[str, str]], int]]:
    """What a dashboard finds under ``LAKE/<mart>/``: the file stem, its columns, its rows."""
    seen = {}
    for mart in MART_CONTRACT:
        files = sorted((lake / mart).glob("*.parquet"))
        assert len(files) == 1, f"{mart}: one file behind the entry link, found {files}"
        (lake / mart).resolve().relative_to((lake / "current").resolve())  # the link follows the current release
        meta = pq.ParquetFile(files[0])
        seen[mart] = (stem(files[0].name), columns(meta.schema_arrow), meta.metadata.num_rows)
    return seen


def test_the_marts_are_the_pinned_ones() -> None:
    schemas = all_schemas()
    assert sorted(t for t, s in schemas.items() if s.is_mart) == sorted(MART_CONTRACT)
    for mart, expected in MART_CONTRACT.items():
        assert columns(schemas[mart].arrow) == expected, f"schemas/{mart}.toml changed the dashboards' contract"


def test_marts_keep_paths_names_and_types_across_releases(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(sample_dir(), lake)
    first = mart_view(lake)
    labels_only = write_source({VAL_LABELS: f"{LABEL_HEADER}\n0000000000000001,verification,/m/0k4j,1\n"})
    build(labels_only, lake)  # no boxes: the box marts are empty, with the same columns
    second = mart_view(lake)
    boxes = "\n".join(f"000000000000000{n},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,1,0,0,-1" for n in range(1, 4))
    build(write_source({VAL_BOXES: f"{BOX_HEADER}\n{boxes}\n"}), lake)
    third = mart_view(lake)
    for mart, expected in MART_CONTRACT.items():
        assert first[mart][:2] == second[mart][:2] == third[mart][:2] == (mart, expected)
    assert {m: v[2] for m, v in first.items()} == {
        "attribute_rates": 116,
        "box_geometry": 242,
        "class_stats": 714,
        "image_summary": 240,
        "mask_stats": 24,
        "relationship_stats": 48,
    }
    assert {m: v[2] for m, v in second.items()} == {
        "attribute_rates": 0, "box_geometry": 0, "class_stats": 1, "image_summary": 0, "mask_stats": 0,
        "relationship_stats": 0,
    }  # fmt: skip  # image_summary's images come from images and the per-box files, not from image labels
    assert third["box_geometry"][2] == 1 and third["attribute_rates"][2] == 1
    (rate,) = query(lake, "select truncated_share, unknown_inside from attribute_rates").rows()
    assert rate == (1.0, 3)


# -- the Streamlit recipe of docs/report.md ---------------------------------------------------------------


def recipe() -> str:
    """The ```python block of docs/report.md that starts with ``# dashboard.py``."""
    text = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    found = re.search(r"```python\n(# dashboard\.py.*?)```", text, flags=re.S)
    assert found, "docs/report.md has no dashboard.py block"
    return found.group(1)


def test_streamlit_recipe_shows_the_marts(sample_lake: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    lake = sample_lake[0]
    monkeypatch.setenv("OILAKE_LAKE", str(lake))
    # AppTest makes its script `__main__` and deletes it; put the real one back after the test, or every
    # later process pool (forkserver or spawn children import `__main__`) dies on the missing file
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    app = AppTest.from_string(recipe(), default_timeout=60).run()
    assert not app.exception
    assert {m.label: m.value for m in app.metric} == {"Images": "240", "Boxes": "1,537", "Positive labels": "542"}
    classes = app.dataframe[0].value
    assert list(classes.columns) == ["class", "images", "boxes", "masks", "positive_labels", "machine_labels"]
    assert classes.iloc[0].tolist() == ["Person", 154, 351, 18, 47, 27]
    assert len(classes) == 50

    app.selectbox[0].select("validation").run()
    expected = query(
        lake, "select count(*), sum(boxes), sum(positive_labels) from image_summary where split = 'validation'"
    )
    assert [m.value for m in app.metric] == [f"{v:,}" for v in expected.row(0)] == ["40", "285", "90"]
    app.text_input[0].input("car").run()
    found = app.dataframe[0].value
    sql = query(
        lake,
        "select coalesce(label_name, label_mid) as class, sum(boxes) as boxes from class_stats "
        "where split = 'validation' and coalesce(label_name, label_mid) ilike '%car%' "
        "group by all order by boxes desc, class",
    )
    assert found[["class", "boxes"]].values.tolist() == [list(r) for r in sql.iter_rows()]
    assert "Car" in found["class"].tolist()
    attributes = app.dataframe[1].value
    assert attributes.iloc[0]["label_name"] == "Person" and attributes.iloc[0]["boxes"] == 351
