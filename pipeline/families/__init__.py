"""One module per Open Images file family: how its rows become lake rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pyarrow as pa


@dataclass(frozen=True)
class Family:
    """How to read the files of some families and turn their rows into lake rows.

    CSV (and one-value-per-line text) files: ``headers`` lists the accepted
    header lines (the first is the fullest); a header-less format has exactly
    one, used as column names. JSON-lines files instead give ``json_schema``
    (what pyarrow parses) and ``check_line`` (why one decoded line is unfit).
    ``transform`` maps the parsed frame plus ``_line`` to the table's columns
    plus ``_line`` and ``_reason`` (NULL for good rows), lazily: ``apply`` runs
    it as one query, so an expression used by a value and its checks (a float
    parsed from a string) is computed once.
    """

    families: tuple[str, ...]
    table: str
    headers: tuple[tuple[str, ...], ...]
    has_header: bool
    transform: Callable[..., pl.LazyFrame]
    json_schema: pa.Schema | None = None
    check_line: Callable[[object], str | None] | None = None

    def apply(self, frame: pl.DataFrame, explain: bool = False) -> pl.DataFrame:
        """``transform`` run on ``frame``."""
        return self.transform(frame.lazy(), explain=explain).collect()


def family_specs() -> dict[str, Family]:
    """Every family spec but the hierarchy JSON's, by official family name."""
    from pipeline.families import boxes, image_labels, images, masks, metadata, narratives, relationships

    specs = [
        boxes.SPEC,
        narratives.SPEC,
        masks.SPEC,
        relationships.SPEC,
        image_labels.SPEC,
        images.SPEC,
        *metadata.SPECS,
    ]
    return {family: spec for spec in specs for family in spec.families}
