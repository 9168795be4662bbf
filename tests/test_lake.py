"""The Python API: open_lake, tables, scan (pruning and pushdown), sql, image lists."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline import open_lake
from pipeline.core.errors import LakeError
from pipeline.core.schema import all_schemas
from pipeline.query.labels import UnknownClassError

SampleLake = tuple[Path, dict[str, object]]


def test_tables_lists_tables_views_and_macros(sample_lake: SampleLake) -> None:
    with open_lake(sample_lake[0]) as lake:
        names = lake.tables()
    assert set(all_schemas()) <= set(names)
    assert {"boxes_named", "boxes_expanded", "class_stats", "class_mids", "image_list"} <= set(names)


def test_scan_is_lazy_typed_and_partitioned(sample_lake: SampleLake) -> None:
    with open_lake(sample_lake[0]) as lake:
        scan = lake.scan("boxes")
        assert isinstance(scan, pl.LazyFrame)
        assert scan.collect_schema()["image_id_u64"] == pl.UInt64
        assert scan.collect_schema()["split"] == pl.String
        validation = scan.filter(pl.col("split") == "validation").select(pl.len()).collect().item()
        assert validation == lake.sql("select count(*) from boxes where split = 'validation'").item() == 285
        plan = scan.filter(pl.col("split") == "validation").filter(pl.col("image_id_u64") == 0).explain()
        assert "image_id_u64" in plan and "SELECTION" in plan.upper()
        assert lake.scan("rejects").collect().height == 0


def test_scan_of_a_view_or_unknown_name_is_a_clear_error(sample_lake: SampleLake) -> None:
    with open_lake(sample_lake[0]) as lake, pytest.raises(LakeError, match=r"use \.sql"):
        lake.scan("boxes_named")


def test_sql_returns_polars_and_arrow(sample_lake: SampleLake) -> None:
    with open_lake(sample_lake[0]) as lake:
        frame = lake.sql(
            "select label_name from boxes_named where image_id = $id order by 1 limit 1", {"id": "0000000000000000"}
        )
        assert isinstance(frame, pl.DataFrame) and frame.height == 1
        assert lake.arrow("select 42 as answer").to_pylist() == [{"answer": 42}]


def test_image_list_python_and_macro_agree(sample_lake: SampleLake) -> None:
    with open_lake(sample_lake[0]) as lake:
        lines = lake.image_list(["Animal"], include_descendants=True, split="validation")
        macro = lake.sql(
            "select image from image_list(['Animal'], include_descendants := true, split_name := 'validation')"
        )["image"].to_list()
        assert lines == macro == sorted(set(lines))
        assert lines and all(line.startswith("validation/") and len(line) == len("validation/") + 16 for line in lines)
        expected = lake.sql(
            "select distinct split || '/' || image_id as line from boxes_expanded "
            "where split = 'validation' and label_name = 'Animal' order by 1"
        )["line"].to_list()
        assert lines == expected
        two = lake.image_list(["Person"], min_boxes=2)
        recount = lake.sql(
            "select split || '/' || image_id as line from boxes_named where label_name = 'Person' "
            "group by all having count(*) >= 2 order by 1"
        )["line"].to_list()
        assert two == recount
        grouped = lake.image_list(["Person"], where="is_group_of")
        assert set(grouped) < set(lake.image_list(["Person"]))
        with pytest.raises(UnknownClassError):
            lake.image_list(["Persn"])


def test_open_lake_refuses_a_folder_that_is_not_a_lake(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="not a built oilake lake"):
        open_lake(tmp_path)
