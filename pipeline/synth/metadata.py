"""Metadata files (class lists, hierarchy, attribute and relationship names, triplets): copies of the
genuine files bundled in ``pipeline/sample``, and the lake row counts they imply."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipeline.families import dimensions
from pipeline.families.hierarchy import ROOT_MID, parse_hierarchy
from pipeline.synth.vocab import sample_dir

CLASS_FAMILIES = ("classes", "classes_boxable", "classes_trainable", "classes_segmentable", "human_parts_classes")
WITH_HEADER = ("classes", "relationship_triplets")


def source(name: str) -> Path:
    """The bundled genuine copy of a metadata file."""
    return sample_dir() / name


def records(family: str, data: bytes) -> list[list[str]]:
    """The data rows of a metadata CSV / list file (no header, no blank lines)."""
    rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) if row]
    return rows[1:] if family in WITH_HEADER else rows


def file_rows(family: str, data: bytes) -> int:
    """Rows the build reads from a metadata file (hierarchy: edge occurrences)."""
    if family == "hierarchy":
        return parse_hierarchy("hierarchy", data).edge_occurrences
    return len(records(family, data))


def derived_rows(files: dict[str, bytes]) -> dict[str, int]:
    """Lake rows of the tables that are not a plain sum of file rows, from ``family → file bytes``.

    ``classes``: the distinct MIDs of every class file plus the hierarchy root; ``hierarchy``: distinct
    edges; ``class_ancestors``, ``class_parts``, ``class_paths``: the class graph of those edges.
    """
    out: dict[str, int] = {}
    lists = [records(f, data) for f, data in files.items() if f in CLASS_FAMILIES]
    if lists:
        out["classes"] = len({row[0] for rows in lists for row in rows} | {ROOT_MID})
    if "hierarchy" in files:
        hierarchy = parse_hierarchy("hierarchy", files["hierarchy"])
        out["hierarchy"] = len(hierarchy.edges)
        for table, frame in dimensions.class_graph_frames(hierarchy, {}).items():
            out[table] = frame.height
    return out
