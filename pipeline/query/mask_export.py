"""A mask selection as COCO instance-segmentation JSON (compressed RLE), and optionally as PNG files, streamed.

The file is ``{"info", "categories", "images", "annotations"}``. COCO images are Open Images images on the
*mask grid*: an image's ``width`` x ``height`` is the grid of its selected masks (the PNGs' own size, not the
JPEG's, which the lake does not hold); when its masks are on several grids, the largest (most pixels, then
widest), and the others are resampled to it by nearest neighbour (``resized``: true). ``image_sizes``
(ImageID → (height, width), e.g. the JPEGs' sizes) puts every image on the grid given instead. Annotation
``bbox`` ``[x, y, w, h]`` and ``area`` are in pixels of that grid; ``segmentation`` is ``{size: [h, w],
counts}``, pycocotools' compressed counts string. Category ids are stable across exports of one lake: the
rank (from 1) of the MID among the segmentable classes and every MID with a mask, sorted.

Images come from the selection's plan (narrow rows, one per image); annotations are written as they stream
out of the lake, one ImageID range (one mask archive) at a time, so the masks are never all in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.core.errors import MaskSelectionError
from pipeline.masks import png, rle
from pipeline.query.labels import select_classes_on
from pipeline.query.masks import (
    NO_PIXELS_HINT,
    MaskSelection,
    Size,
    decode,
    has_pixels,
    plan,
    ranges,
    selection_condition,
    stream_range,
)

ROWS_PER_BATCH = 2048
GRID_NOTE = (
    "width and height are the mask grid (the mask PNGs' own size, not the published JPEG's): the largest grid "
    "among an image's masks, the others resampled to it by nearest neighbour (resized: true), unless image sizes "
    "were given; bbox [x, y, w, h] and area are in pixels of that grid; to place a mask on an image of another "
    "size, scale x by image_width / width and y by image_height / height"
)
LICENSE = "Open Images V6 annotations, © Google LLC, CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"


@dataclass(frozen=True)
class MaskExport:
    """What an export wrote."""

    images: int
    annotations: int
    categories: int
    resized: int  # masks resampled to their image's grid
    pngs: int


def export_coco(
    con: duckdb.DuckDBPyConnection,
    output: IO[bytes],
    selection: MaskSelection,
    png_dir: Path | None = None,
    image_sizes: Mapping[str, Size] | None = None,
    release: str = "",
) -> MaskExport:
    """Write ``selection`` as COCO JSON to ``output``; each annotation's mask as ``png_dir/<mask_path>`` if given.

    A PNG holds exactly its annotation's mask (on the COCO image's grid), so pycocotools' ``annToMask`` of an
    annotation equals its PNG's pixels.
    """
    if not has_pixels(con):
        raise MaskSelectionError("the lake holds no mask pixels: nothing to export", hint=NO_PIXELS_HINT)
    condition = selection_condition(con, selection)
    images = plan(con, condition)
    grids = _grids(images, image_sizes)
    categories = category_ids(con, selection)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "description": "Open Images V6 instance segmentation masks, exported by oilake",
        "release": release,
        "selection": {k: list(v) if isinstance(v, tuple | list) else v for k, v in asdict(selection).items()},
        "image_sizes": "given" if image_sizes is not None else "mask grid",
        "grid": GRID_NOTE,
        "license": LICENSE,
    }
    output.write(b'{"info": ' + _json(info) + b',\n"categories": ')
    names = dict(con.execute("select label_mid, any_value(display_name) from classes group by label_mid").fetchall())
    _array(output, ({"id": i, "name": names.get(m) or m, "supercategory": "", "mid": m} for m, i in categories.items()))
    output.write(b',\n"images": ')
    _array(output, _image_records(images, grids))
    output.write(b',\n"annotations": ')
    writer = _Annotations(categories, png_dir)
    _array(output, writer.records(con, condition, images, grids))
    output.write(b"}\n")
    return MaskExport(images.num_rows, writer.count, len(categories), writer.resized, writer.pngs)


def export_coco_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    selection: MaskSelection,
    png_dir: Path | None = None,
    image_sizes: Mapping[str, Size] | None = None,
    release: str = "",
) -> MaskExport:
    """``export_coco`` into the file ``path``, written beside it and renamed when whole (no half file on failure)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as output:
            written = export_coco(con, output, selection, png_dir, image_sizes, release)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return written


def category_ids(con: duckdb.DuckDBPyConnection, selection: MaskSelection) -> dict[str, int]:
    """MID → COCO category id: its rank among the segmentable classes and every MID with a mask, sorted.

    With ``selection.classes``, only the selected MIDs (their ids unchanged), so that exports of one lake agree.
    """
    listed = [
        r[0]
        for r in con.execute(
            "select label_mid from classes where is_segmentable "
            "union select distinct label_mid from mask_pixels order by label_mid"
        ).fetchall()
    ]
    ids = {mid: rank for rank, mid in enumerate(listed, 1)}
    if not selection.classes:
        return ids
    chosen = set(select_classes_on(con, list(selection.classes), selection.include_descendants))
    return {mid: rank for mid, rank in ids.items() if mid in chosen}


def read_image_sizes(path: Path) -> dict[str, Size]:
    """ImageID → (height, width) from a CSV with the columns ImageID, Width and Height (any order, more allowed)."""
    import polars as pl

    frame = pl.read_csv(path, infer_schema=False)
    columns = {c.lower(): c for c in frame.columns}
    missing = [c for c in ("imageid", "width", "height") if c not in columns]
    if missing:
        raise MaskSelectionError(
            f"{path}: no column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})",
            hint="the image sizes file is a CSV with a header: ImageID,Width,Height",
        )
    sizes: dict[str, Size] = {}
    for number, (image_id, width, height) in enumerate(
        frame.select(columns["imageid"], columns["width"], columns["height"]).iter_rows(), 2
    ):
        try:
            size = (int(height), int(width))
        except (TypeError, ValueError):
            size = (0, 0)
        if min(size) < 1:
            raise MaskSelectionError(
                f"{path}: line {number}: {width!r} x {height!r} is not a size in pixels",
                hint="Width and Height are positive integers (pixels)",
            )
        sizes[str(image_id).strip().lower()] = size
    return sizes


def _grids(images: pa.Table, image_sizes: Mapping[str, Size] | None) -> np.ndarray:
    """Each plan image's COCO grid as an ``(n, 2)`` array of (height, width)."""
    if image_sizes is None:
        return np.stack([images["grid_height"].to_numpy(), images["grid_width"].to_numpy()], axis=1)
    image_ids = images["image_id"].to_pylist()
    absent = [i for i in image_ids if i not in image_sizes]
    if absent:
        raise MaskSelectionError(
            f"the image sizes give no size for {len(absent)} of the {len(image_ids)} selected image(s): "
            f"{', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''}",
            hint="list every selected image in the sizes file, or narrow the selection to the images it lists",
        )
    return np.array([image_sizes[i] for i in image_ids], np.int64).reshape(-1, 2)


def _image_records(images: pa.Table, grids: np.ndarray) -> Iterable[dict[str, Any]]:
    for offset in range(0, images.num_rows, ROWS_PER_BATCH):
        part = images.slice(offset, ROWS_PER_BATCH)
        for i, (split, image_id) in enumerate(
            zip(part["split"].to_pylist(), part["image_id"].to_pylist(), strict=True), offset
        ):
            height, width = (int(v) for v in grids[i])
            yield {
                "id": i + 1,
                "file_name": f"{image_id}.jpg",
                "width": width,
                "height": height,
                "open_images_id": image_id,
                "split": split,
            }


class _Annotations:
    """The annotation records of a selection, counted; PNGs written on the way."""

    def __init__(self, categories: dict[str, int], png_dir: Path | None) -> None:
        self.categories = categories
        self.png_dir = png_dir
        self.count = self.resized = self.pngs = 0

    def records(
        self, con: duckdb.DuckDBPyConnection, condition: str, images: pa.Table, grids: np.ndarray
    ) -> Iterable[dict[str, Any]]:
        starts = [start for *_, start in ranges(images)] + [images.num_rows]
        for index, (split, first, last, start) in enumerate(ranges(images)):
            end = starts[index + 1]
            ids = images["image_id_u64"].slice(start, end - start).to_pylist()
            where = {image: (start + i, grids[start + i]) for i, image in enumerate(ids)}
            for table in stream_range(con, condition, split, first, last, ROWS_PER_BATCH):
                for row in table.to_pylist():
                    if row["image_id_u64"] not in where:
                        raise MaskSelectionError(
                            f"the selection changed while it was exported: mask {row['mask_path']} was not "
                            "selected when the images were listed",
                            hint="--where must give the same rows each time it runs: to sample, use e.g. "
                            "`hash(mask_path) % 100 = 0`, not random()",
                        )
                    position, grid = where[row["image_id_u64"]]
                    yield self._record(row, position + 1, (int(grid[0]), int(grid[1])))

    def _record(self, row: dict[str, Any], image: int, grid: Size) -> dict[str, Any]:
        height, width = row["mask_height"], row["mask_width"]
        resized = (height, width) != grid
        pixels = None
        if not resized:
            counts, area = row["rle_counts"], row["area"]
            x0, y0 = row["pixel_x0"], row["pixel_y0"]
            bbox = [0, 0, 0, 0] if x0 is None else [x0, y0, row["pixel_x1"] - x0, row["pixel_y1"] - y0]
        else:
            pixels = decode(row["rle_counts"], height, width, grid)
            runs = rle.encode(pixels)
            counts, area = rle.to_string(runs), rle.area(runs)
            bbox = [int(v) for v in rle.coco_bbox(runs, grid[0])]
            self.resized += 1
        if self.png_dir is not None:
            if pixels is None:
                pixels = decode(row["rle_counts"], height, width)
            (self.png_dir / row["mask_path"]).write_bytes(png.encode(pixels))
            self.pngs += 1
        self.count += 1
        return {
            "id": self.count,
            "image_id": image,
            "category_id": self.categories[row["label_mid"]],
            "segmentation": {"size": list(grid), "counts": counts},
            "area": area,
            "bbox": bbox,
            "iscrowd": 0,
            "open_images_id": row["image_id"],
            "label_mid": row["label_mid"],
            "box_id": row["box_id"],
            "mask_path": row["mask_path"],
            "mask_width": width,
            "mask_height": height,
            "resized": resized,
        }


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


def _array(output: IO[bytes], items: Iterable[object]) -> None:
    """A JSON array, one item a line, written as ``items`` come."""
    output.write(b"[")
    separator = b"\n"
    for item in items:
        output.write(separator + _json(item))
        separator = b",\n"
    output.write(b"\n]" if separator != b"\n" else b"]")
