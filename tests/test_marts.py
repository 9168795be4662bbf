"""The dashboard marts, checked against independent recounts on the sample lake and a tiny lake."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipeline.build.marts import (
    QUERY_LAYER_KEY,
    SLICE_ROWS,
    MartDonor,
    materialize_marts,
)
from pipeline.catalog.views import query_layer_digest
from pipeline.core.errors import SchemaError
from pipeline.core.schema import _load, mart_schemas, table_schema
from pipeline.query.api import open_lake
from tests.conftest import BOX_HEADER, WriteSource, build, query

SampleLake = tuple[Path, dict[str, object]]


def _frames(lake: Path, *tables: str) -> list[pl.DataFrame]:
    with open_lake(lake) as opened:
        return [opened.scan(t).collect() for t in tables]


def test_class_stats_recount(sample_lake: SampleLake) -> None:
    lake, _ = sample_lake
    boxes, masks, labels = _frames(lake, "boxes", "masks", "image_labels")
    stats = query(lake, "select * from class_stats")
    assert stats.select("label_mid", "split").is_duplicated().sum() == 0
    expected_boxes = boxes.group_by("split", "label_mid").len("boxes")
    joined = expected_boxes.join(stats, on=["split", "label_mid"], how="left")
    assert (joined["boxes"] == joined["boxes_right"]).all()
    human = labels.filter(pl.col("source") != "machine")
    assert stats["positive_labels"].sum() == human.filter(pl.col("confidence") == 1).height
    assert stats["negative_labels"].sum() == human.filter(pl.col("confidence") == 0).height
    assert stats["machine_labels"].sum() == labels.filter(pl.col("source") == "machine").height
    assert stats["masks"].sum() == masks.height
    person = stats.filter((pl.col("label_name") == "Person") & (pl.col("split") == "train")).row(0, named=True)
    assert (person["boxes"], person["is_boxable"]) == (221, True)


def test_image_summary_recount(sample_lake: SampleLake) -> None:
    lake, _ = sample_lake
    images, boxes, narratives = _frames(lake, "images", "boxes", "narratives")
    summary = query(lake, "select * from image_summary")
    assert summary.height == images.height == 240
    assert summary["boxes"].sum() == boxes.height
    assert summary["narratives"].sum() == narratives.height
    edge = summary.filter(pl.col("image_id") == "ffffffffffffffff").row(0, named=True)
    expected_classes = boxes.filter(pl.col("image_id") == "ffffffffffffffff")["label_mid"].n_unique()
    assert (edge["split"], edge["classes"]) == ("test", expected_classes)


def test_attribute_rates_leave_unknown_out(write_source: WriteSource, tmp_path: Path) -> None:
    rows = [
        "0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,1,0,1,0,0",
        "0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,-1,0,0",
        "0000000000000002,activemil,/m/0k4j,1,0.1,0.9,0.2,0.8,-1,-1,-1,-1,-1",
    ]
    build(write_source({"test-annotations-bbox.csv": BOX_HEADER + "\n" + "\n".join(rows) + "\n"}), tmp_path / "lake")
    row = query(tmp_path / "lake", "select * from attribute_rates").row(0, named=True)
    assert row["boxes"] == 3
    assert row["occluded_share"] == pytest.approx(0.5) and row["unknown_occluded"] == 1
    assert row["group_of_share"] == pytest.approx(1.0) and row["unknown_group_of"] == 2
    assert row["truncated_share"] == 0.0 and row["unknown_truncated"] == 1


def test_box_geometry_quantiles(write_source: WriteSource, tmp_path: Path) -> None:
    rows = [f"000000000000000{i},xclick,/m/0k4j,1,0,{w},0,0.5,0,0,0,0,0" for i, w in enumerate(["0.2", "0.4", "1"])]
    build(write_source({"test-annotations-bbox.csv": BOX_HEADER + "\n" + "\n".join(rows) + "\n"}), tmp_path / "lake")
    row = query(tmp_path / "lake", "select * from box_geometry").row(0, named=True)
    assert (row["split"], row["boxes"]) == ("test", 3)
    assert row["area_median"] == pytest.approx(0.2)
    assert row["aspect_ratio_median"] == pytest.approx(0.8)
    assert row["area_p05"] == pytest.approx(0.11, abs=1e-6)


def test_relationship_stats(sample_lake: SampleLake) -> None:
    lake, _ = sample_lake
    (relationships,) = _frames(lake, "relationships")
    stats = query(lake, "select * from relationship_stats")
    assert stats["relationships"].sum() == relationships.height == 90
    assert stats.select("label_mid_1", "relationship", "label_mid_2").is_duplicated().sum() == 0
    top = stats.sort("relationships", "label_mid_1", descending=[True, False]).row(0, named=True)
    recount = relationships.filter(
        (pl.col("label_mid_1") == top["label_mid_1"])
        & (pl.col("relationship") == top["relationship"])
        & (pl.col("label_mid_2") == top["label_mid_2"])
    )
    assert top["relationships"] == recount.height
    assert top["images"] == recount.select("split", "image_id").n_unique()
    assert stats.filter(pl.col("relationship") == "is")["label_name_2"].null_count() == 0
    assert stats["in_triplet_list"].all()


@pytest.mark.parametrize("mart", [s.table for s in mart_schemas()])
def test_materialized_mart_equals_its_live_view(sample_lake: SampleLake, mart: str) -> None:
    lake, manifest = sample_lake
    materialized = query(lake, f"select * from {mart} order by all")
    assert materialized.height > 0
    assert materialized.equals(query(lake, f"select * from {mart}_live order by all"))
    [file] = manifest["tables"][mart]["files"]
    assert (
        re.fullmatch(rf"{mart}/{mart}\.[0-9a-f]{{12}}\.parquet", file["path"]) and file["rows"] == materialized.height
    )
    plan = query(lake, f"explain select * from {mart}")["explain_value"].str.join("")[0]
    assert "READ_PARQUET" in plan.upper() or "PARQUET_SCAN" in plan.upper()


def test_marts_are_sorted_and_scannable(sample_lake: SampleLake) -> None:
    lake, _ = sample_lake
    with open_lake(lake) as opened:
        stats = opened.scan("class_stats").collect()
        summary = opened.scan("image_summary").collect()
    assert stats.height == 714 and stats.equals(stats.sort("label_mid", "split"))
    assert summary.height == 240 and summary.equals(summary.sort("split", "image_id_u64"))


def test_marts_follow_a_rebuild(write_source: WriteSource, tmp_path: Path) -> None:
    """Marts are recomputed on every build, also when every source file is reused."""
    row = "0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,1,0,1,0,0"
    files = {"test-annotations-bbox.csv": BOX_HEADER + "\n" + row + "\n"}
    source = write_source(files)
    build(source, tmp_path / "lake")
    assert query(tmp_path / "lake", "select boxes from class_stats")["boxes"].to_list() == [1]
    (source / "validation-annotations-bbox.csv").write_text(BOX_HEADER + "\n" + row.replace("01,", "02,", 1) + "\n")
    manifest = build(source, tmp_path / "lake")
    assert manifest["reused_files"] == ["test-annotations-bbox.csv"]
    assert query(tmp_path / "lake", "select split, boxes from class_stats order by split").rows() == [
        ("test", 1),
        ("validation", 1),
    ]


SLICED = [s.table for s in mart_schemas() if s.slice_by]


def test_the_image_keyed_marts_are_sliced() -> None:
    assert SLICED == ["class_stats", "image_summary"]


@pytest.fixture(scope="module")
def sliced_release(sample_lake: SampleLake, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The sample's release with every mart recomputed in the most slices (one row of keyed tables each)."""
    lake, _ = sample_lake
    copy = tmp_path_factory.mktemp("sliced") / "release"
    shutil.copytree((lake / "current").resolve(), copy)
    for schema in mart_schemas():
        shutil.rmtree(copy / schema.table)
    return copy, materialize_marts(copy, slice_rows=1)


@pytest.mark.parametrize("mart", SLICED)
def test_a_sliced_mart_equals_the_one_pass_mart(
    sample_lake: SampleLake, sliced_release: tuple[Path, dict[str, int]], mart: str
) -> None:
    """64 slices (the sample's keys spread over all of them, ``ffffffffffffffff`` in the last) give the same rows."""
    lake, _ = sample_lake
    release, written = sliced_release
    one_pass = pl.read_parquet((lake / mart).resolve() / "*.parquet")
    sliced = pl.read_parquet(release / mart / f"{mart}.parquet")
    assert written[mart] == one_pass.height > 200
    assert sliced.equals(one_pass)  # same rows, same order (sorted by sort_by), same types


def test_slices_sum_only_declared_integer_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad_mart.toml"
    path.write_text(
        'table = "bad_mart"\nkind = "mart"\ndescription = "x"\nslice_by = "image_id_u64"\n'
        'slice_sum = ["label_mid"]\ncolumns = [{ name = "label_mid", type = "string", nullable = false, '
        'source = "x", description = "x" }]\n'
    )
    with pytest.raises(SchemaError, match="slice_sum column 'label_mid' is not a declared integer column"):
        _load(path)


def test_split_local_needs_a_mart_with_a_split_column(tmp_path: Path) -> None:
    path = tmp_path / "bad_mart.toml"
    path.write_text(
        'table = "bad_mart"\nkind = "mart"\ndescription = "x"\nsplit_local = true\n'
        'columns = [{ name = "label_mid", type = "string", nullable = false, source = "x", description = "x" }]\n'
    )
    with pytest.raises(SchemaError, match="split_local needs a mart with a split column"):
        _load(path)


SPLIT_LOCAL = [s.table for s in mart_schemas() if s.split_local]
COUNTED = {"box_geometry": "boxes", "class_stats": "boxes", "image_summary": "boxes", "mask_stats": "masks"}


def test_the_split_keyed_marts_are_split_local() -> None:
    assert sorted(COUNTED) == SPLIT_LOCAL


@pytest.mark.parametrize("slice_rows", [SLICE_ROWS, 1])
@pytest.mark.parametrize("mart", SPLIT_LOCAL)
def test_a_donor_keeps_its_splits_and_the_others_are_computed(
    sample_lake: SampleLake, tmp_path: Path, mart: str, slice_rows: int
) -> None:
    """The donor's train rows (poisoned here, so they are told apart) are kept; validation and test are computed.

    The computed rows equal the one-pass mart's: a split-local mart's rows of a split read only that split.
    """
    lake, _ = sample_lake
    one_pass = pl.read_parquet((lake / mart).resolve() / "*.parquet")
    column = COUNTED[mart]
    poisoned = one_pass.with_columns(
        pl.when(pl.col("split") == "train").then(pl.col(column) + 1000).otherwise(pl.col(column)).alias(column)
    )
    donor_file = tmp_path / "donor.parquet"
    poisoned.write_parquet(donor_file)
    release = tmp_path / "release"
    shutil.copytree((lake / "current").resolve(), release)
    for schema in mart_schemas():
        shutil.rmtree(release / schema.table)
    materialize_marts(release, slice_rows=slice_rows, donor=MartDonor("r", ("train",), {mart: donor_file}))
    result = pl.read_parquet(release / mart / f"{mart}.parquet")
    trains = one_pass.filter(pl.col("split") == "train").height
    assert 0 < trains < one_pass.height
    assert result.filter(pl.col("split") == "train").equals(poisoned.filter(pl.col("split") == "train"))
    assert result.filter(pl.col("split") != "train").equals(one_pass.filter(pl.col("split") != "train"))
    assert result.equals(result.sort(*table_schema(mart).sort_by, maintain_order=True))
    metadata = pq.read_schema(release / mart / f"{mart}.parquet").metadata
    assert metadata[QUERY_LAYER_KEY.encode()] == query_layer_digest().encode()
