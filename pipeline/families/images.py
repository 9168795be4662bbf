"""Image metadata files (``*-images-*with-rotation.csv``)."""

from __future__ import annotations

import polars as pl

from pipeline.families import Family
from pipeline.families import fields as f

HEADER = ("ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL",
          "Author", "Title", "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation")  # fmt: skip
ROTATION_UNKNOWN = ("", "nan", "NaN")


def transform(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    checks = [
        f.check_image_id("ImageID"),
        f.check_not_empty("Subset"),
        f.check_int("OriginalSize"),
        f.check_not_negative("OriginalSize"),
        f.check_float_or_null("Rotation", ROTATION_UNKNOWN),
    ]
    return df.select(
        *f.image_id_columns("ImageID"),
        pl.col("Subset").alias("subset"),
        pl.col("OriginalURL").alias("original_url"),
        pl.col("OriginalLandingURL").alias("original_landing_url"),
        pl.col("License").alias("license"),
        pl.col("AuthorProfileURL").alias("author_profile_url"),
        pl.col("Author").alias("author"),
        pl.col("Title").alias("title"),
        f.int64("OriginalSize").alias("original_size"),
        pl.col("OriginalMD5").alias("original_md5"),
        pl.when(pl.col("Thumbnail300KURL") == "")
        .then(None)
        .otherwise(pl.col("Thumbnail300KURL"))
        .alias("thumbnail_300k_url"),
        f.float32_or_null("Rotation", ROTATION_UNKNOWN).alias("rotation"),
        pl.col("_line"),
        f.first_reason(checks, explain),
    )


SPEC = Family(
    families=("images", "images_boxable"),
    table="images",
    headers=(HEADER,),
    has_header=True,
    transform=transform,
)
