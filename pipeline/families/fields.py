"""Vectorized parsers for Open Images fields (Polars expressions).

Every parser comes as a pair: ``value`` expressions build the typed column,
``check_*`` functions return a ``Check``: when a row is bad, and why. A row's
reason is its first failing check; rows with a reason are quarantined, never
coerced. Reasons are only formatted for bad rows (``explain=True``), so the
common all-good batch pays for booleans only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Check:
    """``bad`` is true for a row that fails; ``reason`` says why (only read for bad rows)."""

    bad: pl.Expr
    reason: pl.Expr


HEX_ID = r"^[0-9a-f]{16}$"
MID = r"^/[a-z]/[0-9a-z_]+$"


def _found(column: str, expectation: str) -> pl.Expr:
    return pl.format(f"{column}: expected {expectation}, found '{{}}'", pl.col(column))


def image_id_columns(column: str) -> list[pl.Expr]:
    """``image_id`` (the published string) and ``image_id_u64`` (its exact unsigned value)."""
    return [pl.col(column).alias("image_id"), image_id_u64(column).alias("image_id_u64")]


def image_id_u64(column: str) -> pl.Expr:
    """The exact unsigned 64-bit value of a 16-hex-digit ImageID."""
    return pl.col(column).str.to_integer(base=16, dtype=pl.UInt64, strict=False)


def check_image_id(column: str) -> Check:
    return Check(~pl.col(column).str.contains(HEX_ID), _found(column, "16 lowercase hex digits"))


def check_mid(column: str) -> Check:
    return Check(~pl.col(column).str.contains(MID), _found(column, "a MID like /m/0abc12"))


def check_not_empty(column: str) -> Check:
    return Check(pl.col(column) == "", pl.lit(f"{column}: expected a value, found an empty field"))


def float32(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Float32, strict=False)


def check_float(column: str) -> Check:
    """A finite decimal number."""
    value = float32(column)
    return Check(value.is_null() | ~value.is_finite(), _found(column, "a finite number"))


def float32_or_null(column: str, null_tokens: tuple[str, ...] = ("",)) -> pl.Expr:
    return pl.when(pl.col(column).is_in(null_tokens)).then(None).otherwise(float32(column))


def check_float_or_null(column: str, null_tokens: tuple[str, ...] = ("",)) -> Check:
    value = float32(column)
    bad = ~pl.col(column).is_in(null_tokens) & (value.is_null() | ~value.is_finite())
    listed = ", ".join(f"'{t}'" for t in null_tokens)
    return Check(bad, _found(column, f"a finite number or {listed}"))


def flag(column: str) -> pl.Expr:
    """``1`` → true, ``0`` → false, ``-1`` (unknown) → NULL (any other value fails ``check_flag``)."""
    return pl.when(pl.col(column) == "1").then(True).when(pl.col(column) == "0").then(False)


def check_flag(column: str) -> Check:
    return Check(~pl.col(column).is_in(["1", "0", "-1"]), _found(column, "1, 0 or -1"))


def xclick(column: str) -> pl.Expr:
    """An extreme-click coordinate; ``-1`` (box not drawn by extreme clicking) → NULL."""
    return float32_or_null(column, ("-1",))


def check_xclick(column: str) -> Check:
    return check_float_or_null(column, ("-1",))


def int64(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int64, strict=False)


def check_int(column: str) -> Check:
    return Check(int64(column).is_null(), _found(column, "an integer"))


def check_not_negative(column: str) -> Check:
    """An integer >= 0; rows where it is not an integer are left to ``check_int``."""
    return Check((int64(column) < 0).fill_null(False), _found(column, "an integer >= 0"))


def check_in_unit(column: str, *, nullable: bool = False) -> Check:
    """A number in [0, 1]: a confidence, an IoU or a normalised coordinate (empty allowed when ``nullable``)."""
    value = float32(column)
    bad = value.is_null() | ~value.is_finite() | (value < 0) | (value > 1)
    if nullable:
        bad = bad & (pl.col(column) != "")
    return Check(bad, _found(column, "a number in [0, 1]"))


def check_ordered(low: str, high: str) -> Check:
    """``low <= high`` (equal allowed), e.g. XMin <= XMax; a row where either is not a number fails other checks."""
    bad = (float32(low) > float32(high)).fill_null(False)
    return Check(bad, pl.format(f"{low} > {high}: {{}} > {{}}", pl.col(low), pl.col(high)))


def check_box(x_min: str, x_max: str, y_min: str, y_max: str) -> list[Check]:
    """A normalised box: every coordinate a finite number in [0, 1], then ``XMin <= XMax`` and ``YMin <= YMax``."""
    return [
        *(check_float(c) for c in (x_min, x_max, y_min, y_max)),
        *(check_in_unit(c) for c in (x_min, x_max, y_min, y_max)),
        check_ordered(x_min, x_max),
        check_ordered(y_min, y_max),
    ]


def bad_float32(value: pl.Expr) -> pl.Expr:
    """True where ``value`` is missing or no finite float32: NaN, an infinity, or beyond float32's range."""
    as_float = value.cast(pl.Float32, strict=False)
    return (~as_float.is_finite()).fill_null(True)


@dataclass(frozen=True)
class Nested:
    """A nested column: ``depth`` levels of lists around structs of ``numbers`` (float32) and ``strings``."""

    column: str
    depth: int
    numbers: tuple[str, ...]
    strings: tuple[str, ...] = ()


def check_nested(shape: Nested) -> Check:
    """Every item present, every number a finite float32, every string present; the reason names the JSON path.

    ``bad`` is vectorized (nested ``list.eval``); the reason (``traces[0][3].y: not finite (Infinity)``)
    is found in Python, and only ever for the rows that are bad.
    """
    item = pl.element()
    bad = item.is_null()
    for name in shape.numbers:
        bad = bad | bad_float32(item.struct.field(name))
    for name in shape.strings:
        bad = bad | item.struct.field(name).is_null()
    for _ in range(shape.depth - 1):
        bad = pl.element().is_null() | pl.element().list.eval(bad).list.any()
    column_bad = pl.col(shape.column).list.eval(bad).list.any().fill_null(False)

    def reasons(values: pl.Series) -> pl.Series:
        fallback = f"{shape.column}: not a finite float32 value"  # unreachable while both checks agree
        return pl.Series([nested_reason(shape, v) or fallback for v in values.to_list()], dtype=pl.String)

    return Check(column_bad, pl.col(shape.column).map_batches(reasons, return_dtype=pl.String))


def nested_reason(shape: Nested, value: object, path: str | None = None, depth: int | None = None) -> str | None:
    """Why the decoded nested ``value`` is unfit, naming the JSON path of its first bad value, or None."""
    path = shape.column if path is None else path
    depth = shape.depth if depth is None else depth
    if value is None:
        return f"{path}: missing"
    if depth:
        if not isinstance(value, list):
            return f"{path}: expected a list, found {type(value).__name__}"
        for i, element in enumerate(value):
            reason = nested_reason(shape, element, f"{path}[{i}]", depth - 1)
            if reason is not None:
                return reason
        return None
    if not isinstance(value, dict):
        return f"{path}: expected an object, found {type(value).__name__}"
    for name in (*shape.strings, *shape.numbers):
        if value.get(name) is None:
            return f"{path}.{name}: missing"
        found = value[name]
        if name in shape.strings:
            if not isinstance(found, str):
                return f"{path}.{name}: expected a string, found {type(found).__name__}"
        elif isinstance(found, bool) or not isinstance(found, int | float):
            return f"{path}.{name}: expected a number, found {type(found).__name__}"
        elif isinstance(found, float) and not math.isfinite(found):
            return f"{path}.{name}: not finite ({_json_number(found)})"
        elif not _fits_float32(found):
            return f"{path}.{name}: out of float32 range ({found!r})"
    return None


def _fits_float32(value: float) -> bool:
    """``value`` stays finite as a float32 (the same rounding as the vectorized cast)."""
    try:
        with np.errstate(over="ignore"):
            return bool(np.isfinite(np.float32(value)))
    except OverflowError:
        return False


def _json_number(value: float) -> str:
    """NaN and the infinities as JSON-lines files spell them."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def first_reason(checks: list[Check], explain: bool) -> pl.Expr:
    """``_reason``: NULL for a good row; for a bad row its first failing check's reason (``explain``) or "invalid"."""
    if explain:
        return pl.coalesce([pl.when(c.bad).then(c.reason.cast(pl.String)) for c in checks]).alias("_reason")
    return pl.when(pl.any_horizontal([c.bad for c in checks])).then(pl.lit("invalid")).otherwise(None).alias("_reason")
