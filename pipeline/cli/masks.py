"""``oilake masks export``: a selection of mask pixels as COCO instance-segmentation JSON, and PNGs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.options import examples, lake_option, lake_storage_option, output_option, split_list
from pipeline.core.errors import QueryError

EXPORT_EXAMPLES = (
    "oilake masks export --split validation --output val-masks.json",
    "oilake masks export --classes Animal --include-descendants --split validation --output animals.json",
    "oilake masks export --image-ids 000bd0b4fa27644c,00a1ab47b5439e8c --output two.json --png-dir pngs",
    "oilake masks export --split train --limit 1000 --image-sizes sizes.csv --output sample.json",
)


@click.group(
    "masks",
    epilog=examples(*EXPORT_EXAMPLES[:2], "oilake masks export -h"),
)
def masks_group() -> None:
    """Mask pixels out of the lake: COCO JSON with RLE masks, and PNG files."""


@masks_group.command("export", epilog=examples(*EXPORT_EXAMPLES))
@lake_option
@lake_storage_option
@output_option("the COCO JSON")
@click.option(
    "--png-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
    help="Also write each annotation's mask as DIR/<mask_path> (a 1-bit PNG on the COCO image's grid).",
)  # fmt: skip
@click.option("--classes", default=None, help='Comma-separated display names, e.g. "Cat,Dog". Default: all.')
@click.option("--include-descendants", is_flag=True, help="Also every subcategory descendant of those classes.")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default=None, help="Only this split.")
@click.option("--image-ids", default=None, help="Comma-separated ImageIDs (16 hex digits): only their masks.")
@click.option("--where", default=None, help="Extra SQL condition on the masks (columns of mask_pixels).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many masks, in lake order.")
@click.option(
    "--image-sizes", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
    help="CSV ImageID,Width,Height (e.g. the JPEGs' sizes): put each image's masks on that grid "
    "(nearest neighbour). Default: the mask grid.",
)  # fmt: skip
def export_command(
    lake: str, lake_storage_options: dict[str, str] | None, output: Path | None, png_dir: Path | None,
    classes: str | None, include_descendants: bool, split: str | None, image_ids: str | None, where: str | None,
    limit: int | None, image_sizes: Path | None,
) -> None:  # fmt: skip
    """Write the selected masks as COCO instance-segmentation JSON (compressed RLE).

    COCO images are on the mask grid (the PNGs' size, which is not the JPEG's) unless --image-sizes gives
    the images' sizes; docs/masks.md explains the geometry. Selections combine: e.g. --classes with --split.
    """
    import duckdb

    from pipeline.query.api import open_lake
    from pipeline.query.mask_export import read_image_sizes
    from pipeline.query.masks import MaskSelection

    if output is not None and not output.parent.is_dir():
        raise QueryError(
            f"--output {output}: the folder {output.parent} does not exist",
            hint=f"make the folder first (mkdir -p {output.parent}), or choose another --output",
        )
    sizes = read_image_sizes(image_sizes) if image_sizes is not None else None
    selection = MaskSelection(
        tuple(split_list(classes) or ()), include_descendants, split, tuple(split_list(image_ids) or ()), where, limit
    )
    with open_lake(lake, lake_storage_options) as opened:
        try:
            written = opened.export_masks(
                output if output is not None else sys.stdout.buffer, selection, png_dir, sizes
            )
        except duckdb.Error as exc:
            if where is None:
                raise QueryError(str(exc).strip()) from exc
            raise QueryError(
                f"--where: {str(exc).strip()}", hint="--where takes an SQL condition on columns of mask_pixels"
            ) from exc
    if output is None:
        sys.stdout.buffer.flush()
    pngs = f", {written.pngs} PNG(s) in {png_dir}" if png_dir is not None else ""
    click.echo(
        f"{written.annotations} mask(s) of {written.images} image(s), {written.categories} categories, "
        f"{written.resized} resized{pngs}",
        err=True,
    )
