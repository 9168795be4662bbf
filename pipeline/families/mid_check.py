"""Find MIDs used in the data that no description file names (reported, never dropped)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.core.layout import table_files

EXAMPLES = 5

# (table, column, condition): where class MIDs are used.
CLASS_USES = (
    ("boxes", "label_mid", "true"),
    ("masks", "label_mid", "true"),
    ("image_labels", "label_mid", "true"),
    ("relationships", "label_mid_1", "true"),
    ("relationships", "label_mid_2", "relationship <> 'is'"),
    ("relationship_triplets", "label_mid_1", "true"),
    ("relationship_triplets", "label_mid_2", "relationship <> 'is'"),
    ("hierarchy", "parent_mid", "true"),
    ("hierarchy", "child_mid", "true"),
)
ATTRIBUTE_USES = (
    ("relationships", "label_mid_2", "relationship = 'is'"),
    ("relationship_triplets", "label_mid_2", "relationship = 'is'"),
)


def _files(root: Path, table: str) -> list[str]:
    return [p.as_posix() for p in table_files(root, table)]


def _unknown(con: duckdb.DuckDBPyConnection, root: Path, uses: tuple, names_table: str, key: str) -> dict:
    params: dict[str, object] = {}
    parts = []
    for i, (table, column, condition) in enumerate(uses):
        if files := _files(root, table):
            params[f"use{i}"] = files
            parts.append(f"select distinct {column} as mid from read_parquet($use{i}) where {condition}")
    if not parts:
        return {"count": 0, "examples": []}
    known = "select null::varchar as mid where false"
    if names := _files(root, names_table):
        params["names"] = names
        known = f"select {key} as mid from read_parquet($names)"
    rows = con.execute(
        f"select mid from ({' union '.join(parts)}) where mid not in ({known}) order by mid", params
    ).fetchall()
    return {"count": len(rows), "examples": [r[0] for r in rows[:EXAMPLES]]}


def unknown_mids(root: Path) -> dict[str, dict]:
    """``{"classes": {count, examples}, "attributes": {...}}`` for MIDs without a name."""
    con = duckdb.connect()
    try:
        return {
            "classes": _unknown(con, root, CLASS_USES, "classes", "label_mid"),
            "attributes": _unknown(con, root, ATTRIBUTE_USES, "attributes", "attribute_mid"),
        }
    finally:
        con.close()
