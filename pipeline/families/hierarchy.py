"""Parse ``bbox_labels_600_hierarchy.json`` into distinct edges, with clear errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pipeline.core.errors import InputFormatError

ROOT_MID = "/m/0bl9f"
RELATIONS = {"Subcategory": "subcategory", "Part": "part"}
_MID = re.compile(r"^/[a-z]/[0-9a-z_]+$")


@dataclass(frozen=True)
class Hierarchy:
    """Distinct edges (parent, child, relation) and how many were written in the JSON."""

    root: str
    edges: list[tuple[str, str, str]]
    edge_occurrences: int
    nodes: int


def parse_hierarchy(file: str, data: bytes) -> Hierarchy:
    """Parse the hierarchy JSON; raise ``InputFormatError`` naming the JSON path of a problem."""
    try:
        tree = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFormatError(f"{file}: not valid JSON: {exc}") from exc
    edges: dict[tuple[str, str, str], None] = {}
    counts = {"occurrences": 0, "nodes": 0}

    def walk(node: object, path: str, ancestors: tuple[str, ...]) -> str:
        if not isinstance(node, dict):
            raise InputFormatError(f"{file}: {path}: expected an object with LabelName")
        unknown = sorted(set(node) - {"LabelName", *RELATIONS})
        if unknown:
            raise InputFormatError(
                f"{file}: {path}: unknown key(s) {', '.join(unknown)}; expected LabelName, Subcategory, Part"
            )
        mid = node.get("LabelName")
        if not isinstance(mid, str) or not _MID.match(mid):
            raise InputFormatError(f"{file}: {path}: LabelName missing or not a MID (found {mid!r})")
        if mid in ancestors:
            cycle = " > ".join((*ancestors[ancestors.index(mid) :], mid))
            raise InputFormatError(f"{file}: {path}: cycle in the hierarchy: {cycle}")
        counts["nodes"] += 1
        for key, relation in RELATIONS.items():
            if key not in node:
                continue
            children = node[key]
            if not isinstance(children, list):
                raise InputFormatError(f"{file}: {path}.{key}: expected a list")
            for i, child in enumerate(children):
                child_mid = walk(child, f"{path}.{key}[{i}]", (*ancestors, mid))
                edges.setdefault((mid, child_mid, relation), None)
                counts["occurrences"] += 1
        return mid

    root = walk(tree, "$", ())
    return Hierarchy(root=root, edges=list(edges), edge_occurrences=counts["occurrences"], nodes=counts["nodes"])
