"""Image-level label files: human-verified (full and ``-boxable``) and machine-generated."""

from __future__ import annotations

import polars as pl

from pipeline.families import Family
from pipeline.families import fields as f

HEADER = ("ImageID", "Source", "LabelName", "Confidence")


def transform(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    checks = [
        f.check_image_id("ImageID"),
        f.check_not_empty("Source"),
        f.check_mid("LabelName"),
        f.check_in_unit("Confidence"),
    ]
    return df.select(
        *f.image_id_columns("ImageID"),
        pl.col("Source").alias("source"),
        pl.col("LabelName").alias("label_mid"),
        f.float32("Confidence").alias("confidence"),
        pl.col("_line"),
        f.first_reason(checks, explain),
    )


SPEC = Family(
    families=("image_labels_human", "image_labels_human_boxable", "image_labels_machine"),
    table="image_labels",
    headers=(HEADER,),
    has_header=True,
    transform=transform,
)
