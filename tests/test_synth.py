"""``oilake synth``: row counts, determinism, realism, reuse, synthetic predictions, and the synth → build
scale smoke test."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.official import official_files
from pipeline.core.schema import all_schemas
from pipeline.families.selection import SelectionError
from pipeline.masks import png
from pipeline.masks.zip_members import LocalRanges, ZipArchive
from pipeline.resources import sample_dir
from pipeline.synth import SynthError, SynthReport, mask_archives, predictions, synthesize, truth
from pipeline.synth.mask_shapes import GRIDS
from pipeline.synth.predictions import (
    DETECTION_COLUMNS,
    RELATIONSHIP_COLUMNS,
    Detector,
    PredictionsError,
    PredictionsFile,
    write_predictions,
)
from tests.conftest import build, query

SCALE = 0.001
PERSON, MAN, WOMAN, CLOTHING = "/m/01g317", "/m/04yx4", "/m/03bt1vf", "/m/09j2d"
HEX_ID = re.compile(r"^[0-9a-f]{16}$")
CLICKS = re.compile(r"^(?:[01]\.\d{5} [01]\.\d{5} [01])(?:;[01]\.\d{5} [01]\.\d{5} [01])*$")
SHARDS = [f"open_images_train_v6_localized_narratives-{i:05d}-of-00010.jsonl" for i in range(10)]

# Rows per generated file at scale 0.001 (official V6 rows × 0.001, rounded half up).
ROWS_AT_SCALE = {
    "oidv6-train-images-with-labels-with-rotation.csv": 9011,
    "train-images-boxable-with-rotation.csv": 1743,
    "validation-images-with-rotation.csv": 42,
    "test-images-with-rotation.csv": 125,
    "oidv6-train-annotations-bbox.csv": 14610,
    "validation-annotations-bbox.csv": 304,
    "test-annotations-bbox.csv": 937,
    "train-annotations-object-segmentation.csv": 2687,
    "validation-annotations-object-segmentation.csv": 25,
    "test-annotations-object-segmentation.csv": 74,
    "oidv6-train-annotations-vrd.csv": 3174,
    "oidv6-validation-annotations-vrd.csv": 27,
    "oidv6-test-annotations-vrd.csv": 83,
    "oidv6-train-annotations-human-imagelabels.csv": 57524,
    "validation-annotations-human-imagelabels.csv": 595,
    "test-annotations-human-imagelabels.csv": 1800,
    "train-annotations-human-imagelabels-boxable.csv": 8762,
    "validation-annotations-human-imagelabels-boxable.csv": 248,
    "test-annotations-human-imagelabels-boxable.csv": 745,
    "train-annotations-machine-imagelabels.csv": 164820,
    "validation-annotations-machine-imagelabels.csv": 681,
    "test-annotations-machine-imagelabels.csv": 2061,
    "open_images_validation_localized_narratives.jsonl": 42,
    "open_images_test_localized_narratives.jsonl": 126,
    "train-image-ids-with-human-parts-and-mammal-boxes.txt": 95,
    **dict(zip(SHARDS, [50, 51, 51, 50, 51, 51, 50, 51, 51, 51], strict=True)),  # 507 in all
}
# Lake rows after `oilake build` of that data: -boxable files are duplicates of their full files.
TABLE_ROWS = {
    "images": 9011 + 42 + 125,
    "boxes": 14610 + 304 + 937,
    "masks": 2687 + 25 + 74,
    "mask_pixels": 2687 + 25 + 74,  # one PNG a segmentation row
    "relationships": 3174 + 27 + 83,
    "image_labels": 57524 + 595 + 1800 + 164820 + 681 + 2061,
    "narratives": 507 + 42 + 126,
    "human_parts_images": 95,
    "classes": 19995,  # 19,994 described MIDs (the 601 boxable among them) + the root
    "hierarchy": 685,
    "class_ancestors": 920,
    "class_parts": 38,
    "class_paths": 670,
    "attributes": 5,
    "relationship_names": 10,
    "relationship_triplets": 329,
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthReport:
    """Every family at scale 0.001 (about 40 MB), generated once for the module."""
    return synthesize(tmp_path_factory.mktemp("synth") / "data", SCALE, seed=0, progress=False)


def read(report: SynthReport, name: str) -> pl.DataFrame:
    return pl.read_csv(report.dest / name, infer_schema=False).with_columns(pl.all().fill_null(""))


def lines(report: SynthReport, name: str) -> list[str]:
    return (report.dest / name).read_text(encoding="utf-8").splitlines()


def image_ids(report: SynthReport, name: str) -> list[str]:
    if name.endswith(".jsonl"):
        return [json.loads(line)["image_id"] for line in lines(report, name)]
    if name.endswith(".txt"):
        return lines(report, name)
    return read(report, name).get_column("ImageID").to_list()


def per_split_files(report: SynthReport) -> list[str]:
    """The per-split text files (not the mask archives)."""
    return [f.name for f in report.files if f.split is not None and f.family != "mask_pixels"]


def archives(report: SynthReport, split: str | None = None) -> list[str]:
    return [f.name for f in report.files if f.family == "mask_pixels" and split in (None, f.split)]


# The members of the 16 archives of each split at scale 0.001, seed 0 (archives 0 to f).
ARCHIVE_MEMBERS = {
    "train": [181, 125, 133, 147, 203, 124, 207, 207, 184, 174, 183, 199, 173, 157, 145, 145],
    "validation": [0, 0, 0, 0, 0, 0, 5, 0, 2, 4, 2, 3, 3, 0, 6, 0],
    "test": [1, 4, 6, 4, 4, 9, 1, 3, 0, 4, 2, 11, 10, 4, 3, 8],
}


# ---------------------------------------------------------------------------- row counts


def test_rows_per_file_are_official_rows_times_scale(synth: SynthReport) -> None:
    written = {f.name: f.rows for f in synth.files if f.split is not None and f.family != "mask_pixels"}
    assert written == ROWS_AT_SCALE
    for official in official_files():
        if official.split is not None and official.rows is not None:  # the counts the file list gives
            assert written[official.name] == int(official.rows * SCALE + 0.5), official.name
    for file in synth.files:  # the reported rows are the rows in the file
        if file.family == "mask_pixels":
            with zipfile.ZipFile(synth.dest / file.name) as archive:
                assert len(archive.infolist()) == file.rows, file.name
        elif file.name.endswith(".csv") and file.split is not None:
            assert len(read(synth, file.name)) == file.rows, file.name
        elif file.split is not None:
            assert len(lines(synth, file.name)) == file.rows, file.name
        assert (synth.dest / file.name).stat().st_size == file.bytes


def test_rows_by_table(synth: SynthReport) -> None:
    assert synth.rows_by_table() == TABLE_ROWS


def test_every_file_has_at_least_one_row(tmp_path: Path) -> None:
    report = synthesize(tmp_path / "tiny", 1e-7, only=["boxes", "narratives", "images"], progress=False)
    assert {f.rows for f in report.files} == {1}
    assert len(report.files) == 3 + 12 + 4


def test_metadata_files_are_the_bundled_genuine_copies(synth: SynthReport) -> None:
    for file in synth.files:
        if file.split is None:
            assert (synth.dest / file.name).read_bytes() == (sample_dir() / file.name).read_bytes()


# ---------------------------------------------------------------------------- determinism


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "_synth.json"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    report = synthesize(tmp_path / "a", 0.0003, seed=7, progress=False)
    first = _bytes(report.dest)
    again = _bytes(synthesize(tmp_path / "b", 0.0003, seed=7, progress=False).dest)
    other = _bytes(synthesize(tmp_path / "c", 0.0003, seed=8, progress=False).dest)
    assert first == again
    assert first.keys() == other.keys()
    generated = per_split_files(report)
    assert len(generated) == 35
    assert all(first[n] != other[n] for n in generated)
    masks = [f for f in report.files if f.family == "mask_pixels"]
    assert len(masks) == 48 and sum(f.rows for f in masks) == 806 + 7 + 22
    assert all(first[f.name] != other[f.name] for f in masks if f.rows)  # the empty ones are 22 equal bytes


def test_a_family_is_the_same_whether_generated_alone_or_with_others(tmp_path: Path, synth: SynthReport) -> None:
    alone = synthesize(tmp_path / "alone", SCALE, only=["masks"], progress=False)
    assert [f.family for f in alone.files] == ["masks"] * 3 + ["mask_pixels"] * 48  # masks: the rows and the PNGs
    for file in alone.files:
        assert (alone.dest / file.name).read_bytes() == (synth.dest / file.name).read_bytes()


# ---------------------------------------------------------------------------- realism


def test_image_ids_are_sorted_hex_and_half_above_2_63(synth: SynthReport) -> None:
    for name in per_split_files(synth):
        ids = image_ids(synth, name)
        assert ids == sorted(ids), name
        assert all(HEX_ID.match(i) for i in ids), name
    train = image_ids(synth, "oidv6-train-images-with-labels-with-rotation.csv")
    assert len(set(train)) == len(train)
    assert 0.47 < sum(i >= "8" for i in train) / len(train) < 0.53


def test_image_ids_are_consistent_across_families(synth: SynthReport) -> None:
    images = {
        "train": set(image_ids(synth, "oidv6-train-images-with-labels-with-rotation.csv")),
        "validation": set(image_ids(synth, "validation-images-with-rotation.csv")),
        "test": set(image_ids(synth, "test-images-with-rotation.csv")),
    }
    boxable = {**images, "train": set(image_ids(synth, "train-images-boxable-with-rotation.csv"))}
    assert boxable["train"] < images["train"]
    for file in synth.files:
        if file.split is None or file.family.startswith("images") or file.family == "mask_pixels":
            continue
        ids = set(image_ids(synth, file.name))
        on_boxable = file.family in ("boxes", "masks", "relationships", "narratives", "human_parts_images")
        assert ids <= (boxable if on_boxable else images)[file.split], file.name
    for split, name in (("train", "oidv6-train-annotations-bbox.csv"), ("test", "test-annotations-bbox.csv")):
        assert set(image_ids(synth, name)) == boxable[split]  # every boxable image has boxes


def test_boxes_look_like_v6(synth: SynthReport) -> None:
    boxes = read(synth, "oidv6-train-annotations-bbox.csv")
    activemil = boxes.get_column("Source") == "activemil"
    assert set(boxes.get_column("Source")) == {"xclick", "activemil"}
    assert 0.09 < activemil.mean() < 0.11
    clicks = boxes.select(pl.col("^XClick.*$"))
    assert (clicks.filter(activemil) == "-1").to_numpy().all()
    assert not (clicks.filter(~activemil) == "-1").to_numpy().any()
    coords = boxes.select(pl.col("XMin", "XMax", "YMin", "YMax").cast(pl.Float64))
    assert ((coords["XMin"] <= coords["XMax"]) & (coords["YMin"] <= coords["YMax"])).all()
    assert coords.min().min_horizontal()[0] >= 0 and coords.max().max_horizontal()[0] <= 1
    assert boxes.get_column("XMin").str.contains(r"^[01]\.\d{6}$").all()  # 6 decimals in train
    for flag in ("IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"):
        assert set(boxes.get_column(flag)) == {"-1", "0", "1"}
    top = boxes.get_column("LabelName").value_counts(sort=True).get_column("LabelName").head(4)
    assert set(top) == {PERSON, MAN, WOMAN, CLOTHING}
    boxable = {r[0] for r in csv.reader(io.StringIO((sample_dir() / "class-descriptions-boxable.csv").read_text()))}
    assert set(boxes.get_column("LabelName")) <= boxable
    assert len(boxes) / boxes.get_column("ImageID").n_unique() == pytest.approx(8.4, abs=0.05)
    for name in ("validation-annotations-bbox.csv", "test-annotations-bbox.csv"):
        other = read(synth, name)
        assert len(other) / other.get_column("ImageID").n_unique() == pytest.approx(7.4, abs=0.2)
        assert set(other.get_column("Source")) == {"xclick"}
        assert len(other.columns) == 13


def test_labels_look_like_v6(synth: SynthReport) -> None:
    human = read(synth, "oidv6-train-annotations-human-imagelabels.csv")
    assert 0.63 < (human.get_column("Confidence") == "0").mean() < 0.67
    assert set(human.get_column("Source")) == {"verification", "crowdsource-verification"}
    assert human.select("ImageID", "LabelName").is_unique().all()
    for split in ("train", "validation", "test"):
        full = (
            "oidv6-train-annotations-human-imagelabels.csv"
            if split == "train"
            else f"{split}-annotations-human-imagelabels.csv"
        )
        assert set(lines(synth, f"{split}-annotations-human-imagelabels-boxable.csv")) <= set(lines(synth, full))
    machine = read(synth, "train-annotations-machine-imagelabels.csv")
    assert set(machine.get_column("Source")) == {"machine"}
    confidence = machine.get_column("Confidence").cast(pl.Float64)
    assert ((confidence > 0) & (confidence < 1)).all()
    assert confidence.n_unique() > 20


def test_relationships_and_masks_reuse_boxes(synth: SynthReport) -> None:
    boxes = read(synth, "oidv6-train-annotations-bbox.csv")
    vrd = read(synth, "oidv6-train-annotations-vrd.csv")
    is_rel = vrd.get_column("RelationshipLabel") == "is"
    assert 0.86 < is_rel.mean() < 0.92
    same = [pl.col(f"{c}1") == pl.col(f"{c}2") for c in ("XMin", "XMax", "YMin", "YMax")]
    assert vrd.filter(is_rel).select(pl.all_horizontal(same)).to_series().all()
    attributes = {
        line.split(",")[0] for line in (sample_dir() / "oidv6-attributes-description.csv").read_text().splitlines()
    }
    assert set(vrd.filter(is_rel).get_column("LabelName2")) <= attributes
    first = vrd.rename({"LabelName1": "LabelName", "XMin1": "XMin", "XMax1": "XMax", "YMin1": "YMin", "YMax1": "YMax"})
    assert first.join(boxes, on=["ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax"], how="anti").is_empty()
    masks = read(synth, "train-annotations-object-segmentation.csv")
    box_keys = boxes.select(
        "ImageID", "LabelName", *(pl.col(c).cast(pl.Float64) for c in ("XMin", "XMax", "YMin", "YMax"))
    )
    mask_keys = masks.select(
        "ImageID", "LabelName", *(pl.col(f"Box{c}").cast(pl.Float64).alias(c) for c in ("XMin", "XMax", "YMin", "YMax"))
    )
    assert mask_keys.join(box_keys, on=mask_keys.columns, how="anti").is_empty()
    clicks = masks.get_column("Clicks")
    assert 0.03 < (clicks == "").mean() < 0.15
    assert clicks.filter(clicks != "").str.contains(CLICKS.pattern).all()
    assert masks.get_column("MaskPath").str.contains(r"^[0-9a-f]{16}_[a-z]\w+_[0-9a-f]{8}\.png$").all()


def test_images_look_like_v6(synth: SynthReport) -> None:
    images = read(synth, "oidv6-train-images-with-labels-with-rotation.csv")
    assert set(images.get_column("Rotation")) == {"0.0", "90.0", "180.0", "270.0", "", "nan"}
    titles = images.get_column("Title")
    assert titles.str.contains(",").any() and titles.str.contains('"').any()
    assert titles.str.contains(r"[^\x00-\x7f]").any()
    assert images.get_column("Author").str.contains(",").any()
    assert images.get_column("OriginalMD5").str.contains(r"^[A-Za-z0-9+/]{22}==$").all()
    assert set(lines(synth, "train-images-boxable-with-rotation.csv")[1:]) < set(
        lines(synth, "oidv6-train-images-with-labels-with-rotation.csv")[1:]
    )


def test_narratives_look_like_v6(synth: SynthReport) -> None:
    sizes, words = [], []
    for name in [*SHARDS, "open_images_validation_localized_narratives.jsonl"]:
        for line in lines(synth, name):
            value = json.loads(line)
            assert list(value) == ["dataset_id", "image_id", "annotator_id", "caption", "timed_caption", "traces",
                                   "voice_recording"]  # fmt: skip
            assert json.dumps(value, separators=(", ", ": ")) == line  # the published separators and numbers
            sizes.append(len(line.encode()) + 1)
            words.append(len(value["caption"].split()))
    assert 29_000 < sum(sizes) / len(sizes) < 35_000
    assert 30 < sum(words) / len(words) < 42


# ---------------------------------------------------------------------------- mask archives

SEGMENTATION = {s: f"{s}-annotations-object-segmentation.csv" for s in ("train", "validation", "test")}


def test_mask_archives_hold_one_member_per_segmentation_row(synth: SynthReport) -> None:
    for split, name in SEGMENTATION.items():
        paths = read(synth, name).get_column("MaskPath")
        assert archives(synth, split) == [mask_archives.archive_name(split, d) for d in "0123456789abcdef"]
        assert [f.rows for f in synth.files if f.family == "mask_pixels" and f.split == split] == ARCHIVE_MEMBERS[split]
        for digit, archive in zip("0123456789abcdef", archives(synth, split), strict=True):
            with zipfile.ZipFile(synth.dest / archive) as opened:
                infos = opened.infolist()
            # at the root, named exactly the MaskPath of a row whose ImageID starts with the digit, sorted
            assert [i.filename for i in infos] == sorted(p for p in paths if p[0] == digit), archive
            assert {(i.compress_type, i.date_time, i.external_attr >> 16) for i in infos} <= {
                (zipfile.ZIP_STORED, (2019, 5, 1, 0, 0, 0), 0o100644)
            }
        assert sum(ARCHIVE_MEMBERS[split]) == len(paths)


def test_each_mask_is_a_1_bit_png_inside_its_box_on_its_images_grid(synth: SynthReport) -> None:
    rows = {r["MaskPath"]: r for r in read(synth, SEGMENTATION["train"]).iter_rows(named=True)}
    sizes = {(w, h) for w, h, _ in GRIDS} | {(h, w) for w, h, _ in GRIDS}
    grids: dict[str, set[tuple[int, int]]] = {}
    png_bytes, fill = [], []
    for archive in archives(synth, "train"):
        with ZipArchive(LocalRanges(str(synth.dest / archive))) as opened:  # the build's reader
            for member in opened.members():
                assert member.error is None
                scanlines = png.decode(member.data)
                mask = scanlines.mask()
                height, width = mask.shape
                assert scanlines.bit_depth == 1 and (width, height) in sizes
                assert png.encode(mask) == member.data  # the encoder of pipeline.masks.png, byte for byte
                row = rows.pop(member.name)
                grids.setdefault(row["ImageID"], set()).add((width, height))
                x0, x1 = (float(row[c]) * width for c in ("BoxXMin", "BoxXMax"))
                y0, y1 = (float(row[c]) * height for c in ("BoxYMin", "BoxYMax"))
                ys, xs = np.nonzero(mask)
                assert len(xs) > 0, member.name
                assert int(x0) <= xs.min() and xs.max() < max(int(x0) + 1, np.ceil(x1)), member.name
                assert int(y0) <= ys.min() and ys.max() < max(int(y0) + 1, np.ceil(y1)), member.name
                box_area = (max(int(x0) + 1, np.ceil(x1)) - int(x0)) * (max(int(y0) + 1, np.ceil(y1)) - int(y0))
                fill.append(len(xs) / box_area)
                png_bytes.append(len(member.data))
    assert not rows  # every row has its mask
    assert {len(g) for g in grids.values()} == {1}  # the masks of an image share its grid
    assert len(png_bytes) == 2687 and statistics.median(png_bytes) == 1209  # the release: median ~1.2 KB
    assert 0.55 < statistics.median(fill) < 0.85  # a shape filling most of its box, not the box itself


def test_mask_archives_do_not_depend_on_chunks_or_batches(
    synth: SynthReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv_path = synth.dest / SEGMENTATION["test"]
    monkeypatch.setattr(mask_archives, "CHUNK_MASKS", 3)
    small = [pa.Table.from_batches([b]) for t in mask_archives.read_rows(csv_path) for b in t.to_batches(5)]
    written = list(mask_archives.write_archives(tmp_path, "test", small, seed=0))
    assert [a.members for a in written] == ARCHIVE_MEMBERS["test"]
    for archive in written:
        assert archive.path.read_bytes() == (synth.dest / archive.path.name).read_bytes()
    rows = pa.concat_tables(mask_archives.read_rows(csv_path))
    backwards = rows.take(pa.array(range(len(rows) - 1, -1, -1)))
    with pytest.raises(ValueError, match="test: the segmentation rows are not sorted by ImageID"):
        list(mask_archives.write_archives(tmp_path / "unsorted", "test", [backwards], seed=0))


def test_only_mask_pixels_writes_just_the_archives(tmp_path: Path, synth: SynthReport) -> None:
    dest = tmp_path / "pixels"
    report = synthesize(dest, SCALE, only=["mask_pixels"], splits=["validation", "test"], progress=False)
    assert [f.family for f in report.files] == ["mask_pixels"] * 32
    assert sorted(p.name for p in dest.iterdir()) == sorted(["_synth.json", *archives(report)])  # rows made aside
    for file in report.files:  # the same archives as when the rows are written too
        assert (dest / file.name).read_bytes() == (synth.dest / file.name).read_bytes(), file.name
    assert report.rows_by_table() == {"mask_pixels": 25 + 74}
    stamps = {p.name: p.stat().st_mtime_ns for p in dest.iterdir() if p.suffix == ".zip"}
    again = synthesize(dest, SCALE, only=["mask_pixels"], splits=["validation", "test"], progress=False)
    assert all(f.seconds == 0 for f in again.files)  # reused
    assert [(f.name, f.rows, f.bytes) for f in again.files] == [(f.name, f.rows, f.bytes) for f in report.files]
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir() if p.suffix == ".zip"} == stamps


@pytest.mark.slow
def test_an_archive_of_more_than_65535_members_is_zip64_and_streams(tmp_path: Path) -> None:
    data = png.encode(np.eye(5, 9, dtype=bool))
    names = [f"{i:016x}_m0663v_{i:08x}.png" for i in range(65_536 + 7)]
    path = tmp_path / "train-masks-0.zip"
    assert mask_archives.write_zip(path, ((name, data) for name in names)) == len(names)
    assert b"PK\x06\x06" in path.read_bytes()[-200:]  # the Zip64 end record
    with ZipArchive(LocalRanges(str(path))) as archive:
        assert len(archive) == len(names)
        members = [(m.name, m.data, m.error) for m in archive.members()]
    assert [m[0] for m in members] == names
    assert all(m[1] == data and m[2] is None for m in members)


# ---------------------------------------------------------------------------- reuse and errors


def test_same_arguments_reuse_the_files(tmp_path: Path) -> None:
    dest = tmp_path / "data"
    first = synthesize(dest, 0.0002, only=["boxes", "relationships"], progress=False)
    stamps = {f.name: (dest / f.name).stat().st_mtime_ns for f in first.files}
    again = synthesize(dest, 0.0002, only=["boxes", "relationships"], progress=False)
    assert [(f.name, f.rows, f.bytes) for f in again.files] == [(f.name, f.rows, f.bytes) for f in first.files]
    assert all(f.seconds == 0 for f in again.files)
    assert {f.name: (dest / f.name).stat().st_mtime_ns for f in again.files} == stamps
    state = json.loads((dest / "_synth.json").read_text())
    assert (state["scale"], state["seed"], len(state["files"])) == (0.0002, 0, 6)
    fewer = synthesize(dest, 0.0003, only=["boxes"], progress=False)  # another scale: regenerated
    assert all(f.seconds > 0 for f in fewer.files)
    assert sorted(p.name for p in dest.iterdir()) == sorted(["_synth.json", *(f.name for f in fewer.files)])


def test_refuses_a_folder_with_official_files_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "test-annotations-bbox.csv").write_text("real data\n")
    with pytest.raises(SynthError, match="did not write"):
        synthesize(tmp_path, 0.0001, only=["boxes"], progress=False)
    assert (tmp_path / "test-annotations-bbox.csv").read_text() == "real data\n"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="scale"):
        synthesize(tmp_path, 0, progress=False)
    with pytest.raises(SynthError, match="seed"):
        synthesize(tmp_path, 0.1, seed=-1, progress=False)
    with pytest.raises(SelectionError, match="unknown family or table 'nope'"):
        synthesize(tmp_path, 0.1, only=["nope"], progress=False)


def test_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["synth", "--dest", str(tmp_path / "d"), "--scale", "0.0001", "--only", "boxes"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "file\trows\tbytes\tseconds"
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()[1:]] == [
        ["oidv6-train-annotations-bbox.csv", "1461"],
        ["validation-annotations-bbox.csv", "30"],
        ["test-annotations-bbox.csv", "94"],
    ]
    assert "synth boxes/train" in result.stderr
    bad = CliRunner().invoke(cli, ["synth", "--dest", str(tmp_path / "e"), "--scale", "-1"])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: --scale must be a positive number") and "hint:" in bad.stderr


# ---------------------------------------------------------------------------- predictions

SAMPLE_COUNTS = {  # the sample's validation split, seed 0, 100 an image
    "jittered": 212, "group_part": 26, "duplicate": 59, "poor": 22, "parent": 247,
    "fp_negative": 1013, "fp_positive": 689, "fp_unverified": 1732,
}  # fmt: skip
ID = {"ImageID": pl.String}


@pytest.fixture(scope="module")
def sample_predictions(tmp_path_factory: pytest.TempPathFactory) -> PredictionsFile:
    return write_predictions(sample_dir(), tmp_path_factory.mktemp("predictions"), "validation")


def read_predictions(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides=ID)


def ground_truth(folder: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(folder / name, schema_overrides=ID)


def iou_hits(predictions: pl.DataFrame, boxes: pl.DataFrame, suffix: str = "") -> pl.DataFrame:
    """(p, g) pairs of a prediction and a box of its image and class with IoU >= 0.5."""
    sides = [f"{c}{suffix}" for c in ("XMin", "XMax", "YMin", "YMax")]
    pairs = predictions.join(boxes, on=["ImageID", *(c for c in boxes.columns if c.startswith("LabelName"))],
                             suffix="_g")  # fmt: skip
    x0, x1, y0, y1 = (pl.col(c) for c in sides)
    g0, g1, h0, h1 = (pl.col(f"{c}_g") for c in sides)
    inter = (pl.min_horizontal(x1, g1) - pl.max_horizontal(x0, g0)).clip(0) * (
        pl.min_horizontal(y1, h1) - pl.max_horizontal(y0, h0)
    ).clip(0)
    union = (x1 - x0) * (y1 - y0) + (g1 - g0) * (h1 - h0) - inter
    return pairs.filter(inter / union >= 0.5)


def test_predictions_of_the_sample_are_pinned_and_complete(sample_predictions: PredictionsFile) -> None:
    p = sample_predictions
    assert (p.path.name, p.rows, p.images, p.counts) == ("validation-predictions-bbox.csv", 4000, 40, SAMPLE_COUNTS)
    assert p.path.read_text().splitlines()[0] == "ImageID,LabelName,Score,XMin,XMax,YMin,YMax"
    rows = read_predictions(p.path)
    assert rows.columns == list(DETECTION_COLUMNS) and len(rows) == p.rows == p.path.read_text().count("\n") - 1
    assert set(rows.group_by("ImageID").len().get_column("len")) == {100}  # every image gets exactly 100
    boxes = ground_truth(sample_dir(), "validation-annotations-bbox.csv")
    labels = ground_truth(sample_dir(), "validation-annotations-human-imagelabels-boxable.csv")
    assert set(rows.get_column("ImageID")) == set(boxes.get_column("ImageID")) | set(labels.get_column("ImageID"))


def test_predictions_are_valid_known_and_ordered(sample_predictions: PredictionsFile) -> None:
    rows = read_predictions(sample_predictions.path)
    boxable = {r[0] for r in csv.reader(io.StringIO((sample_dir() / "class-descriptions-boxable.csv").read_text()))}
    assert set(rows.get_column("LabelName")) <= boxable
    for lo, hi in (("XMin", "XMax"), ("YMin", "YMax")):
        assert ((rows[lo] >= 0) & (rows[lo] < rows[hi]) & (rows[hi] <= 1)).all()
    assert rows.get_column("XMin").cast(pl.String).str.contains(r"^[01]\.\d{1,6}$|^[01]$").all()
    score = rows.get_column("Score")
    assert ((score > 0) & (score < 1)).all() and score.n_unique() == len(rows)  # no ties
    assert (
        rows.group_by("ImageID", maintain_order=True).agg(pl.col("Score").diff().max() < 0).get_column("Score").all()
    )  # by score, descending, within each image
    # what the rows are by what the image says of their class: the reported kinds, give or take ancestor copies
    boxes = ground_truth(sample_dir(), "validation-annotations-bbox.csv").select("ImageID", "LabelName")
    labels = ground_truth(sample_dir(), "validation-annotations-human-imagelabels-boxable.csv")
    present = pl.concat([boxes, labels.filter(pl.col("Confidence") == 1).select("ImageID", "LabelName")]).unique()
    negative = (
        labels.filter(pl.col("Confidence") == 0)
        .select("ImageID", "LabelName")
        .join(present, on=["ImageID", "LabelName"], how="anti")
    )
    on_negative = rows.join(negative, on=["ImageID", "LabelName"], how="semi").height
    on_present = rows.join(present, on=["ImageID", "LabelName"], how="semi").height
    unverified = len(rows) - on_negative - on_present
    c = sample_predictions.counts
    derived = c["jittered"] + c["group_part"] + c["duplicate"] + c["poor"]
    assert c["fp_negative"] <= on_negative <= c["fp_negative"] + c["parent"]
    assert derived + c["fp_positive"] <= on_present <= derived + c["fp_positive"] + c["parent"]
    assert c["fp_unverified"] <= unverified <= c["fp_unverified"] + c["parent"]
    assert on_negative + on_present + unverified - sum(c.values()) == 0


def test_predictions_are_deterministic_whatever_the_chunks_and_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_predictions: PredictionsFile
) -> None:
    first = sample_predictions.path.read_bytes()
    assert write_predictions(sample_dir(), tmp_path / "again.csv", "validation").path.read_bytes() == first
    assert write_predictions(sample_dir(), tmp_path / "seed1.csv", "validation", seed=1).path.read_bytes() != first
    # images out of order in the source: read whole and sorted, the same predictions
    lines_ = (sample_dir() / "validation-annotations-bbox.csv").read_text().splitlines(keepends=True)
    blocks: dict[str, list[str]] = {}
    for line in lines_[1:]:
        blocks.setdefault(line[:16], []).append(line)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    reordered = [line for block in reversed(blocks.values()) for line in block]
    (shuffled / "validation-annotations-bbox.csv").write_text(lines_[0] + "".join(reordered))
    name = "validation-annotations-human-imagelabels-boxable.csv"
    (shuffled / name).write_bytes((sample_dir() / name).read_bytes())
    assert write_predictions(shuffled, tmp_path / "shuffled.csv", "validation").path.read_bytes() == first
    # tiny CSV batches and chunks of three images
    monkeypatch.setattr(truth, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(predictions, "PREDICTIONS_PER_CHUNK", 300)
    assert write_predictions(sample_dir(), tmp_path / "chunked.csv", "validation").path.read_bytes() == first


def test_forms_parse_back_to_the_same_predictions(tmp_path: Path, sample_predictions: PredictionsFile) -> None:
    rows = read_predictions(sample_predictions.path)
    parquet = write_predictions(sample_dir(), tmp_path, "validation", form="parquet")
    assert parquet.path.name == "validation-predictions-bbox.parquet"
    assert pl.read_parquet(parquet.path).equals(rows)
    kaggle = write_predictions(sample_dir(), tmp_path, "validation", form="kaggle")
    text_lines = kaggle.path.read_text().splitlines()
    assert text_lines[0] == "ImageId,PredictionString" and len(text_lines) == 1 + kaggle.images
    parsed = []
    for line in text_lines[1:]:
        image, predicted = line.split(",")
        tokens = predicted.split(" ")
        for k in range(0, len(tokens), 6):
            label, score, x0, y0, x1, y1 = tokens[k : k + 6]
            parsed.append((image, label, *(float(v) for v in (score, x0, x1, y0, y1))))
    assert pl.DataFrame(parsed, schema=rows.schema, orient="row").equals(rows)
    vrd = write_predictions(sample_dir(), tmp_path, "validation", kind="relationships")
    vrd_parquet = write_predictions(sample_dir(), tmp_path, "validation", kind="relationships", form="parquet")
    vrd_rows = read_predictions(vrd.path)
    assert vrd_rows.columns == list(RELATIONSHIP_COLUMNS)
    assert pl.read_parquet(vrd_parquet.path).equals(vrd_rows)
    with pytest.raises(PredictionsError, match="Kaggle form is for detection"):
        write_predictions(sample_dir(), tmp_path, "validation", kind="relationships", form="kaggle")


def test_predictions_look_like_a_detector(tmp_path: Path) -> None:
    """At scale 0.01 (416 validation images): recall, scores, duplicates and false positives as configured."""
    report = synthesize(tmp_path / "s", 0.01, only=["predictions"], splits=["validation"], progress=False)
    assert [f.name for f in report.files] == [
        "validation-annotations-bbox.csv", "oidv6-validation-annotations-vrd.csv",
        "validation-annotations-human-imagelabels-boxable.csv", "class-descriptions-boxable.csv",
        "bbox_labels_600_hierarchy.json", "oidv6-relationship-triplets.csv",
    ]  # fmt: skip
    detection, relationships = report.predictions
    assert (detection.path.name, detection.rows, relationships.path.name, relationships.rows) == (
        "validation-predictions-bbox.csv", 41_600, "validation-predictions-vrd.csv", 16_000
    )  # fmt: skip
    boxes = ground_truth(report.dest, "validation-annotations-bbox.csv").with_row_index("g")
    rows = read_predictions(detection.path).with_row_index("p")
    hits = iou_hits(rows, boxes.select("g", "ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf"))
    single = boxes.filter(pl.col("IsGroupOf") == 0)
    found = hits.filter(pl.col("IsGroupOf") == 0).get_column("g").n_unique() / len(single)
    assert 0.74 < found < 0.83  # recall 0.85, less the badly localized
    good = rows.join(hits.select("p"), on="p", how="semi").get_column("Score").mean()
    other = rows.join(hits.select("p"), on="p", how="anti").get_column("Score").mean()
    assert good > other + 0.25  # type: ignore[operator]
    c = detection.counts
    false = c["fp_negative"] + c["fp_positive"] + c["fp_unverified"]
    assert 0.26 < c["fp_negative"] / false < 0.31 and 0.18 < c["fp_positive"] / false < 0.22
    assert 0.18 < c["duplicate"] / (c["jittered"] + c["poor"]) < 0.25
    assert 0.07 < c["poor"] / (c["jittered"] + c["poor"]) < 0.13
    # relationships: true triplets found with both boxes at IoU >= 0.5, `is` boxes identical
    vrd_truth = ground_truth(report.dest, "oidv6-validation-annotations-vrd.csv").with_row_index("g")
    vrd = read_predictions(relationships.path).with_row_index("p")
    assert set(vrd.group_by("ImageID").len().get_column("len")) == {100}
    keys = [
        "g",
        "ImageID",
        "LabelName1",
        "LabelName2",
        "RelationshipLabel",
        *(c for c in vrd_truth.columns if c[-1] in "12" and c.startswith(("X", "Y"))),
    ]
    both = (
        iou_hits(vrd, vrd_truth.select(keys), "1")
        .join(iou_hits(vrd, vrd_truth.select(keys), "2").select("p", "g"), on=["p", "g"], how="semi")
        .filter(pl.col("RelationshipLabel") == pl.col("RelationshipLabel_g"))
    )
    assert 0.62 < both.get_column("g").n_unique() / len(vrd_truth) < 0.78  # relationship recall 0.7
    first_column = lambda name: {line.split(",")[0] for line in (sample_dir() / name).read_text().splitlines()}  # noqa: E731
    known = first_column("oidv6-class-descriptions.csv") | first_column("oidv6-attributes-description.csv")
    assert set(vrd["LabelName1"]) | set(vrd["LabelName2"]) <= known
    assert set(vrd["RelationshipLabel"]) <= first_column("oidv6-relationships-description.csv") | {"is"}
    is_rows = vrd.filter(pl.col("RelationshipLabel") == "is")
    assert len(is_rows) > 1000
    assert all((is_rows[f"{c}1"] == is_rows[f"{c}2"]).all() for c in ("XMin", "XMax", "YMin", "YMax"))


def test_bad_rows_and_ties_only_when_asked(tmp_path: Path) -> None:
    bad = write_predictions(sample_dir(), tmp_path / "bad.csv", "validation", bad_fraction=0.1)
    rows = read_predictions(bad.path)
    invalid = (pl.col("XMin") >= pl.col("XMax")) | (pl.col("YMin") >= pl.col("YMax")) | (pl.col("XMax") > 1)
    assert rows.filter(invalid).height == bad.counts["bad"] == 371  # of 4000
    ties = read_predictions(write_predictions(sample_dir(), tmp_path / "ties.csv", "validation", score_digits=2).path)
    assert ties.get_column("Score").n_unique() <= 101 and ties.get_column("Score").round(2).equals(ties["Score"])


def test_prediction_errors(tmp_path: Path) -> None:
    for kwargs, message in [
        ({"per_image": 0}, "per_image must be 1 or more"),
        ({"form": "xml"}, "form 'xml' is not one of"),
        ({"bad_fraction": 2.0}, r"bad_fraction must be in \[0, 1\]"),
        ({"detector": Detector(recall=1.5)}, "recall=1.5"),
        ({"split": "dev"}, "split 'dev' is not one of"),
    ]:
        with pytest.raises(PredictionsError, match=message):
            write_predictions(sample_dir(), tmp_path, **{"split": "validation", **kwargs})  # type: ignore[arg-type]
    with pytest.raises(PredictionsError, match=r"no validation-annotations-bbox\.csv"):
        write_predictions(tmp_path, tmp_path / "out", "validation")
    (tmp_path / "validation-annotations-bbox.csv").write_text("ImageID,LabelName\na,/m/01g317\n")
    with pytest.raises(PredictionsError, match="not in the official format"):
        write_predictions(tmp_path, tmp_path / "out", "validation")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_predictions_from_the_cli_and_in_the_synth_state(tmp_path: Path) -> None:
    args = ["synth", "--source", str(sample_dir()), "--dest", str(tmp_path / "p"), "--splits", "validation"]
    result = CliRunner().invoke(cli, [*args, "--form", "parquet", "--per-image", "10"])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()] == [
        ["file", "rows"], ["validation-predictions-bbox.parquet", "400"], ["validation-predictions-vrd.parquet", "50"],
    ]  # fmt: skip
    assert CliRunner().invoke(cli, [*args, "--scale", "0.1"]).exit_code == 2
    assert CliRunner().invoke(cli, ["synth", "--dest", str(tmp_path / "q")]).exit_code == 2
    dest = tmp_path / "s"
    first = synthesize(dest, 0.0001, only=["boxes", "predictions"], splits=["test"], progress=False)
    assert [p.path.name for p in first.predictions] == ["test-predictions-bbox.csv", "test-predictions-vrd.csv"]
    assert first.rows_by_table()["boxes"] == 94  # predictions are no lake table
    state = json.loads((dest / "_synth.json").read_text())
    assert state["files"]["test-predictions-bbox.csv"]["rows"] == first.predictions[0].rows
    synthesize(dest, 0.0001, only=["boxes"], splits=["test"], progress=False)  # not asked now: removed
    assert sorted(p.name for p in dest.iterdir()) == ["_synth.json", "test-annotations-bbox.csv"]


# ---------------------------------------------------------------------------- scale smoke test


@pytest.mark.slow
def test_scale_smoke_synth_then_build(synth: SynthReport, tmp_path: Path) -> None:
    """Synth at scale 0.001 → build: every lake table holds exactly the generator's rows, 0 rejects."""
    manifest = build(synth.dest, tmp_path / "lake")
    expected = synth.rows_by_table()
    assert expected == TABLE_ROWS
    for table in (t for t, schema in all_schemas().items() if not schema.is_mart):
        count = query(tmp_path / "lake", f'select count(*) as n from "{table}"').item()
        assert count == expected.get(table, 0), table
    summary = query(tmp_path / "lake", "select sum(boxes) as boxes, sum(narratives) as narratives from image_summary")
    assert summary.row(0) == (expected["boxes"], expected["narratives"])
    assert query(tmp_path / "lake", "select count(*) from rejects").item() == 0
    assert query(tmp_path / "lake", "select count(*) from mask_orphans").item() == 0  # a mask for every row
    assert not manifest["skipped"]
    assert all(s["rows_rejected"] == 0 for s in manifest["sources"])  # type: ignore[union-attr]
