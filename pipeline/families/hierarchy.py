"""Parse ``bbox_labels_600_hierarchy.json`` into distinct edges, with clear errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pipeline.core.errors import InputFormatError

ROOT_MID = "/m/0bl9f"
RELATIONS = {"Subcategory": "subcategory", "Part": "part"}
MAX_DEPTH = 200  # JSON nesting (objects and lists) allowed; the official file nests 11 deep
_MID = re.compile(r"^/[a-z]/[0-9a-z_]+$")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # a string (skipped whole) or a bracket


@dataclass(frozen=True)
class Hierarchy:
    """Distinct edges (parent, child, relation) and how many were written in the JSON."""

    root: str
    edges: list[tuple[str, str, str]]
    edge_occurrences: int
    nodes: int


class _Duplicated(dict[str, object]):
    """A JSON object that repeated a key (``json`` would keep the last one silently)."""

    def __init__(self, pairs: list[tuple[str, object]], duplicate: str) -> None:
        super().__init__(pairs)
        self.duplicate = duplicate


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``object_pairs_hook``: a dict, marked when a key repeats (the walk names it with its JSON path)."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _Duplicated(pairs, key)
        seen.add(key)
    return dict(pairs)


def _check_depth(file: str, text: str) -> None:
    """Refuse JSON nested deeper than ``MAX_DEPTH`` (naming where and how deep), before a recursive parser meets it."""
    depth = deepest = 0
    first = -1  # where the nesting first went over the limit
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH and first < 0:
                first = match.start()
        elif token in "]}":
            depth -= 1
    if first >= 0:
        line = text.count("\n", 0, first) + 1
        column = first - (text.rfind("\n", 0, first) + 1) + 1
        raise InputFormatError(
            f"{file}: line {line} column {column}: JSON nested {deepest} levels deep (objects and lists); "
            f"expected at most {MAX_DEPTH} (the official hierarchy nests 11)"
        )


def parse_hierarchy(file: str, data: bytes) -> Hierarchy:
    """Parse the hierarchy JSON; raise ``InputFormatError`` naming the JSON path of a problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{file}: not valid JSON: {exc}") from exc
    _check_depth(file, text)
    try:
        tree = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"{file}: not valid JSON: {exc}") from exc
    root = _check_node(file, tree, "$", ())
    if root != ROOT_MID:
        raise InputFormatError(f"{file}: $: the root is {root}; expected {ROOT_MID} (Entity), the root of Open Images")
    edges: dict[tuple[str, str, str], None] = {}
    occurrences = nodes = 0
    stack = [_Frame(file, tree, "$", (), root, "")]  # depth first without recursion: the edges in post-order
    while stack:
        frame = stack[-1]
        if frame.next < len(frame.children):
            relation, path, child = frame.children[frame.next]
            frame.next += 1
            ancestors = (*frame.ancestors, frame.mid)
            stack.append(_Frame(file, child, path, ancestors, _check_node(file, child, path, ancestors), relation))
            continue
        stack.pop()
        nodes += 1
        if stack:
            edges.setdefault((stack[-1].mid, frame.mid, frame.relation), None)
            occurrences += 1
    return Hierarchy(root=root, edges=list(edges), edge_occurrences=occurrences, nodes=nodes)


class _Frame:
    """A checked node being walked: its MID, where it is, and its children (relation, JSON path, child)."""

    def __init__(self, file: str, node: object, path: str, ancestors: tuple[str, ...], mid: str, relation: str) -> None:
        assert isinstance(node, dict)  # _check_node made sure
        self.mid, self.ancestors, self.relation, self.next = mid, ancestors, relation, 0
        self.children: list[tuple[str, str, object]] = []
        for key, child_relation in RELATIONS.items():
            if key not in node:
                continue
            children = node[key]
            if not isinstance(children, list):
                raise InputFormatError(f"{file}: {path}.{key}: expected a list")
            self.children += [(child_relation, f"{path}.{key}[{i}]", child) for i, child in enumerate(children)]


def _check_node(file: str, node: object, path: str, ancestors: tuple[str, ...]) -> str:
    """The MID of a well-formed node at ``path``, or an ``InputFormatError`` naming what is wrong there."""
    if not isinstance(node, dict):
        raise InputFormatError(f"{file}: {path}: expected an object with LabelName")
    if isinstance(node, _Duplicated):
        raise InputFormatError(
            f"{file}: {path}: duplicate key {node.duplicate!r} in one object (only the last would be kept)"
        )
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
    return mid
