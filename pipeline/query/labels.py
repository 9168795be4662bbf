"""Class selection by display name, with the hierarchy (the Python twin of the ``class_mids`` macro)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import duckdb

from pipeline.catalog.views import CATALOG
from pipeline.core.errors import OilakeError


class UnknownClassError(OilakeError):
    """A class name matches no display name; ``suggestions`` maps it to the closest names."""

    hint = "names are exact display names (case-insensitive); see the classes table"

    def __init__(self, suggestions: dict[str, list[str]]) -> None:
        self.suggestions = suggestions
        listing = "; ".join(f'"{name}" (closest: {", ".join(close) or "none"})' for name, close in suggestions.items())
        super().__init__(f"unknown class name(s): {listing}")


def select_classes(lake: Path | str, names: Sequence[str], include_descendants: bool = False) -> list[str]:
    """MIDs whose display name equals one of ``names`` (case-insensitive), plus their descendants if asked.

    >>> select_classes("lake", ["Animal"], include_descendants=True)  # doctest: +SKIP
    ['/m/0138tl', '/m/01280g', ...]
    """
    con = duckdb.connect(str(Path(lake) / CATALOG), read_only=True)
    try:
        return select_classes_on(con, names, include_descendants)
    finally:
        con.close()


def select_classes_on(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], include_descendants: bool = False
) -> list[str]:
    """``select_classes`` on an open catalog connection."""
    classes = con.execute("select label_mid, display_name from classes where display_name is not null").fetchall()
    by_name: dict[str, list[str]] = {}
    for mid, name in classes:
        by_name.setdefault(name.lower(), []).append(mid)
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        display = sorted({name for _, name in classes})
        lowered = {d.lower(): d for d in display}
        raise UnknownClassError(
            {
                n: [lowered[c] for c in difflib.get_close_matches(n.lower(), list(lowered), n=3, cutoff=0.5)]
                for n in unknown
            }
        )
    chosen = {mid for n in names for mid in by_name[n.lower()]}
    if include_descendants and chosen:
        rows = con.execute(
            "select label_mid from class_ancestors where list_contains(?, ancestor_mid)", [sorted(chosen)]
        ).fetchall()
        chosen |= {r[0] for r in rows}
    return sorted(chosen)
