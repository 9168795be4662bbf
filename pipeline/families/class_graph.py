"""The class hierarchy as a graph: subcategory closure, part-of edges, readable paths.

Pure functions over the distinct edges of ``hierarchy.parse_hierarchy``. Only
``subcategory`` (is-a) edges are followed for ancestors, as in the Open Images
evaluation; ``part`` edges are kept apart so that a part (Human face) never
counts as its whole (Person). The root (Entity) is never an ancestor.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

Edge = tuple[str, str, str]


def _parents(edges: Iterable[Edge]) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = defaultdict(list)
    for parent, child, relation in edges:
        if relation == "subcategory":
            parents[child].append(parent)
    return parents


def ancestors(edges: Iterable[Edge], root: str) -> list[tuple[str, str, int]]:
    """(label, ancestor, shortest distance) over subcategory edges, each pair once, root excluded."""
    parents = _parents(edges)
    rows = []
    for label in sorted(parents):
        distance = {label: 0}
        queue = deque([label])
        while queue:
            node = queue.popleft()
            for parent in parents.get(node, ()):
                if parent not in distance:
                    distance[parent] = distance[node] + 1
                    queue.append(parent)
        rows += [(label, a, d) for a, d in sorted(distance.items()) if d > 0 and a != root]
    return rows


def parts(edges: Iterable[Edge]) -> list[tuple[str, str]]:
    """(part, whole) for every distinct part-of edge."""
    return sorted({(child, parent) for parent, child, relation in edges if relation == "part"})


def paths(edges: Iterable[Edge], root: str, names: dict[str, str]) -> list[tuple[str, str, int]]:
    """(label, readable path from the root, depth): one row per distinct subcategory path."""
    children: dict[str, list[str]] = defaultdict(list)
    for parent, child, relation in edges:
        if relation == "subcategory":
            children[parent].append(child)
    rows: set[tuple[str, str, int]] = set()

    def name(mid: str) -> str:
        return names.get(mid) or mid

    stack = [(root, name(root), 0)]
    while stack:
        node, path, depth = stack.pop()
        for child in children.get(node, ()):
            child_path = f"{path} > {name(child)}"
            rows.add((child, child_path, depth + 1))
            stack.append((child, child_path, depth + 1))
    return sorted(rows)
