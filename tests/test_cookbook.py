"""The query cookbook (docs/cookbook.md): every question's query runs on the bundled sample and gives the
answer pinned here. Pinned answers are cross-checked against the sample's source files (CSV, JSON
lines, the hierarchy JSON) read with the standard library, so a query edited into something wrong
fails and a pinned value is not merely what the views happened to return."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from pipeline.resources import sample_dir
from tests.conftest import BOX_HEADER, IMAGE_HEADER, WriteSource, build, query

COOKBOOK = Path(__file__).resolve().parents[1] / "docs" / "cookbook.md"
SPLITS = ("train", "validation", "test")
SPLIT_PREFIX = {"train": "oidv6-train", "validation": "validation", "test": "test"}
SampleLake = tuple[Path, dict[str, object]]


# --- the cookbook -----------------------------------------------------------------------------


def cookbook() -> dict[str, list[str]]:
    """Question heading (``## ``) → the ```sql blocks under it, from docs/cookbook.md."""
    questions: dict[str, list[str]] = {}
    for part in re.split(r"^## ", COOKBOOK.read_text(encoding="utf-8"), flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        assert heading.strip() not in questions, f"duplicate question: {heading}"
        questions[heading.strip()] = re.findall(r"^```sql\n(.*?)^```$", body, flags=re.M | re.S)
    return questions


QUESTIONS = cookbook()
CHECKS: dict[str, Callable[[pl.DataFrame, SampleLake], None]] = {}


def answer(heading: str) -> Callable[[Callable[[pl.DataFrame, SampleLake], None]], Callable[..., None]]:
    def register(check: Callable[[pl.DataFrame, SampleLake], None]) -> Callable[..., None]:
        CHECKS[heading] = check
        return check

    return register


def test_cookbook_shape() -> None:
    assert len(QUESTIONS) >= 14
    assert COOKBOOK.read_text(encoding="utf-8").startswith("# Query cookbook\n")
    for heading, blocks in QUESTIONS.items():
        assert len(blocks) == 1, f"{heading}: expected exactly one ```sql block, found {len(blocks)}"
        assert re.search(r"\b(SELECT|FROM|WHERE|ORDER BY|GROUP BY)\b", blocks[0]) is None, (
            f"{heading}: lowercase keywords"
        )
        assert re.search(r",\s*\bfrom\b", blocks[0]) is None, f"{heading}: no dangling comma before from"


def test_every_question_has_a_pinned_answer() -> None:
    assert set(CHECKS) == set(QUESTIONS)


@pytest.mark.parametrize("heading", list(QUESTIONS))
def test_cookbook_answer(heading: str, sample_lake: SampleLake) -> None:
    (sql,) = QUESTIONS[heading]
    result = query(sample_lake[0], sql)
    assert result.height >= 1, "a cookbook answer that is always empty teaches nothing"
    CHECKS[heading](result, sample_lake)


# --- the sample's source files, read independently of the pipeline ---------------------------


def _csv(name: str) -> list[dict[str, str]]:
    with (sample_dir() / name).open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def _by_split(pattern: str) -> list[dict[str, str]]:
    """Rows of the file of each split, each row with its split. In `pattern`, `{split}` is the split
    and `{prefix}` the split's prefix in the official names (`oidv6-train`, `validation`, `test`)."""
    return [
        {**row, "split": split}
        for split in SPLITS
        for row in _csv(pattern.format(split=split, prefix=SPLIT_PREFIX[split]))
    ]


@cache
def _boxes() -> list[dict[str, str]]:
    return _by_split("{prefix}-annotations-bbox.csv")


@cache
def _names() -> dict[str, str]:
    names = {row["LabelName"]: row["DisplayName"] for row in _csv("oidv6-class-descriptions.csv")}
    with (sample_dir() / "oidv6-attributes-description.csv").open(encoding="utf-8", newline="") as file:
        attributes = dict(csv.reader(file))
    return {**names, **attributes}


def _mid(name: str) -> str:
    (mid,) = (mid for mid, display in _names().items() if display == name)
    return mid


@cache
def _parents() -> dict[str, set[str]]:
    """Child MID → parent MIDs over Subcategory edges of the hierarchy JSON (root excluded)."""
    parents: dict[str, set[str]] = defaultdict(set)

    def walk(node: dict[str, object]) -> None:
        for child in node.get("Subcategory", []):  # type: ignore[union-attr]
            if node["LabelName"] != "/m/0bl9f":
                parents[child["LabelName"]].add(node["LabelName"])  # type: ignore[index]
            walk(child)  # type: ignore[arg-type]
        for part in node.get("Part", []):  # type: ignore[union-attr]
            walk(part)  # type: ignore[arg-type]

    walk(json.loads((sample_dir() / "bbox_labels_600_hierarchy.json").read_text()))
    return parents


def _ancestors(mid: str) -> dict[str, int]:
    """Ancestor MID → shortest distance, by breadth-first search up the Subcategory edges."""
    found: dict[str, int] = {}
    frontier, distance = {mid}, 0
    while frontier:
        distance += 1
        frontier = {parent for child in frontier for parent in _parents()[child]} - found.keys()
        found.update(dict.fromkeys(frontier, distance))
    return found


def _with_descendants(name: str) -> set[str]:
    mid = _mid(name)
    return {mid} | {child for child in list(_parents()) if mid in _ancestors(child)}


# --- pinned answers ---------------------------------------------------------------------------


@answer("Top 20 classes by boxes in train")
def _top_classes(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.row(0) == ("Person", 221, 97)
    assert result.row(4) == ("Human face", 38, 33)
    counts = Counter(_names()[row["LabelName"]] for row in _boxes() if row["split"] == "train")
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]
    assert result.select("label_name", "boxes").rows() == expected


@answer("Images with a dog and a vehicle")
def _dog_and_vehicle(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.rows() == [
        ("test", "fe3d5bfcd28b9cca", "Bicycle, Dog"),
        ("validation", "c5d5806940771cd2", "Car, Dog"),
        ("validation", "ff54d9b0c82c2b86", "Dog, Truck"),
    ]
    vehicles = _with_descendants("Vehicle")
    assert {_mid("Car"), _mid("Truck"), _mid("Bicycle"), _mid("Taxi")} <= vehicles
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in _boxes():
        if row["LabelName"] in vehicles | {_mid("Dog")}:
            found[row["split"], row["ImageID"]].add(row["LabelName"])
    expected = [
        (*image, ", ".join(sorted(_names()[mid] for mid in mids)))
        for image, mids in sorted(found.items())
        if _mid("Dog") in mids and mids & vehicles
    ]
    assert result.rows() == expected


@answer("All Animals in validation, expanded")
def _animals(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 12
    assert result.row(0)[:3] == ("5b6dc91e1fe9b665", "Dog", 3)
    animal = _mid("Animal")
    expected = Counter(
        (row["ImageID"], _names()[row["LabelName"]], _ancestors(row["LabelName"]).get(animal, 0))
        for row in _boxes()
        if row["split"] == "validation" and row["LabelName"] in _with_descendants("Animal")
    )
    assert Counter(result.select("image_id", "original_label_name", "distance").rows()) == expected


@answer("Share of group-of boxes per class")
def _group_of(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 20
    assert result.row(0) == ("Boy", 21, pytest.approx(3 / 18), 3)
    assert result.row(1) == ("Chair", 21, pytest.approx(0.15), 1)
    flags: dict[str, list[str]] = defaultdict(list)
    for row in _boxes():
        flags[_names()[row["LabelName"]]].append(row["IsGroupOf"])
    for name, boxes, share, unknown in result.rows():
        known = [flag for flag in flags[name] if flag != "-1"]
        assert (boxes, unknown) == (len(flags[name]), flags[name].count("-1")), name
        assert share == pytest.approx(known.count("1") / len(known)), name
    shares = result["group_of_share"].to_list()
    assert shares == sorted(shares, reverse=True)


@answer("Narratives mentioning 'guitar' with a Guitar box")
def _guitar(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.select("split", "image_id", "annotator_id").rows() == [
        ("train", "c2e2d58a68108c5c", 7),
        ("validation", "4a2f8d67c3bf36b0", 136),
        ("validation", "4a2f8d67c3bf36b0", 151),
    ]
    guitars = {(row["split"], row["ImageID"]) for row in _boxes() if row["LabelName"] == _mid("Guitar")}
    expected = set()
    for path in sample_dir().glob("open_images_*_localized_narratives*.jsonl"):
        split = next(split for split in SPLITS if f"_{split}" in path.name)
        for line in path.read_text(encoding="utf-8").splitlines():
            narrative = json.loads(line)
            if "guitar" in narrative["caption"].lower() and (split, narrative["image_id"]) in guitars:
                expected.add((split, narrative["image_id"], narrative["annotator_id"]))
    assert set(result.select("split", "image_id", "annotator_id").rows()) == expected


@answer("Triplets with the most zero-shot instances")
def _zero_shot(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 13
    assert result.rows()[:3] == [
        ("Coffee cup", "is", "Transparent", 2, 0),
        ("Handbag", "is", "(made of)Leather", 0, 2),
        ("Backpack", "is", "(made of)Leather", 1, 0),
    ]
    assert ("Woman", "interacts_with", "Horse", 1, 0) in result.rows()
    counts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for row in _by_split("oidv6-{split}-annotations-vrd.csv"):
        counts[row["LabelName1"], row["RelationshipLabel"], row["LabelName2"]][row["split"]] += 1
    expected = sorted(
        (
            (_names()[one], relationship, _names()[two], count["validation"], count["test"])
            for (one, relationship, two), count in counts.items()
            if count["train"] == 0
        ),
        key=lambda row: (-(row[3] + row[4]), row[0], row[1], row[2]),
    )
    assert result.rows() == expected


@answer("One image's boxes (a point lookup by image_id)")
def _point_lookup(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 10
    first = result.row(0)
    assert first[:2] == ("Boy", "xclick") and first[2] == pytest.approx(0.364063)
    assert first[6:] == (True, True, False)
    assert result.filter(pl.col("label_name") == "Human face").row(0)[6:] == (None, None, False)
    flag = {"1": True, "0": False, "-1": None}
    rows = sorted(
        (row for row in _boxes() if row["ImageID"] == "000002b66c9c498e"),
        key=lambda row: (_names()[row["LabelName"]], float(row["XMin"]), float(row["YMin"])),
    )
    expected = [
        (
            _names()[row["LabelName"]],
            row["Source"],
            *(pytest.approx(float(row[column])) for column in ("XMin", "XMax", "YMin", "YMax")),
            *(flag[row[column]] for column in ("IsOccluded", "IsTruncated", "IsGroupOf")),
        )
        for row in rows
    ]
    assert expected == result.rows()


@answer("Negative labels: images verified NOT to contain a class")
def _negatives(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 16
    assert result.row(0) == ("test", "a7c11c03c40e80f7", "verification", "Plant")
    assert Counter(result["verified_absent"]) == {"Palm tree": 6, "Tree": 6, "Plant": 4}
    palm = _mid("Palm tree")
    absent = {palm, *_ancestors(palm)}
    expected = {
        (row["split"], row["ImageID"])
        for row in _by_split("{prefix}-annotations-human-imagelabels.csv")
        if row["LabelName"] in absent and row["Confidence"] == "0"
    }
    assert set(result.select("split", "image_id").rows()) == expected
    assert result.select("split", "image_id").is_unique().all()


@answer("Images whose rotation is unknown")
def _rotation(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 36
    assert dict(Counter(result["split"])) == {"test": 6, "train": 24, "validation": 6}
    assert result.row(0)[:2] == ("test", "1e858f148cd9fece")
    files = {
        "train": "oidv6-train-images-with-labels-with-rotation.csv",
        "validation": "validation-images-with-rotation.csv",
        "test": "test-images-with-rotation.csv",
    }
    expected = sorted(
        (split, row["ImageID"], row["OriginalURL"])
        for split, name in files.items()
        for row in _csv(name)
        if row["Rotation"] in ("", "nan")
    )
    assert result.rows() == expected


@answer("Box area distribution for a class")
def _area(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.select("split", "boxes").rows() == [("test", 73), ("train", 221), ("validation", 57)]
    assert result["area_median"].to_list() == pytest.approx([0.2092006, 0.1854335, 0.2521935], rel=1e-5)
    for split, *values in result.rows():
        areas = pl.Series(
            [
                (float(row["XMax"]) - float(row["XMin"])) * (float(row["YMax"]) - float(row["YMin"]))
                for row in _boxes()
                if row["split"] == split and row["LabelName"] == _mid("Person")
            ]
        )
        quantiles = [areas.quantile(q, interpolation="linear") for q in (0.05, 0.25, 0.5, 0.75, 0.95)]
        assert values == pytest.approx([len(areas), *quantiles, areas.mean()], rel=1e-5), split


@answer("Masks with their clicks unnested")
def _clicks(result: pl.DataFrame, _: SampleLake) -> None:
    masks = _by_split("{split}-annotations-object-segmentation.csv")
    clicks = {row["MaskPath"]: [click.split() for click in row["Clicks"].split(";") if click] for row in masks}
    assert result.height == 483 == sum(len(points) for points in clicks.values())
    assert result["mask_path"].n_unique() == 47  # 50 masks, 3 with no clicks
    assert result.row(0) == (
        "0000000000000000_m01940j_cf632ed4.png", "Backpack", 1, pytest.approx(0.55266), pytest.approx(0.88706), False,
    )  # fmt: skip
    for path, points in clicks.items():
        rows = result.filter(pl.col("mask_path") == path).select("click_no", "x", "y", "positive").rows()
        expected = [(n, float(x), float(y), label == "1") for n, (x, y, label) in enumerate(points, start=1)]
        assert rows == [(n, pytest.approx(x), pytest.approx(y), positive) for n, x, y, positive in expected], path


@answer("Classes with several parents in the hierarchy")
def _several_parents(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 45
    assert result.row(0) == ("Cookie", 3, "Baked goods, Dessert, Snack")
    assert result.row(1) == ("Axe", 2, "Tool, Weapon")
    expected = sorted(
        (
            (_names()[child], len(parents), ", ".join(sorted(_names()[parent] for parent in parents)))
            for child, parents in _parents().items()
            if len(parents) > 1
        ),
        key=lambda row: (-row[1], row[0]),
    )
    assert result.rows() == expected


@answer("Rows rejected by the build")
def _rejects(result: pl.DataFrame, sample: SampleLake) -> None:
    assert result.rows() == [(None, 0, None, None)]
    assert sum(source["rows_rejected"] for source in sample[1]["sources"]) == 0  # type: ignore[union-attr]


def test_rejects_answer_on_a_lake_with_rejects(write_source: WriteSource, tmp_path: Path) -> None:
    """The sample builds clean, so the rejects question is also asked of a lake that has rejects
    (on the same line numbers in two files, so the total row's tie-break is exercised)."""
    (sql,) = QUESTIONS["Rows rejected by the build"]
    box = "0000000000000001,xclick,/m/01g317,1,0.1,0.2,0.3,0.4,0,0,0,0,0"
    image = '0000000000000001,test,u,l,c,a,"Doe, J",t,12,md5,,0.0'
    source = write_source(
        {
            "validation-annotations-bbox.csv": "\n".join(
                [BOX_HEADER, "junk", box.replace(",1,", ",x,", 1), "0000000000000002,x", box, ""]
            ),
            "test-images-with-rotation.csv": "\n".join([IMAGE_HEADER, image, image.replace(",12,", ",big,"), ""]),
        }
    )
    build(source, tmp_path / "lake", max_rejects=10)
    assert query(tmp_path / "lake", sql).rows() == [
        (None, 4, 2, "expected 13 fields, found 1"),
        ("test-images-with-rotation.csv", 1, 3, "OriginalSize: expected an integer, found 'big'"),
        ("validation-annotations-bbox.csv", 3, 2, "expected 13 fields, found 1"),
    ]


@answer("Vehicles including cars and trucks per split")
def _vehicles(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.rows() == [("test", 15), ("train", 24), ("validation", 9)]
    vehicles = _with_descendants("Vehicle")
    assert {_mid("Car"), _mid("Truck"), _mid("Bicycle")} <= vehicles
    expected = Counter(row["split"] for row in _boxes() if row["LabelName"] in vehicles)
    assert dict(result.rows()) == expected


@answer("Images with the most boxes")
def _busiest(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 10
    assert result.row(0) == ("train", "b2eb14e0a87eddf0", 15, 12, 0, 3, 0)
    assert result.row(1) == ("test", "4620fb032b2e358f", 15, 8, 1, 0, 0)
    per_image: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in _boxes():
        per_image[row["split"], row["ImageID"]].append(row["LabelName"])
    for split, image_id, boxes, classes, *_ in result.rows():
        assert (boxes, classes) == (len(per_image[split, image_id]), len(set(per_image[split, image_id])))
    top = sorted(((len(labels), len(set(labels))) for labels in per_image.values()), reverse=True)[:10]
    assert result.select("boxes", "classes").rows() == top


@answer("Machine labels that humans verified as absent")
def _machine_vs_human(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 13
    assert result.row(0) == ("validation", "0d5f0224b2382567", "Horse", pytest.approx(0.93), "verification")
    negatives = {
        (row["split"], row["ImageID"], row["LabelName"]): row["Source"]
        for row in _by_split("{prefix}-annotations-human-imagelabels.csv")
        if row["Confidence"] == "0"
    }
    machine = _by_split("{split}-annotations-machine-imagelabels.csv")
    expected = sorted(
        (
            (row["split"], row["ImageID"], _names()[row["LabelName"]], float(row["Confidence"]), source)
            for row in machine
            if (source := negatives.get((row["split"], row["ImageID"], row["LabelName"])))
        ),
        key=lambda row: (-row[3], row[0], row[1], row[2]),
    )
    assert [(*row[:3], pytest.approx(row[3]), row[4]) for row in expected] == result.rows()


@answer("Classes boxed in train but never in validation")
def _train_only(result: pl.DataFrame, _: SampleLake) -> None:
    assert result.height == 41
    assert result.rows()[:2] == [("Human hand", 15), ("Glasses", 10)]
    counts = {split: Counter(row["LabelName"] for row in _boxes() if row["split"] == split) for split in SPLITS}
    expected = sorted(
        ((_names()[mid], boxes) for mid, boxes in counts["train"].items() if mid not in counts["validation"]),
        key=lambda row: (-row[1], row[0]),
    )
    assert result.rows() == expected
