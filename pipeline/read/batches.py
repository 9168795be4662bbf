"""The batch types both readers yield (rows as strings, their line numbers, malformed rows) and their helpers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa


@dataclass
class Malformed:
    """A source row refused before any value was looked at."""

    line: int
    reason: str
    raw: str


@dataclass
class CsvBatch:
    """Parsed rows (all columns as strings) with their lines, and malformed rows."""

    frame: pl.DataFrame
    lines: np.ndarray
    malformed: list[Malformed] = field(default_factory=list)
    blank_lines: int = 0


def to_frame(table: pa.Table) -> pl.DataFrame:
    """``table`` as a Polars frame (zero-copy where the types allow)."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def to_csv_line(fields: list[str]) -> str:
    """Write ``fields`` as one CSV line (minimal quoting), without line end."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()
