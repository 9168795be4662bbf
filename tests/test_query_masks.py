"""pipeline/query/masks.py and Lake.mask/masks/iter_masks: mask pixels as arrays, from a lake built with archives.

The lake (``mask_lake``) is built by ``oilake build`` from the five genuine mask PNGs (tests/data/masks) in
``validation-masks-0.zip``, two made masks of one image on two grids in ``validation-masks-1.zip`` and an
empty train mask in ``train-masks-f.zip``, with their segmentation rows and the sample's class files.
"""

from __future__ import annotations

import io
import math
import shutil
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from pipeline.core.errors import MaskNotFoundError, MaskSelectionError
from pipeline.masks import png
from pipeline.query.api import Lake, open_lake
from pipeline.query.labels import UnknownClassError
from pipeline.query.masks import decode, decode_rows, nearest_indices, resize_nearest
from pipeline.resources import sample_dir
from tests.conftest import build
from tests.test_masks import GENUINE, MASKS  # the genuine masks and their measured size, area and box

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

TWO_GRIDS = "1111111111111111"  # one image, a Person mask on 60x40 and a Dog mask on 120x80
SMALL = "1111111111111111_m01g317_0000000a.png"
LARGE = "1111111111111111_m0bt9lr_0000000b.png"
EMPTY = "ffffffffffffffff_m0pg52_0000000c.png"  # train, no pixel set
CLASS_FILES = ("oidv6-class-descriptions.csv", "bbox_labels_600_hierarchy.json", "classes-segmentation.txt")
HEADER = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks\n"


def made_masks() -> dict[str, np.ndarray]:
    """The three made masks: a rectangle (40 x 60), a disc (80 x 120) and an empty one (24 x 32)."""
    small = np.zeros((40, 60), np.bool_)
    small[5:20, 10:31] = True
    rows, cols = np.ogrid[:80, :120]
    large = (rows - 40) ** 2 + (cols - 70) ** 2 <= 25**2
    return {SMALL: small, LARGE: large, EMPTY: np.zeros((24, 32), np.bool_)}


def png_bytes(mask: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(mask).save(out, "PNG")  # mode "1": a 1-bit grayscale PNG
    return out.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2019, 1, 1, 0, 0, 0)), data)


def _row(path: str) -> str:
    image_id, mid, box_id = path[:16], path[17:-13], path[-12:-4]
    return f"{path},{image_id},/{mid[0]}/{mid[1:]},{box_id},0.1,0.9,0.2,0.8,0.9,\n"


def write_mask_source(folder: Path) -> Path:
    """The source folder of ``mask_lake`` (see the module's docstring)."""
    folder.mkdir(parents=True)
    for name in CLASS_FILES:
        shutil.copy(sample_dir() / name, folder / name)
    made = {name: png_bytes(mask) for name, mask in made_masks().items()}
    validation = [*GENUINE, SMALL, LARGE]
    (folder / "validation-annotations-object-segmentation.csv").write_text(HEADER + "".join(map(_row, validation)))
    (folder / "train-annotations-object-segmentation.csv").write_text(HEADER + _row(EMPTY))
    _zip(folder / "validation-masks-0.zip", {name: (MASKS / name).read_bytes() for name in GENUINE})
    _zip(folder / "validation-masks-1.zip", {SMALL: made[SMALL], LARGE: made[LARGE]})
    _zip(folder / "train-masks-f.zip", {EMPTY: made[EMPTY]})
    return folder


def expected_pixels(path: str) -> np.ndarray:
    """The PNG's pixels, read by Pillow (the genuine files, or the made masks)."""
    if path in GENUINE:
        return np.array(Image.open(MASKS / path)).astype(bool)
    return made_masks()[path]


@pytest.fixture(scope="module")
def mask_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mask_lake")
    build(write_mask_source(root / "source"), root / "lake")
    return root / "lake"


@pytest.fixture
def lake(mask_lake: Path) -> Lake:
    with open_lake(mask_lake) as opened:
        yield opened


# --- one mask -----------------------------------------------------------------------------------


def test_mask_is_the_png_and_pycocotools_decode(lake: Lake) -> None:
    from pycocotools import mask as coco

    rows = lake.sql("select mask_path, mask_width, mask_height, rle_counts from mask_pixels order by mask_path")
    assert rows.height == 8
    for path, width, height, counts in rows.iter_rows():
        mask = lake.mask(path)
        assert mask.dtype == np.bool_ and mask.shape == (height, width) and mask.flags.c_contiguous
        assert np.array_equal(mask, expected_pixels(path)), path
        assert np.array_equal(mask, coco.decode({"size": [height, width], "counts": counts}).astype(bool)), path
        if path in GENUINE:
            assert np.array_equal(mask, png.decode_mask((MASKS / path).read_bytes()))
            (size, area, (x0, y0, x1, y1)) = GENUINE[path]
            assert (width, height) == size and int(mask.sum()) == area
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)


def test_mask_of_a_split(lake: Lake) -> None:
    assert lake.mask(EMPTY, split="train").shape == (24, 32) and not lake.mask(EMPTY).any()
    with pytest.raises(MaskNotFoundError, match=r"1 mask path\(s\) not in the lake in split validation: ffff"):
        lake.mask(EMPTY, split="validation")


def test_nearest_neighbour_rule_is_pixel_centres() -> None:
    assert nearest_indices(4, 2).tolist() == [1, 3]
    assert nearest_indices(3, 5).tolist() == [0, 0, 1, 2, 2]
    assert nearest_indices(1600, 4).tolist() == [200, 600, 1000, 1400]
    assert nearest_indices(5, 5).tolist() == [0, 1, 2, 3, 4]
    mask = np.arange(12).reshape(3, 4) % 5 == 0  # [[T F F F] [F T F F] [F F T F]]
    assert resize_nearest(mask, (6, 2)).tolist() == [[False, False]] * 2 + [[True, False]] * 2 + [[False, False]] * 2
    assert resize_nearest(mask, (3, 8)).astype(int).tolist() == [
        [1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0],
    ]  # fmt: skip


def test_nearest_indices_are_exact_at_ties() -> None:
    """Where ``(i + 0.5) * source / target`` is a whole number (1200 → 1500 at i = 2, 7, ...), no rounding down."""
    for source, target in [(1200, 1500), (1600, 2000), (1200, 97), (533, 1066), (7, 3), (1066, 1600)]:
        exact = [math.floor(Fraction(2 * i + 1, 2) * source / target) for i in range(target)]
        assert nearest_indices(source, target).tolist() == exact, (source, target)
    assert nearest_indices(1200, 1500)[:8].tolist() == [0, 1, 2, 2, 3, 4, 5, 6]


# sizes without ties (see above), where Pillow's floating-point steps give the same source pixels
@pytest.mark.parametrize("size", [(768, 1024), (300, 400), (1600, 2048), (97, 61), (1, 1)])
def test_resized_masks_equal_pillow_nearest(lake: Lake, size: tuple[int, int]) -> None:
    for path in ("00b20c960e6e82c2_m0bt9lr_a9038ca9.png", "00dc0baf74f95e45_m0663v_12e4ba7e.png"):
        height, width = size
        expected = np.array(Image.open(MASKS / path).resize((width, height), Image.Resampling.NEAREST)).astype(bool)
        resized = lake.mask(path, size=size)
        assert resized.shape == size and resized.flags.c_contiguous
        assert np.array_equal(resized, expected), (path, size)
        assert np.array_equal(resized, resize_nearest(lake.mask(path), size))


def test_decode_writes_into_out() -> None:
    counts = "252"  # [2, 5, 2] on 3 x 3: tests/test_masks.py's pinned mask
    out = np.ones((3, 3), np.bool_)
    assert decode(counts, 3, 3, out=out) is out
    assert out.astype(int).tolist() == [[0, 1, 1], [0, 1, 0], [1, 1, 0]]


# --- many masks ---------------------------------------------------------------------------------


def test_masks_come_in_the_order_asked_with_their_rows(lake: Lake) -> None:
    paths = [LARGE, "000bd0b4fa27644c_m0pg52_5c80344b.png", LARGE, EMPTY]
    batch = lake.masks(paths)
    assert len(batch) == 4 and batch.rows["mask_path"].to_list() == paths
    assert batch.rows["label_name"].to_list() == ["Dog", "Taxi", "Dog", "Taxi"]
    assert batch.rows["split"].to_list() == ["validation", "validation", "validation", "train"]
    assert [a.shape for a in batch.arrays] == [(80, 120), (960, 1280), (80, 120), (24, 32)]
    assert all(np.array_equal(a, expected_pixels(p)) for a, p in zip(batch.arrays, paths, strict=True))
    with pytest.raises(MaskSelectionError, match=r"on 3 grids \(24x32, 80x120, 960x1280\)") as caught:
        batch.stack()
    assert "size=(height, width)" in caught.value.hint
    stacked = lake.masks(paths, size=(48, 64)).stack()
    assert stacked.shape == (4, 48, 64) and stacked.dtype == np.bool_
    assert np.array_equal(stacked[1], resize_nearest(expected_pixels(paths[1]), (48, 64)))


def test_sizes_by_image_id(lake: Lake) -> None:
    batch = lake.masks([SMALL, LARGE, EMPTY], size={TWO_GRIDS: (80, 120), EMPTY[:16]: (12, 16)})
    assert [a.shape for a in batch.arrays] == [(80, 120), (80, 120), (12, 16)]
    assert np.array_equal(batch.arrays[0], np.kron(made_masks()[SMALL], np.ones((2, 2), bool)))
    assert batch.stack is not None and batch.block is None
    with pytest.raises(MaskSelectionError, match=r"no size for 1 image\(s\): ffffffffffffffff"):
        lake.masks([SMALL, EMPTY], size={TWO_GRIDS: (80, 120)})


def test_missing_paths_are_named_with_the_image_masks_as_hint(lake: Lake) -> None:
    with pytest.raises(MaskNotFoundError) as caught:
        lake.masks([LARGE, "1111111111111111_m0bt9lr_0000000f.png", "2222222222222222_m0bt9lr_0000000f.png"])
    assert str(caught.value) == (
        "2 mask path(s) not in the lake: 1111111111111111_m0bt9lr_0000000f.png, 2222222222222222_m0bt9lr_0000000f.png"
    )
    assert caught.value.hint == f"image 1111111111111111 has these masks: {SMALL} (validation), {LARGE} (validation)"
    with pytest.raises(MaskNotFoundError, match=r"'Dog.png' is not a mask path: too short") as bad:
        lake.mask("Dog.png")
    assert "<ImageID>_<MID without slashes>_<BoxID>.png" in bad.value.hint


def test_a_lake_without_mask_pixels_says_so(small_lake: tuple[Path, Path]) -> None:
    with open_lake(small_lake[1]) as opened, pytest.raises(MaskNotFoundError) as caught:
        opened.mask("0000000000000000_m01940j_cf632ed4.png")
    assert "holds no mask pixels" in caught.value.hint and "<split>-masks-<h>.zip" in caught.value.hint


def _paths(lake: Lake, **selection: object) -> list[str]:
    return [p for batch in lake.iter_masks(**selection) for p in batch.rows["mask_path"].to_list()]  # type: ignore[arg-type]


def test_iter_masks_selections(lake: Lake) -> None:
    assert _paths(lake) == [EMPTY, *sorted(GENUINE), SMALL, LARGE]  # split, ImageID, mask_path
    assert _paths(lake, split="train") == [EMPTY]
    assert _paths(lake, classes=["Dog"]) == [
        "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png", "00b20c960e6e82c2_m0bt9lr_a9038ca9.png", LARGE,
    ]  # fmt: skip
    assert _paths(lake, classes=["Carnivore"]) == []
    assert _paths(lake, classes=["Carnivore"], include_descendants=True) == _paths(lake, classes=["Dog"])
    assert _paths(lake, classes=["Animal"], include_descendants=True) == _paths(lake, classes=["Dog"])
    assert sorted(_paths(lake, classes=["Vehicle", "Food"], include_descendants=True)) == [
        "000bd0b4fa27644c_m0pg52_5c80344b.png", "000cc62f167d9fa4_m0663v_37f318a2.png",
        "00dc0baf74f95e45_m0663v_12e4ba7e.png", EMPTY,
    ]  # fmt: skip
    assert _paths(lake, image_ids=[TWO_GRIDS, "000BD0B4FA27644C"]) == [
        "000bd0b4fa27644c_m0pg52_5c80344b.png",
        SMALL,
        LARGE,
    ]
    assert _paths(lake, where="area > 100000") == [
        "000cc62f167d9fa4_m0663v_37f318a2.png", "00b20c960e6e82c2_m0bt9lr_a9038ca9.png",
    ]  # fmt: skip
    assert _paths(lake, split="validation", limit=2) == sorted(GENUINE)[:2]
    assert _paths(lake, limit=1) == [EMPTY]  # lake order: split (test, train, validation), ImageID, mask_path
    assert _paths(lake, limit=100) == _paths(lake)


def test_iter_masks_batches(lake: Lake) -> None:
    batches = list(lake.iter_masks(split="validation", batch_size=3, size=(10, 15)))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [b.stack().shape for b in batches] == [(3, 10, 15), (3, 10, 15), (1, 10, 15)]
    paths = [p for b in batches for p in b.rows["mask_path"].to_list()]
    assert paths == _paths(lake, split="validation") and len(paths) == 7
    for batch in batches:
        for path, mask in zip(batch.rows["mask_path"].to_list(), batch.arrays, strict=True):
            assert np.array_equal(mask, resize_nearest(expected_pixels(path), (10, 15)))
    assert batches[0].rows.columns[:6] == ["split", "image_id", "image_id_u64", "mask_path", "label_mid", "label_name"]


def test_the_lake_answers_queries_while_masks_stream(lake: Lake) -> None:
    """The stream reads through its own connection: queries in the loop, and after leaving it early, work."""
    seen = []
    for batch in lake.iter_masks(split="validation", batch_size=2):
        (path,) = batch.rows["mask_path"].to_list()[:1]
        seen.append((path, lake.mask(path).shape, lake.sql("select count(*) as n from mask_pixels")["n"].item()))
    assert [n for *_, n in seen] == [8, 8, 8, 8] and seen[0][:2] == (
        "000bd0b4fa27644c_m0pg52_5c80344b.png",
        (960, 1280),
    )
    stream = lake.iter_masks(batch_size=1)
    next(stream)
    stream.close()
    assert lake.masks([LARGE]).rows["label_name"].to_list() == ["Dog"]


def test_selection_errors(lake: Lake) -> None:
    with pytest.raises(UnknownClassError, match=r'"Dgo" \(closest: Go, Dingo, Dango\)'):
        lake.iter_masks(classes=["Dgo"])  # when asked, not when the first batch is taken
    with pytest.raises(MaskSelectionError, match=r"unknown split 'val'"):
        lake.iter_masks(split="val")
    with pytest.raises(MaskSelectionError, match=r"'1234' is not an ImageID") as caught:
        list(lake.iter_masks(image_ids=["1234"]))
    assert "16 hex digits" in caught.value.hint
    with pytest.raises(MaskSelectionError, match=r"size \(0, 5\): a grid is at least 1 x 1"):
        lake.mask(LARGE, size=(0, 5))
    with pytest.raises(MaskSelectionError, match=r"size \(3,\) is not \(height, width\)"):
        lake.iter_masks(size=(3,))  # type: ignore[arg-type]
    with pytest.raises(MaskSelectionError, match="batch_size 0"):
        lake.iter_masks(batch_size=0)
    with pytest.raises(MaskSelectionError, match="limit 0"):
        list(lake.iter_masks(limit=0))


def test_decode_rows_of_any_query(lake: Lake) -> None:
    rows = lake.sql("select * from masks_pixels_named where label_name = 'Pizza' order by mask_path")
    batch = decode_rows(rows)
    assert batch.rows["mask_path"].to_list() == [
        "000cc62f167d9fa4_m0663v_37f318a2.png", "00dc0baf74f95e45_m0663v_12e4ba7e.png",
    ]  # fmt: skip
    assert [int(a.sum()) for a in batch.arrays] == [771871, 7878]
    assert decode_rows(rows.to_arrow(), (5, 5)).stack().shape == (2, 5, 5)
    with pytest.raises(MaskSelectionError, match="lack column"):
        decode_rows(pl.DataFrame({"rle_counts": ["252"]}))


@pytest.mark.server  # the moto S3 server
def test_masks_of_a_lake_on_object_storage(s3_bucket: str, tmp_path: Path) -> None:
    from tests.servers import upload

    source = f"s3://{s3_bucket}/raw/masks"
    upload(write_mask_source(tmp_path / "source"), source)
    build(source, f"s3://{s3_bucket}/lakes/masks")
    with open_lake(f"s3://{s3_bucket}/lakes/masks") as remote:
        assert np.array_equal(remote.mask(LARGE), made_masks()[LARGE])
        batches = list(remote.iter_masks(classes=["Dog"]))
        streamed = [(p, a) for b in batches for p, a in zip(b.rows["mask_path"], b.arrays, strict=True)]
        assert [p for p, _ in streamed] == [
            "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png",
            "00b20c960e6e82c2_m0bt9lr_a9038ca9.png",
            LARGE,
        ]
        assert all(np.array_equal(a, expected_pixels(p)) for p, a in streamed)
