"""One module per Open Images file family: how its rows become lake rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class CsvFamily:
    """How to read the CSV (or one-value-per-line text) files of some families.

    ``headers`` lists the accepted header lines (the first is the fullest); a
    header-less format has exactly one, used as column names. ``transform``
    maps a frame of string columns plus ``_line`` to the table's columns plus
    ``_line`` and ``_reason`` (NULL for good rows).
    """

    families: tuple[str, ...]
    table: str
    headers: tuple[tuple[str, ...], ...]
    has_header: bool
    transform: Callable[[pl.DataFrame], pl.DataFrame]


def csv_families() -> dict[str, CsvFamily]:
    """Every CSV family spec, by official family name."""
    from pipeline.families import boxes, image_labels, images, masks, metadata, relationships

    specs = [
        boxes.SPEC,
        masks.SPEC,
        relationships.SPEC,
        image_labels.SPEC,
        images.SPEC,
        *metadata.SPECS,
    ]
    return {family: spec for spec in specs for family in spec.families}
