"""Visual relationship files (``*-annotations-vrd.csv``)."""

from __future__ import annotations

import polars as pl

from pipeline.families import Family
from pipeline.families import fields as f

HEADER = ("ImageID", "LabelName1", "LabelName2", "XMin1", "XMax1", "YMin1", "YMax1",
          "XMin2", "XMax2", "YMin2", "YMax2", "RelationshipLabel")  # fmt: skip
COORDS = {c: f"{c[0].lower()}_{c[1:4].lower()}_{c[4]}" for c in HEADER[3:11]}


def transform(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    checks = [
        f.check_image_id("ImageID"),
        f.check_mid("LabelName1"),
        f.check_mid("LabelName2"),
        *f.check_box(*HEADER[3:7]),
        *f.check_box(*HEADER[7:11]),
        f.check_not_empty("RelationshipLabel"),
    ]
    return df.select(
        *f.image_id_columns("ImageID"),
        pl.col("LabelName1").alias("label_mid_1"),
        pl.col("LabelName2").alias("label_mid_2"),
        *(f.float32(c).alias(name) for c, name in COORDS.items()),
        pl.col("RelationshipLabel").alias("relationship"),
        pl.col("_line"),
        f.first_reason(checks, explain),
    )


SPEC = Family(
    families=("relationships",),
    table="relationships",
    headers=(HEADER,),
    has_header=True,
    transform=transform,
)
