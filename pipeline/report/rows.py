"""Query helpers of the report: a query's rows as plain JSON-ready records."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pipeline.query.api import Lake

Record = dict[str, Any]


def records(lake: Lake, query: str, params: object = None) -> list[Record]:
    """The rows of ``query`` on the lake's catalog, as dicts of JSON-ready values (see ``tidy``)."""
    return [{k: tidy(v) for k, v in row.items()} for row in lake.arrow(query, params).to_pylist()]


def tidy(value: Any) -> Any:
    """Floats to 6 significant digits (NaN and infinities as None), whole decimals (SQL sums) as ints;
    lists and dicts item by item."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [tidy(v) for v in value]
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    return value


def has_rows(lake: Lake, table: str) -> bool:
    """Whether a catalog table or view has at least one row."""
    return bool(records(lake, f"select exists (select 1 from {table}) as found")[0]["found"])
