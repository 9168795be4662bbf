"""Segmentation files (``*-annotations-object-segmentation.csv``); Clicks become a list of structs."""

from __future__ import annotations

import polars as pl

from pipeline.families import Family
from pipeline.families import fields as f

HEADER = ("MaskPath", "ImageID", "LabelName", "BoxID", "BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax",
          "PredictedIoU", "Clicks")  # fmt: skip
COORDS = {"BoxXMin": "box_x_min", "BoxXMax": "box_x_max", "BoxYMin": "box_y_min", "BoxYMax": "box_y_max"}
_NUMBER = r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
CLICK = rf"^{_NUMBER} {_NUMBER} [01]$"


def clicks(column: str) -> pl.Expr:
    """``x y L;x y L;...`` → ``[{x, y, positive}, ...]``; an empty field → ``[]``."""
    parts = pl.element().str.split(" ")
    return (
        pl.col(column)
        .str.split(";")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.eval(
            pl.struct(
                parts.list.get(0, null_on_oob=True).cast(pl.Float32, strict=False).fill_null(float("nan")).alias("x"),
                parts.list.get(1, null_on_oob=True).cast(pl.Float32, strict=False).fill_null(float("nan")).alias("y"),
                # Fills only ever land in rows that check_clicks quarantines.
                parts.list.get(2, null_on_oob=True).fill_null("0").eq("1").alias("positive"),
            )
        )
    )


def check_clicks(column: str) -> f.Check:
    """Every ``;``-separated click is ``x y L``; the reason names the first bad click."""
    items = pl.col(column).str.split(";")
    bad_items = items.list.eval(~pl.element().str.contains(CLICK))
    bad = (pl.col(column) != "") & bad_items.list.any()
    first = bad_items.list.arg_max()
    reason = pl.format(
        f"{column}: click {{}} of {{}}: expected 'x y L' (two numbers and L = 0 or 1, separated by one space), "
        "found '{}'",
        first + 1,
        items.list.len(),
        items.list.get(first, null_on_oob=True),
    )
    return f.Check(bad, reason)


def check_click_values(column: str) -> f.Check:
    """Both coordinates of every click are finite float32 numbers (``1e39`` is not); run after ``check_clicks``."""
    items = pl.col(column).str.split(";")
    parts = pl.element().str.split(" ")
    bad_items = items.list.eval(
        f.bad_float32(parts.list.get(0, null_on_oob=True)) | f.bad_float32(parts.list.get(1, null_on_oob=True))
    )
    bad = (pl.col(column) != "") & bad_items.list.any()
    first = bad_items.list.arg_max()
    reason = pl.format(
        f"{column}: click {{}} of {{}}: expected finite numbers x and y (within float32's range), found '{{}}'",
        first + 1,
        items.list.len(),
        items.list.get(first, null_on_oob=True),
    )
    return f.Check(bad, reason)


def transform(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    checks = [
        f.check_not_empty("MaskPath"),
        f.check_image_id("ImageID"),
        f.check_mid("LabelName"),
        f.check_not_empty("BoxID"),
        *f.check_box(*COORDS),
        f.check_in_unit("PredictedIoU", nullable=True),
        check_clicks("Clicks"),
        check_click_values("Clicks"),
    ]
    return df.select(
        *f.image_id_columns("ImageID"),
        pl.col("MaskPath").alias("mask_path"),
        pl.col("LabelName").alias("label_mid"),
        pl.col("BoxID").alias("box_id"),
        *(f.float32(c).alias(name) for c, name in COORDS.items()),
        f.float32_or_null("PredictedIoU").alias("predicted_iou"),
        clicks("Clicks").alias("clicks"),
        pl.col("_line"),
        f.first_reason(checks, explain),
    )


SPEC = Family(
    families=("masks",),
    table="masks",
    headers=(HEADER,),
    has_header=True,
    transform=transform,
)
