"""The bundled sample: every family, every stage, pinned counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.core.official import official_files
from pipeline.resources import sample_dir
from tests.conftest import SHARED, query

SampleLake = tuple[Path, dict[str, object]]

EXPECTED_ROWS = {
    "attributes": 5,
    "boxes": 1537,
    "class_ancestors": 920,
    "class_parts": 38,
    "class_paths": 670,
    "classes": 19995,
    "hierarchy": 685,
    "human_parts_images": 20,
    "image_labels": 2482,
    "images": 240,
    "masks": 50,
    "mask_pixels": 50,  # one PNG a segmentation row, in the sample's 48 mask archives
    "narratives": 49,
    "rejects": 0,
    "relationship_names": 10,
    "relationship_triplets": 329,
    "relationships": 90,
    # marts
    "attribute_rates": 116,
    "box_geometry": 242,
    "class_stats": 714,
    "image_summary": 240,
    "mask_stats": 24,
    "relationship_stats": 48,
}


def test_sample_is_small_and_uses_official_names() -> None:
    files = [p for p in sample_dir().iterdir() if p.name != "README.md"]
    assert sum(p.stat().st_size for p in files) <= 5 * 2**20
    official = {f.name for f in official_files()}
    assert {p.name for p in files} <= official
    assert {f.family for f in official_files() if f.name in {p.name for p in files}} == {
        f.family for f in official_files()
    }, "the sample must cover every family"


def test_sample_table_rows(sample_lake: SampleLake) -> None:
    _, manifest = sample_lake
    assert {name: info["rows"] for name, info in manifest["tables"].items()} == EXPECTED_ROWS


def test_every_sample_file_reconciles(sample_lake: SampleLake) -> None:
    _, manifest = sample_lake
    for report in manifest["sources"]:
        assert report["rows_read"] == report["rows_written"] + report["rows_rejected"] + report["rows_duplicate"]
        assert report["rows_rejected"] == 0
        assert len(report["md5"]) == 32


@pytest.mark.parametrize(
    ("split", "image_id"),
    [("train", "7fffffffffffffff"), ("train", "8000000000000000"), ("validation", "0000000000000000"),
     ("test", "ffffffffffffffff")],
)  # fmt: skip
def test_edge_ids_reach_every_per_image_table(sample_lake: SampleLake, split: str, image_id: str) -> None:
    lake, _ = sample_lake
    for table in ("images", "boxes", "masks", "relationships", "image_labels", "narratives"):
        u64 = query(
            lake, f"select distinct image_id_u64 from {table} where image_id = '{image_id}' and split = '{split}'"
        )
        assert u64.to_series().to_list() == [int(image_id, 16)], table


def test_sample_semantics(sample_lake: SampleLake) -> None:
    lake, _ = sample_lake
    unknown_flags = query(lake, "select count(*) from boxes where is_occluded is null").item()
    assert unknown_flags > 0
    assert query(lake, "select count(*) from boxes where split <> 'train' and x_click_1x is not null").item() == 0
    assert query(lake, "select count(*) from boxes where source = 'activemil' and x_click_1x is not null").item() == 0
    assert query(lake, "select count(*) from images where rotation is null").item() > 0
    assert query(lake, "select count(*) from masks where len(clicks) = 0").item() > 0
    assert query(lake, "select count(*) from narratives where len(traces) = 0").item() >= 2
    is_rows = query(
        lake, "select count(*) from relationships r join attributes a on r.label_mid_2 = a.attribute_mid "
        "where relationship = 'is'"
    ).item()  # fmt: skip
    assert is_rows == query(lake, "select count(*) from relationships where relationship = 'is'").item()
    guitar = query(
        lake,
        "select n.image_id from narratives n join boxes b using (image_id, split) "
        "where n.caption ilike '%guitar%' and b.label_mid = '/m/0342h'",
    )
    assert guitar.height >= 1


def test_image_labels_appear_once(sample_lake: SampleLake) -> None:
    lake, _ = sample_lake
    duplicates = query(
        lake, "select count(*) from (select image_id, source, label_mid, confidence, count(*) n "
        "from image_labels group by all having n > 1)"
    ).item()  # fmt: skip
    assert duplicates == 0
    assert query(lake, "select count(*) - count(distinct (split, image_id)) from images").item() == 0


def test_parquet_files_are_zstd_with_statistics(sample_lake: SampleLake) -> None:
    lake, manifest = sample_lake
    for info in manifest["tables"].values():
        for file in info["files"]:
            meta = pq.ParquetFile(lake / file["path"]).metadata
            assert meta.num_rows == file["rows"]
            for group in range(meta.num_row_groups):
                column = meta.row_group(group).column(0)
                assert column.compression == "ZSTD"
                assert meta.num_rows == 0 or column.statistics is not None


def test_manifest_records_source_paths(sample_lake: SampleLake) -> None:
    _, manifest = sample_lake
    for report in manifest["sources"]:
        assert report["path"].endswith(report["file"])
        assert Path(report["path"]).stat().st_size == report["bytes"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/openimages is not beside the project")
def test_sample_is_what_its_generator_makes(tmp_path: Path) -> None:
    """The committed sample is reproducible: the generator makes it byte for byte."""
    tool = Path(__file__).parent / "tools" / "make_sample.py"
    subprocess.run([sys.executable, str(tool), "--dest", str(tmp_path)], check=True, capture_output=True)
    committed = sorted(p.name for p in sample_dir().iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (sample_dir() / name).read_bytes(), name
