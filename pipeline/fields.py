"""Vectorized parsers for Open Images fields (Polars expressions).

Every parser comes as a pair: ``value`` expressions build the typed column,
``check`` expressions give the reject reason for a row (NULL when the value is
fine). A row's reason is the first non-NULL check; rows with a reason are
quarantined, never coerced.
"""

from __future__ import annotations

import polars as pl

HEX_ID = r"^[0-9a-f]{16}$"
MID = r"^/[a-z]/[0-9a-z_]+$"


def _found(column: str, expectation: str) -> pl.Expr:
    return pl.format(f"{column}: expected {expectation}, found '{{}}'", pl.col(column))


def image_id_u64(column: str) -> pl.Expr:
    """The exact unsigned 64-bit value of a 16-hex-digit ImageID."""
    return pl.col(column).str.to_integer(base=16, dtype=pl.UInt64, strict=False)


def check_image_id(column: str) -> pl.Expr:
    ok = pl.col(column).str.contains(HEX_ID)
    return pl.when(ok).then(None).otherwise(_found(column, "16 lowercase hex digits"))


def check_mid(column: str) -> pl.Expr:
    ok = pl.col(column).str.contains(MID)
    return pl.when(ok).then(None).otherwise(_found(column, "a MID like /m/0abc12"))


def check_not_empty(column: str) -> pl.Expr:
    return (
        pl.when(pl.col(column) != "").then(None).otherwise(pl.lit(f"{column}: expected a value, found an empty field"))
    )


def float32(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Float32, strict=False)


def check_float(column: str, *, nullable: bool = False) -> pl.Expr:
    """A finite decimal number (empty allowed when ``nullable``)."""
    value = float32(column)
    bad = value.is_null() | ~value.is_finite()
    if nullable:
        bad = bad & (pl.col(column) != "")
    return pl.when(bad).then(_found(column, "a finite number")).otherwise(None)


def float32_or_null(column: str, null_tokens: tuple[str, ...] = ("",)) -> pl.Expr:
    return pl.when(pl.col(column).is_in(null_tokens)).then(None).otherwise(float32(column))


def check_float_or_null(column: str, null_tokens: tuple[str, ...] = ("",)) -> pl.Expr:
    value = float32(column)
    bad = ~pl.col(column).is_in(null_tokens) & (value.is_null() | ~value.is_finite())
    listed = ", ".join(f"'{t}'" for t in null_tokens)
    return pl.when(bad).then(_found(column, f"a finite number or {listed}")).otherwise(None)


def flag(column: str) -> pl.Expr:
    """``1`` → true, ``0`` → false, ``-1`` (unknown) → NULL."""
    return pl.col(column).replace_strict({"1": True, "0": False}, default=None, return_dtype=pl.Boolean)


def check_flag(column: str) -> pl.Expr:
    ok = pl.col(column).is_in(["1", "0", "-1"])
    return pl.when(ok).then(None).otherwise(_found(column, "1, 0 or -1"))


def xclick(column: str) -> pl.Expr:
    """An extreme-click coordinate; ``-1`` (box not drawn by extreme clicking) → NULL."""
    return float32_or_null(column, ("-1",))


def check_xclick(column: str) -> pl.Expr:
    return check_float_or_null(column, ("-1",))


def int64(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int64, strict=False)


def check_int(column: str) -> pl.Expr:
    return pl.when(int64(column).is_null()).then(_found(column, "an integer")).otherwise(None)


def check_in_unit(column: str) -> pl.Expr:
    """A confidence in [0, 1]."""
    value = float32(column)
    bad = value.is_null() | ~value.is_finite() | (value < 0) | (value > 1)
    return pl.when(bad).then(_found(column, "a number in [0, 1]")).otherwise(None)


def first_reason(checks: list[pl.Expr]) -> pl.Expr:
    """The first failing check of a row, or NULL."""
    return pl.coalesce([c.cast(pl.String) for c in checks]).alias("_reason")
