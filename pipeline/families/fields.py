"""Vectorized parsers for Open Images fields (Polars expressions).

Every parser comes as a pair: ``value`` expressions build the typed column,
``check_*`` functions return a ``Check``: when a row is bad, and why. A row's
reason is its first failing check; rows with a reason are quarantined, never
coerced. Reasons are only formatted for bad rows (``explain=True``), so the
common all-good batch pays for booleans only.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def first_reason(checks: list[Check], explain: bool) -> pl.Expr:
    """``_reason``: NULL for a good row; for a bad row its first failing check's reason (``explain``) or "invalid"."""
    if explain:
        return pl.coalesce([pl.when(c.bad).then(c.reason.cast(pl.String)) for c in checks]).alias("_reason")
    return pl.when(pl.any_horizontal([c.bad for c in checks])).then(pl.lit("invalid")).otherwise(None).alias("_reason")
