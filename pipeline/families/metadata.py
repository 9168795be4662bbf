"""Small metadata files: class lists, attribute and relationship names, triplets, ID lists.

Header-less files are read with the column names given here. Class lists from
several files are merged into ``classes`` by ``pipeline.families.dimensions``.
"""

from __future__ import annotations

import polars as pl

from pipeline.families import Family
from pipeline.families import fields as f


def _class_descriptions(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    return df.select(
        pl.col("LabelName").alias("label_mid"),
        pl.col("DisplayName").alias("display_name"),
        pl.col("_line"),
        f.first_reason([f.check_mid("LabelName"), f.check_not_empty("DisplayName")], explain),
    )


def _mid_list(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    return df.select(
        pl.col("LabelName").alias("label_mid"),
        pl.col("_line"),
        f.first_reason([f.check_mid("LabelName")], explain),
    )


def _attributes(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    return df.select(
        pl.col("AttributeName").alias("attribute_mid"),
        pl.col("DisplayName").alias("display_name"),
        pl.col("_line"),
        f.first_reason([f.check_mid("AttributeName"), f.check_not_empty("DisplayName")], explain),
    )


def _relationship_names(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    return df.select(
        pl.col("RelationshipLabel").alias("relationship"),
        pl.col("DisplayName").alias("display_name"),
        pl.col("_line"),
        f.first_reason([f.check_not_empty("RelationshipLabel"), f.check_not_empty("DisplayName")], explain),
    )


def _triplets(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    return df.select(
        pl.col("LabelName1").alias("label_mid_1"),
        pl.col("LabelName2").alias("label_mid_2"),
        pl.col("RelationshipLabel").alias("relationship"),
        pl.col("_line"),
        f.first_reason(
            [f.check_mid("LabelName1"), f.check_mid("LabelName2"), f.check_not_empty("RelationshipLabel")], explain
        ),
    )


def _image_ids(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    return df.select(
        *f.image_id_columns("ImageID"),
        pl.col("_line"),
        f.first_reason([f.check_image_id("ImageID")], explain),
    )


SPECS = (
    Family(("classes",), "classes", (("LabelName", "DisplayName"),), True, _class_descriptions),
    Family(("classes_boxable",), "classes", (("LabelName", "DisplayName"),), False, _class_descriptions),
    Family(("classes_trainable",), "classes", (("LabelName",),), False, _mid_list),
    Family(("classes_segmentable",), "classes", (("LabelName",),), False, _mid_list),
    Family(("human_parts_classes",), "classes", (("LabelName",),), False, _mid_list),
    Family(("attributes",), "attributes", (("AttributeName", "DisplayName"),), False, _attributes),
    Family(
        ("relationship_names",),
        "relationship_names",
        (("RelationshipLabel", "DisplayName"),),
        False,
        _relationship_names,
    ),
    Family(
        ("relationship_triplets",),
        "relationship_triplets",
        (("LabelName1", "LabelName2", "RelationshipLabel"),),
        True,
        _triplets,
    ),
    Family(("human_parts_images",), "human_parts_images", (("ImageID",),), False, _image_ids),
)
