"""Mask archives in `oilake build`: the mask_pixels table, its views and mart, reconciliation, reuse, remote sources.

The bad-input corpus (tests/bad_inputs, the `mask*` cases) pins each damaged-input outcome; here the
build-level behaviour around them.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.contract import FileReport
from pipeline.families.selection import select_families
from pipeline.masks import png
from tests.conftest import build, query, sources_by_file
from tests.servers import FileServer

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

CORPUS = Path(__file__).parent / "bad_inputs"
GENUINE = CORPUS / "masks_genuine"  # the five genuine mask PNGs zipped, with a segmentation row each
MASKS = Path(__file__).parent / "data" / "masks"
ARCHIVE = "validation-masks-0.zip"


def _copy(folder: Path, tmp_path: Path, name: str = "source") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2019, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


@pytest.fixture(scope="module")
def genuine_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("genuine")
    lake = root / "lake"
    return lake, build(_copy(GENUINE, root), lake)


def test_rle_of_every_row_decodes_to_the_png_pixels(genuine_lake: tuple[Path, dict]) -> None:
    from pycocotools import mask as coco

    lake, _ = genuine_lake
    rows = query(lake, "select mask_path, mask_width, mask_height, rle_counts from mask_pixels").rows()
    assert len(rows) == 5
    for mask_path, width, height, counts in rows:
        pixels = png.decode_mask(MASKS.joinpath(mask_path).read_bytes())
        decoded = coco.decode({"size": [height, width], "counts": counts.encode()})
        assert decoded.shape == (height, width) == pixels.shape
        assert np.array_equal(decoded.astype(bool), pixels), mask_path


def test_the_manifest_records_the_archive_with_its_md5_and_no_orphans(genuine_lake: tuple[Path, dict]) -> None:
    _, manifest = genuine_lake
    report = sources_by_file(manifest)[ARCHIVE]
    assert report["md5"] == hashlib.md5((GENUINE / ARCHIVE).read_bytes()).hexdigest()
    assert (report["table"], report["split"], report["bytes"]) == ("mask_pixels", "validation", 11946)
    assert (report["rows_read"], report["rows_written"], report["rows_rejected"]) == (5, 5, 0)
    assert report["output"].startswith("mask_pixels/split=validation/validation-masks-0.")
    assert manifest["mask_orphans"] == {"validation": {"pngs_without_row": 0, "rows_without_png": 0, "examples": []}}
    assert manifest["tables"]["mask_pixels"]["rows"] == 5


def test_masks_pixels_named_and_the_mart(genuine_lake: tuple[Path, dict]) -> None:
    lake, _ = genuine_lake
    joined = query(
        lake,
        "select mask_path, box_id, area, round(area_fraction, 6) as fraction from masks_pixels_named order by area",
    ).rows()
    assert joined == [
        ("00dc0baf74f95e45_m0663v_12e4ba7e.png", "12e4ba7e", 7878, round(7878 / (800 * 533), 6)),
        ("00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png", "ece6d8d8", 32825, round(32825 / (1600 * 1066), 6)),
        ("000bd0b4fa27644c_m0pg52_5c80344b.png", "5c80344b", 42219, round(42219 / (1280 * 960), 6)),
        ("00b20c960e6e82c2_m0bt9lr_a9038ca9.png", "a9038ca9", 250342, round(250342 / (1600 * 1200), 6)),
        ("000cc62f167d9fa4_m0663v_37f318a2.png", "37f318a2", 771871, round(771871 / (1600 * 1200), 6)),
    ]
    stats = query(
        lake,
        "select label_mid, masks, images, empty_masks, round(area_fraction_mean, 9), round(area_fraction_median, 9),"
        " mask_width_mean, mask_height_mean, masks_with_row, box_iou_mean > 0.9999 from mask_stats order by label_mid",
    ).rows()
    mean_0663v = (7878 / (800 * 533) + 771871 / (1600 * 1200)) / 2
    assert stats == [
        ("/m/0663v", 2, 2, 0, round(mean_0663v, 9), round(mean_0663v, 9), 1200.0, 866.5, 2, True),
        ("/m/0bt9lr", 2, 2, 0, round((32825 / 1705600 + 250342 / 1920000) / 2, 9),
         round((32825 / 1705600 + 250342 / 1920000) / 2, 9), 1600.0, 1133.0, 2, True),
        ("/m/0pg52", 1, 1, 0, round(42219 / 1228800, 9), round(42219 / 1228800, 9), 1280.0, 960.0, 1, True),
    ]  # fmt: skip
    fill = query(lake, "select box_fill_mean from mask_stats where label_mid = '/m/0pg52'").item()
    assert fill == pytest.approx(42219 / ((1148 - 824) * (504 - 323)))


def test_orphans_are_counted_in_the_manifest(tmp_path: Path) -> None:
    manifest = build(_copy(CORPUS / "mask_missing_csv_row", tmp_path), tmp_path / "lake")
    assert manifest["mask_orphans"] == {
        "validation": {
            "pngs_without_row": 1,
            "rows_without_png": 1,
            "examples": ["000cc62f167d9fa4_m0663v_0000beef.png", "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png"],
        }
    }


def test_rows_of_an_archive_not_in_the_source_are_not_orphans(tmp_path: Path) -> None:
    """Only archive 0 is downloaded: the rows of images starting with another hex digit are not listed."""
    source = _copy(GENUINE, tmp_path)
    csv = source / "validation-annotations-object-segmentation.csv"
    csv.write_text(csv.read_text() + "f000000000000001_m0pg52_00000001.png,f000000000000001,/m/0pg52,00000001,"
                   "0.1,0.2,0.3,0.4,0.9,\n")  # fmt: skip
    manifest = build(source, tmp_path / "lake")
    assert manifest["mask_orphans"]["validation"]["rows_without_png"] == 0
    assert query(tmp_path / "lake", "select count(*) from mask_orphans").item() == 0


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_duplicate_member_name_is_rejected_not_written_twice(tmp_path: Path) -> None:
    name = "000bd0b4fa27644c_m0pg52_5c80344b.png"
    data = (MASKS / name).read_bytes()
    source = tmp_path / "source"
    source.mkdir()
    (source / ARCHIVE).write_bytes(_zip([(name, data), (name, data)]))
    manifest = build(source, tmp_path / "lake", max_rejects=1)
    report = sources_by_file(manifest)[ARCHIVE]
    assert (report["rows_read"], report["rows_written"], report["rows_rejected"]) == (2, 1, 1)
    rejects = query(tmp_path / "lake", "select source_file, line, reason, raw from rejects").rows()
    assert rejects == [(ARCHIVE, 2, "corrupt: duplicate member name: an earlier member of this archive has the same name",
                        name)]  # fmt: skip


def test_rejects_above_max_rejects_fail_the_build(tmp_path: Path) -> None:
    from pipeline.core.errors import RejectLimitError

    with pytest.raises(RejectLimitError, match=r"validation-masks-0\.zip:2: not 1-bit or 8-bit grayscale"):
        build(_copy(CORPUS / "mask_member_wrong_mode", tmp_path), tmp_path / "lake")
    assert not (tmp_path / "lake" / "_manifest.json").exists()


def test_an_unchanged_archive_is_reused_and_a_changed_one_read_again(tmp_path: Path) -> None:
    source = _copy(GENUINE, tmp_path)
    lake = tmp_path / "lake"
    first = build(source, lake)
    second = build(source, lake)
    report = sources_by_file(second)[ARCHIVE]
    assert report["reused_from"] == first["release"]
    assert report["output"] == sources_by_file(first)[ARCHIVE]["output"]
    assert query(lake, "select count(*) from mask_pixels").item() == 5
    with zipfile.ZipFile(source / ARCHIVE) as archive:
        kept = [(n, archive.read(n)) for n in sorted(archive.namelist())[:3]]
    (source / ARCHIVE).write_bytes(_zip(kept))
    third = build(source, lake)
    changed = sources_by_file(third)[ARCHIVE]
    assert changed["reused_from"] is None and changed["rows_written"] == 3
    assert third["mask_orphans"]["validation"]["rows_without_png"] == 2


def test_only_mask_pixels_and_only_masks(tmp_path: Path) -> None:
    assert select_families(["mask_pixels"]) == {"mask_pixels"}
    assert select_families(["masks"]) == {"masks", "mask_pixels"}
    assert select_families(["hierarchy"]) == {"hierarchy"}
    manifest = build(_copy(GENUINE, tmp_path), tmp_path / "lake", only=["mask_pixels"])
    assert [s["file"] for s in manifest["sources"]] == [ARCHIVE]
    assert manifest["tables"]["mask_pixels"]["rows"] == 5 and manifest["tables"]["masks"]["rows"] == 0
    assert manifest["mask_orphans"] == {"validation": {"pngs_without_row": 0, "rows_without_png": 0, "examples": []}}


def test_the_skipped_archives_are_logged_one_line_per_split(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["build", "--source", str(_copy(GENUINE, tmp_path)), "--lake", str(tmp_path / "l")]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("skip  mask_pixels")]
    assert lines == [
        "skip  mask_pixels (train): 16 archives, train-masks-0.zip to train-masks-f.zip, not in the source",
        "skip  mask_pixels (validation): 15 archives, validation-masks-1.zip to validation-masks-f.zip, not in the source",
        "skip  mask_pixels (test): 16 archives, test-masks-0.zip to test-masks-f.zip, not in the source",
    ]


@pytest.mark.server
def test_archives_over_http_are_read_by_ranges_with_the_same_rows(
    tmp_path: Path, file_server: Callable[[Path], FileServer], genuine_lake: tuple[Path, dict]
) -> None:
    server = file_server(_copy(GENUINE, tmp_path))
    manifest = build(server.url, tmp_path / "lake")
    local_lake, local = genuine_lake
    assert sources_by_file(manifest)[ARCHIVE]["md5"] == sources_by_file(local)[ARCHIVE]["md5"]
    sql = "select * exclude (split) from mask_pixels order by mask_path"
    assert query(tmp_path / "lake", sql).equals(query(local_lake, sql))
    ranged = [r for r in server.gets(ARCHIVE) if r.range is not None]
    assert ranged and len(server.gets(ARCHIVE)) == len(ranged), "every GET of the archive is a range request"


def test_the_manifest_round_trips_with_orphans(genuine_lake: tuple[Path, dict]) -> None:
    from pipeline.core.contract import Manifest

    lake, manifest = genuine_lake
    text = (lake / "_manifest.json").read_text()
    assert Manifest.from_text(text).to_json() == json.loads(text) == manifest


def test_an_empty_archive_counts_as_built_and_a_misplaced_member_does_not(tmp_path: Path) -> None:
    """Built archives come from the manifest (the view mask_archives), not from the rows they gave."""
    source = _copy(GENUINE, tmp_path)
    name = "000bd0b4fa27644c_m0pg52_5c80344b.png"
    (source / ARCHIVE).write_bytes(_zip([]))  # archive 0 built, empty: all five rows lack their PNG
    (source / "validation-masks-5.zip").write_bytes(_zip([(name, (MASKS / name).read_bytes())]))  # a 0… member in 5
    lake = tmp_path / "lake"
    manifest = build(source, lake)
    assert manifest["mask_orphans"]["validation"]["rows_without_png"] == 4
    assert manifest["mask_orphans"]["validation"]["pngs_without_row"] == 0
    assert query(lake, "select split, digit, archive, members, rows_written, rows_rejected from mask_archives"
                       " order by archive").rows() == [
        ("validation", "0", ARCHIVE, 0, 0, 0),
        ("validation", "5", "validation-masks-5.zip", 1, 1, 0),
    ]  # fmt: skip
    assert query(lake, "select count(*) from mask_orphans where kind = 'row without png'").item() == 4


def test_a_gzipped_archive_is_refused_by_name(tmp_path: Path) -> None:
    import gzip

    from pipeline.core.errors import InputFormatError

    source = _copy(GENUINE, tmp_path)
    (source / f"{ARCHIVE}.gz").write_bytes(gzip.compress((source / ARCHIVE).read_bytes()))
    (source / ARCHIVE).unlink()
    with pytest.raises(InputFormatError, match=r"validation-masks-0\.zip\.gz: a mask archive is read as the zip"):
        build(source, tmp_path / "lake")


def test_batches_close_at_a_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.masks import rows

    monkeypatch.setattr(rows, "BATCH_BYTES", 1000)
    members = [(f"m{i}", b"x" * 400) for i in range(7)]
    assert [len(b) for b in rows._batched(iter(members), 256)] == [3, 3, 1]
    assert [len(b) for b in rows._batched(iter(members), 2)] == [2, 2, 2, 1]


def test_the_mask_workers_stop_before_the_files_after_the_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.build.run as run
    import pipeline.masks.ingest as mask_ingest

    source = _copy(GENUINE, tmp_path)
    sample = Path(run.__file__).parents[1] / "sample"
    shutil.copy(sample / "validation-images-with-rotation.csv", source)
    pools: list[run.MaskPool] = []

    class Recorded(run.MaskPool):
        def __init__(self) -> None:
            super().__init__()
            pools.append(self)

    seen: list[tuple[str, bool]] = []

    def recording(ingest: Callable[..., FileReport]) -> Callable[..., FileReport]:
        def recorded(*args: object, **kwargs: object) -> FileReport:
            report = ingest(*args, **kwargs)
            seen.append((report.file, pools[0].running))
            return report

        return recorded

    monkeypatch.setattr(mask_ingest, "INLINE_BELOW", 0)  # the five members go to the worker processes
    monkeypatch.setattr(run, "MaskPool", Recorded)
    monkeypatch.setattr(run, "ingest_archive", recording(run.ingest_archive))
    monkeypatch.setattr(run, "ingest_to_parquet", recording(run.ingest_to_parquet))
    build(source, tmp_path / "lake")
    assert seen == [
        ("validation-annotations-object-segmentation.csv", False),
        (ARCHIVE, True),
        ("validation-images-with-rotation.csv", False),
    ]
