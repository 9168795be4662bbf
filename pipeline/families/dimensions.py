"""Dimension tables built from the small metadata files (classes, hierarchy edges)."""

from __future__ import annotations

import polars as pl

from pipeline.families import class_graph
from pipeline.families.hierarchy import ROOT_MID, Hierarchy

ROOT_NAME = "Entity"
LIST_FLAGS = {
    "classes_boxable": "is_boxable",
    "classes_trainable": "is_trainable",
    "classes_segmentable": "is_segmentable",
    "human_parts_classes": "is_human_parts_class",
}


def build_classes(lists: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Merge the class files into one row per MID (a MID listed twice in one file counts once).

    ``lists`` maps a family (``classes``, ``classes_boxable``, ...) to its parsed
    rows. Names come from the full description file first, then the boxable one.
    A flag is NULL when its list was not ingested.
    """
    named = [lists[f] for f in ("classes", "classes_boxable") if f in lists]
    names = (
        pl.concat([n.select("label_mid", "display_name") for n in named]).unique(
            "label_mid", keep="first", maintain_order=True
        )
        if named
        else pl.DataFrame(schema={"label_mid": pl.String, "display_name": pl.String})
    )
    every = pl.concat(
        [f.select("label_mid") for f in lists.values()] + [pl.DataFrame({"label_mid": [ROOT_MID]})]
    ).unique(maintain_order=True)
    classes = every.join(names, on="label_mid", how="left")
    for family, column in LIST_FLAGS.items():
        if family in lists:
            members = lists[family].get_column("label_mid").unique()
            classes = classes.with_columns(pl.col("label_mid").is_in(members.implode()).alias(column))
        else:
            classes = classes.with_columns(pl.lit(None, pl.Boolean).alias(column))
    classes = classes.with_columns(
        (pl.col("label_mid") == ROOT_MID).alias("is_hierarchy_root"),
        pl.when(pl.col("label_mid") == ROOT_MID)
        .then(pl.col("display_name").fill_null(ROOT_NAME))
        .otherwise(pl.col("display_name"))
        .alias("display_name"),
    )
    return classes.sort("label_mid")


def hierarchy_frame(hierarchy: Hierarchy) -> pl.DataFrame:
    """Distinct hierarchy edges as a frame."""
    return pl.DataFrame(
        hierarchy.edges, schema={"parent_mid": pl.String, "child_mid": pl.String, "relation": pl.String}, orient="row"
    ).sort("parent_mid", "child_mid", "relation")


def class_graph_frames(hierarchy: Hierarchy, names: dict[str, str]) -> dict[str, pl.DataFrame]:
    """The closure, part-of and path tables of the hierarchy."""
    edges = hierarchy.edges
    return {
        "class_ancestors": pl.DataFrame(
            class_graph.ancestors(edges, hierarchy.root),
            schema={"label_mid": pl.String, "ancestor_mid": pl.String, "distance": pl.Int32},
            orient="row",
        ),
        "class_parts": pl.DataFrame(
            class_graph.parts(edges), schema={"part_mid": pl.String, "whole_mid": pl.String}, orient="row"
        ),
        "class_paths": pl.DataFrame(
            class_graph.paths(edges, hierarchy.root, names),
            schema={"label_mid": pl.String, "path": pl.String, "depth": pl.Int32},
            orient="row",
        ),
    }
