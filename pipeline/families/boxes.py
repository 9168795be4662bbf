"""Box files: ``oidv6-train-annotations-bbox.csv`` (with XClick) and val/test (without)."""

from __future__ import annotations

import polars as pl

from pipeline.families import Family
from pipeline.families import fields as f

BASE = ("ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
        "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")  # fmt: skip
XCLICK = ("XClick1X", "XClick2X", "XClick3X", "XClick4X", "XClick1Y", "XClick2Y", "XClick3Y", "XClick4Y")
COORDS = {"XMin": "x_min", "XMax": "x_max", "YMin": "y_min", "YMax": "y_max"}
FLAGS = {"IsOccluded": "is_occluded", "IsTruncated": "is_truncated", "IsGroupOf": "is_group_of",
         "IsDepiction": "is_depiction", "IsInside": "is_inside"}  # fmt: skip


def _xclick_name(column: str) -> str:
    return f"x_click_{column[6]}{column[7].lower()}"


def transform(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    has_xclick = XCLICK[0] in df.collect_schema().names()
    checks = [
        f.check_image_id("ImageID"),
        f.check_not_empty("Source"),
        f.check_mid("LabelName"),
        f.check_in_unit("Confidence"),
        *f.check_box(*COORDS),
        *(f.check_flag(c) for c in FLAGS),
        *((f.check_xclick(c) for c in XCLICK) if has_xclick else ()),
    ]
    xclicks = [(f.xclick(c) if has_xclick else pl.lit(None, pl.Float32)).alias(_xclick_name(c)) for c in XCLICK]
    return df.select(
        *f.image_id_columns("ImageID"),
        pl.col("Source").alias("source"),
        pl.col("LabelName").alias("label_mid"),
        f.float32("Confidence").alias("confidence"),
        *(f.float32(c).alias(name) for c, name in COORDS.items()),
        *(f.flag(c).alias(name) for c, name in FLAGS.items()),
        *xclicks,
        pl.col("_line"),
        f.first_reason(checks, explain),
    )


SPEC = Family(
    families=("boxes",),
    table="boxes",
    headers=(BASE + XCLICK, BASE),
    has_header=True,
    transform=transform,
)
