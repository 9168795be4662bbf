"""pipeline/query/mask_export.py and `oilake masks export`: COCO instance-segmentation JSON (RLE) and PNGs.

The lake is tests/test_query_masks.py's: five genuine masks, one image with masks on two grids, an empty mask.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pipeline.cli import cli
from pipeline.core.errors import MaskSelectionError
from pipeline.masks import png
from pipeline.query import mask_export
from pipeline.query.api import Lake, open_lake
from pipeline.query.mask_export import read_image_sizes
from pipeline.query.masks import MaskSelection, resize_nearest
from tests.conftest import build
from tests.test_query_masks import (
    EMPTY,
    GENUINE,
    LARGE,
    MASKS,
    SMALL,
    TWO_GRIDS,
    expected_pixels,
    write_mask_source,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

DOG_A, DOG_B = "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png", "00b20c960e6e82c2_m0bt9lr_a9038ca9.png"


@pytest.fixture(scope="module")
def mask_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mask_export")
    build(write_mask_source(root / "source"), root / "lake")
    return root / "lake"


@pytest.fixture
def lake(mask_lake: Path) -> Lake:
    with open_lake(mask_lake) as opened:
        yield opened


def _export(lake: Lake, tmp_path: Path, selection: MaskSelection | None = None, **options: Any) -> dict[str, Any]:
    out = tmp_path / "coco.json"
    lake.export_masks(out, selection, **options)
    return json.loads(out.read_text(encoding="utf-8"))


def _coco(path: Path) -> Any:
    from pycocotools.coco import COCO

    return COCO(str(path))


def test_coco_json_loads_in_pycocotools_and_its_masks_are_the_pngs(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    written = lake.export_masks(out)
    assert written == mask_export.MaskExport(images=7, annotations=8, categories=300, resized=1, pngs=0)
    coco = _coco(out)
    assert sorted(coco.dataset) == ["annotations", "categories", "images", "info"]
    by_path = {a["mask_path"]: a for a in coco.dataset["annotations"]}
    for path in GENUINE:
        annotation = by_path[path]
        image = coco.imgs[annotation["image_id"]]
        assert np.array_equal(coco.annToMask(annotation).astype(bool), expected_pixels(path)), path
        (width, height), area, (x0, y0, x1, y1) = GENUINE[path]
        assert (image["width"], image["height"]) == (width, height)
        assert annotation["area"] == area and annotation["bbox"] == [x0, y0, x1 - x0, y1 - y0]
        assert annotation["segmentation"]["size"] == [height, width] and not annotation["resized"]
        assert (image["open_images_id"], image["split"], image["file_name"]) == (
            path[:16], "validation", f"{path[:16]}.jpg"
        )  # fmt: skip
    assert by_path[EMPTY]["area"] == 0 and by_path[EMPTY]["bbox"] == [0, 0, 0, 0]
    assert [a["iscrowd"] for a in coco.dataset["annotations"]] == [0] * 8
    assert [a["id"] for a in coco.dataset["annotations"]] == list(range(1, 9))
    # lake order: train's image, then validation's by ImageID; an image's masks by mask_path
    assert [a["mask_path"] for a in coco.dataset["annotations"]] == [EMPTY, *sorted(GENUINE), SMALL, LARGE]
    assert [i["id"] for i in coco.dataset["images"]] == list(range(1, 8))


def test_an_image_with_masks_on_two_grids_gets_the_larger(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "two.json"
    lake.export_masks(out, MaskSelection(image_ids=[TWO_GRIDS]))
    coco = _coco(out)
    (image,) = coco.dataset["images"]
    assert (image["width"], image["height"]) == (120, 80)
    small, large = coco.dataset["annotations"]
    assert (small["mask_path"], small["resized"], small["mask_width"], small["mask_height"]) == (SMALL, True, 60, 40)
    assert (large["mask_path"], large["resized"]) == (LARGE, False)
    doubled = np.kron(expected_pixels(SMALL), np.ones((2, 2), bool))  # 2x nearest neighbour is pixel doubling
    assert np.array_equal(coco.annToMask(small).astype(bool), doubled)
    assert np.array_equal(coco.annToMask(small).astype(bool), resize_nearest(expected_pixels(SMALL), (80, 120)))
    assert small["area"] == 15 * 21 * 4 and small["bbox"] == [20, 10, 42, 30]
    assert np.array_equal(coco.annToMask(large).astype(bool), expected_pixels(LARGE))


def test_category_ids_are_stable_and_classes_take_descendants(lake: Lake, tmp_path: Path) -> None:
    everything = _export(lake, tmp_path)
    ids = {c["mid"]: c["id"] for c in everything["categories"]}
    assert len(ids) == 300 and sorted(ids) == [c["mid"] for c in everything["categories"]]
    assert list(ids.values()) == list(range(1, 301))
    dogs = _export(lake, tmp_path, MaskSelection(classes=["Carnivore"], include_descendants=True))
    # the categories are the selected classes (segmentable), with or without masks, under their stable ids
    carnivores = lake.sql(
        "select distinct label_mid from class_mids(['Carnivore'], include_descendants := true) "
        "join classes using (label_mid) where is_segmentable order by label_mid"
    )["label_mid"].to_list()
    assert len(carnivores) == 16 and [c["mid"] for c in dogs["categories"]] == carnivores
    assert [c["id"] for c in dogs["categories"]] == [ids[mid] for mid in carnivores]
    names = {c["name"] for c in dogs["categories"]}
    assert {"Carnivore", "Dog", "Cat", "Teddy bear"} <= names
    assert {"id": ids["/m/0bt9lr"], "name": "Dog", "supercategory": "", "mid": "/m/0bt9lr"} in dogs["categories"]
    assert [a["mask_path"] for a in dogs["annotations"]] == [DOG_A, DOG_B, LARGE]
    assert {a["category_id"] for a in dogs["annotations"]} == {ids["/m/0bt9lr"]}
    # the image of the Dog disc has only it selected: its grid is the disc's, nothing resized
    assert [(i["open_images_id"], i["width"], i["height"]) for i in dogs["images"]] == [
        ("00a1ab47b5439e8c", 1600, 1066), ("00b20c960e6e82c2", 1600, 1200), (TWO_GRIDS, 120, 80),
    ]  # fmt: skip
    only = _export(lake, tmp_path, MaskSelection(classes=["Carnivore"]))
    assert (
        only["annotations"] == [] and only["images"] == [] and [c["name"] for c in only["categories"]] == ["Carnivore"]
    )
    food = _export(lake, tmp_path, MaskSelection(classes=["Food"], include_descendants=True, split="validation"))
    food_names = {c["name"] for c in food["categories"]}
    assert len(food_names) == 46 and {"Pizza", "Apple"} <= food_names and "Food" not in food_names  # not segmentable
    assert [a["mask_path"] for a in food["annotations"]] == sorted(p for p in GENUINE if "m0663v" in p)


def test_split_image_ids_where_and_limit(lake: Lake, tmp_path: Path) -> None:
    def paths(**selection: Any) -> list[str]:
        return [a["mask_path"] for a in _export(lake, tmp_path, MaskSelection(**selection))["annotations"]]

    assert paths(split="train") == [EMPTY]
    assert paths(split="test") == []
    assert paths(image_ids=["000bd0b4fa27644c", TWO_GRIDS]) == ["000bd0b4fa27644c_m0pg52_5c80344b.png", SMALL, LARGE]
    assert paths(where="area between 1 and 10000") == ["00dc0baf74f95e45_m0663v_12e4ba7e.png", SMALL, LARGE]
    assert paths(limit=3) == [EMPTY, *sorted(GENUINE)[:2]]
    assert paths(split="validation", limit=6) == [*sorted(GENUINE), SMALL]
    limited = _export(lake, tmp_path, MaskSelection(split="validation", limit=6))
    assert limited["images"][-1]["open_images_id"] == TWO_GRIDS
    assert (limited["images"][-1]["width"], limited["annotations"][-1]["resized"]) == (60, False)  # LARGE is cut off
    assert limited["info"]["selection"]["limit"] == 6 and limited["info"]["release"] == Path(str(lake.release)).name


def test_image_sizes_put_masks_on_the_image_grid(lake: Lake, tmp_path: Path) -> None:
    sizes_csv = tmp_path / "sizes.csv"
    sizes_csv.write_text(f"ImageID,Width,Height,Note\n{TWO_GRIDS.upper()},30,20,x\n000bd0b4fa27644c,1024,768,y\n")
    sizes = read_image_sizes(sizes_csv)
    assert sizes == {TWO_GRIDS: (20, 30), "000bd0b4fa27644c": (768, 1024)}
    out = tmp_path / "sized.json"
    lake.export_masks(out, MaskSelection(image_ids=[TWO_GRIDS, "000bd0b4fa27644c"]), image_sizes=sizes)
    coco = _coco(out)
    assert [(i["width"], i["height"]) for i in coco.dataset["images"]] == [(1024, 768), (30, 20)]
    assert [a["resized"] for a in coco.dataset["annotations"]] == [True, True, True]
    for annotation in coco.dataset["annotations"]:
        image = coco.imgs[annotation["image_id"]]
        expected = resize_nearest(expected_pixels(annotation["mask_path"]), (image["height"], image["width"]))
        assert np.array_equal(coco.annToMask(annotation).astype(bool), expected)
    with pytest.raises(
        MaskSelectionError, match=r"no size for 2 of the 2 selected image\(s\): 00a1ab47b5439e8c, 00b20c960e6e82c2$"
    ):
        lake.export_masks(tmp_path / "x.json", MaskSelection(classes=["Dog"], limit=2), image_sizes=sizes)
    assert not (tmp_path / "x.json").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageID,Width\nab,3\n")
    with pytest.raises(MaskSelectionError, match=r"no column\(s\) height"):
        read_image_sizes(bad)
    bad.write_text("ImageID,Width,Height\nab,3,-1\n")
    with pytest.raises(MaskSelectionError, match=r"line 2: '3' x '-1' is not a size"):
        read_image_sizes(bad)


def test_png_export_round_trips(lake: Lake, tmp_path: Path) -> None:
    out, folder = tmp_path / "coco.json", tmp_path / "pngs"
    written = lake.export_masks(out, png_dir=folder)
    assert written.pngs == 8 and sorted(p.name for p in folder.iterdir()) == sorted([*GENUINE, SMALL, LARGE, EMPTY])
    coco = _coco(out)
    for annotation in coco.dataset["annotations"]:
        data = (folder / annotation["mask_path"]).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            assert (image.mode, image.format) == ("1", "PNG")
            pillow = np.array(image).astype(bool)
        assert np.array_equal(png.decode_mask(data), pillow)
        assert np.array_equal(pillow, coco.annToMask(annotation).astype(bool)), annotation["mask_path"]
    assert np.array_equal(
        png.decode_mask((folder / SMALL).read_bytes()), resize_nearest(expected_pixels(SMALL), (80, 120))
    )
    for path in GENUINE:  # written as the release writes them: the very bytes of the archive's members
        assert (folder / path).read_bytes() == (MASKS / path).read_bytes(), path


def test_the_json_is_written_as_it_streams(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Annotations leave a batch at a time (one per batch of one row), and the result does not depend on batches."""
    whole = io.BytesIO()
    lake.export_masks(whole)
    writes: list[bytes] = []

    class Recorder(io.BytesIO):
        def write(self, data: Any) -> int:
            writes.append(bytes(data))
            return super().write(data)

    monkeypatch.setattr(mask_export, "ROWS_PER_BATCH", 1)
    streamed = Recorder()
    lake.export_masks(streamed)
    assert streamed.getvalue() == whole.getvalue()
    assert sum(b'"mask_path"' in w for w in writes) == 8  # one write per annotation
    assert whole.getvalue().count(b"\n") == 1 + (300 + 1) + 1 + (7 + 1) + 1 + (8 + 1) + 1  # one item a line


def test_a_lake_without_mask_pixels_is_refused(small_lake: tuple[Path, Path], tmp_path: Path) -> None:
    with open_lake(small_lake[1]) as opened, pytest.raises(MaskSelectionError, match="holds no mask pixels") as caught:
        opened.export_masks(tmp_path / "none.json")
    assert "<split>-masks-<h>.zip" in caught.value.hint and not (tmp_path / "none.json").exists()


# --- the command ----------------------------------------------------------------------------------


def test_cli_help_has_examples() -> None:
    for args in (["masks", "-h"], ["masks", "export", "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Usage: oilake {' '.join(args[:-1])} ")
        examples = result.stdout.split("Examples:\n")[1].split()
        assert "--include-descendants" in examples and "oilake" in examples
    export = CliRunner().invoke(cli, ["masks", "export", "-h"]).stdout
    for option in ("--png-dir", "--classes", "--split", "--image-ids", "--where", "--limit", "--image-sizes"):
        assert option in export


def test_cli_export_writes_the_file_and_pngs(mask_lake: Path, tmp_path: Path) -> None:
    out, folder = tmp_path / "dogs.json", tmp_path / "pngs"
    result = CliRunner().invoke(
        cli,
        ["masks", "export", "--lake", str(mask_lake), "--classes", "Animal", "--include-descendants",
         "--split", "validation", "--output", str(out), "--png-dir", str(folder)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == f"3 mask(s) of 3 image(s), 70 categories, 0 resized, 3 PNG(s) in {folder}\n"
    assert [a["mask_path"] for a in json.loads(out.read_text())["annotations"]] == [DOG_A, DOG_B, LARGE]
    assert sorted(p.name for p in folder.iterdir()) == [DOG_A, DOG_B, LARGE]
    stdout = CliRunner().invoke(cli, ["masks", "export", "--lake", str(mask_lake), "--image-ids", TWO_GRIDS])
    assert stdout.exit_code == 0 and [a["mask_path"] for a in json.loads(stdout.stdout)["annotations"]] == [
        SMALL,
        LARGE,
    ]
    assert stdout.stderr == "2 mask(s) of 1 image(s), 300 categories, 1 resized\n"


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (["--classes", "Dgo"], 'error: unknown class name(s): "Dgo" (closest: Go, Dingo, Dango)', "display names"),
        (["--where", "no_such_column > 1"], "error: --where: Binder Error", "columns of mask_pixels"),
        (["--image-ids", "xyz"], "error: 'xyz' is not an ImageID", "16 hex digits"),
        (["--output", "/nonexistent/dir/out.json"], "error: --output /nonexistent/dir/out.json: the folder", "mkdir"),
        (
            ["--where", "mask_path in (select * from read_text('/etc/hostname'))"],
            "error:",
            "read the lake's tables only",
        ),
    ],
)
def test_cli_errors_are_named_with_a_hint(mask_lake: Path, args: list[str], error: str, hint: str) -> None:
    result = CliRunner().invoke(cli, ["masks", "export", "--lake", str(mask_lake), *args])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(error), result.stderr
    assert "Traceback" not in result.stderr
    hint_line = next(line for line in result.stderr.splitlines() if line.startswith("hint: "))
    assert hint in hint_line


def test_cli_on_a_lake_without_masks(small_lake: tuple[Path, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["masks", "export", "--lake", str(small_lake[1]), "--output", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "error: the lake holds no mask pixels: nothing to export"


def test_a_where_that_changes_between_runs_is_a_named_error(mask_lake: Path, tmp_path: Path) -> None:
    """The images are listed, then their masks streamed: a random() condition selects other rows each time."""
    output = tmp_path / "sample.json"
    args = ["masks", "export", "--lake", str(mask_lake), "--where", "random() < 0.5", "--output", str(output)]
    outcomes = set()
    for _ in range(12):  # the two runs of the condition agree now and then; at least one run must not
        output.unlink(missing_ok=True)
        result = CliRunner().invoke(cli, args)
        assert "Traceback" not in result.output
        if result.exit_code:
            assert result.stderr.startswith("error: the selection changed while it was exported"), result.stderr
            assert "hint: --where must give the same rows each time it runs" in result.stderr
            assert not output.exists()
        outcomes.add(result.exit_code)
    assert 1 in outcomes
