"""Localized narratives (JSON lines), one row per (image, annotator)."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from pipeline.families import Family
from pipeline.families import fields as f

TIMED = pa.struct([("utterance", pa.string()), ("start_time", pa.float64()), ("end_time", pa.float64())])
POINT = pa.struct([("x", pa.float64()), ("y", pa.float64()), ("t", pa.float64())])
RAW_SCHEMA = pa.schema(
    [
        ("dataset_id", pa.string()),
        ("image_id", pa.string()),
        ("annotator_id", pa.int64()),
        ("caption", pa.string()),
        ("timed_caption", pa.list_(TIMED)),
        ("traces", pa.list_(pa.list_(POINT))),
        ("voice_recording", pa.string()),
    ]
)
REQUIRED = {
    "dataset_id": str,
    "image_id": str,
    "annotator_id": int,
    "caption": str,
    "timed_caption": list,
    "traces": list,
    "voice_recording": str,
}


TIMED_VALUES = f.Nested("timed_caption", depth=1, numbers=("start_time", "end_time"), strings=("utterance",))
TRACE_VALUES = f.Nested("traces", depth=2, numbers=("x", "y", "t"))


def check_line(value: object) -> str | None:
    """Why one decoded JSON line is not a narrative, or None."""
    if not isinstance(value, dict):
        return f"expected a JSON object, found {type(value).__name__}"
    for key, kind in REQUIRED.items():
        if key not in value:
            return f"{key}: missing"
        if not isinstance(value[key], kind) or isinstance(value[key], bool):
            return f"{key}: expected {kind.__name__}, found {type(value[key]).__name__}"
    extra = sorted(set(value) - set(REQUIRED))
    if extra:
        return f"unexpected key(s): {', '.join(extra)}"
    return f.nested_reason(TIMED_VALUES, value["timed_caption"]) or f.nested_reason(TRACE_VALUES, value["traces"])


def _not_null(name: str) -> f.Check:
    return f.Check(pl.col(name).is_null(), pl.lit(f"{name}: missing"))


def transform(df: pl.LazyFrame, explain: bool = False) -> pl.LazyFrame:
    checks = [
        *(_not_null(c) for c in REQUIRED),
        f.check_image_id("image_id"),
        f.check_nested(TIMED_VALUES),
        f.check_nested(TRACE_VALUES),
    ]
    return df.select(
        *f.image_id_columns("image_id"),
        pl.col("dataset_id"),
        pl.col("annotator_id"),
        pl.col("caption"),
        pl.col("timed_caption"),
        pl.col("traces"),
        pl.col("voice_recording"),
        pl.col("_line"),
        f.first_reason(checks, explain),
    )


SPEC = Family(
    families=("narratives",),
    table="narratives",
    headers=(),
    has_header=False,
    transform=transform,
    json_schema=RAW_SCHEMA,
    check_line=check_line,
)
