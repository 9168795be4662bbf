"""The class explorer's and the hierarchy's data: every class with its counts per split, the subcategory
tree, the closure (ancestors, descendants), part-of edges and the counts with descendants.

Classes are numbered once (``mids``): the other lists refer to a class by its position there, which
keeps the page small with 20,000 classes.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.official import SPLITS
from pipeline.query.api import Lake
from pipeline.report.rows import records

# class_stats columns in the order of a stats row, after the class and split positions
METRICS = ("images", "boxes", "masks", "relationships", "positive_labels", "negative_labels", "machine_labels")
FLAGS = ("is_boxable", "is_trainable", "is_segmentable")  # bit 0, 1, 2 of a class's flags
ROOT_SQL = "select parent_mid from hierarchy except select child_mid from hierarchy"


def class_section(lake: Lake) -> dict[str, Any]:
    """Every class of ``class_stats`` or of the hierarchy: names, list flags, one stats row per split."""
    classes = records(
        lake,
        f"""
        with mids as (
            select label_mid from class_stats
            union select parent_mid from hierarchy union select child_mid from hierarchy
        )
        select m.label_mid, coalesce(c.display_name, m.label_mid) as name,
            {" + ".join(f"(coalesce(c.{flag}, false)::int << {bit})" for bit, flag in enumerate(FLAGS))} as flags
        from mids m left join classes c using (label_mid)
        order by m.label_mid
        """,
    )
    position = {c["label_mid"]: i for i, c in enumerate(classes)}
    splits = [s for s in SPLITS if s in {r["split"] for r in records(lake, "select distinct split from class_stats")}]
    split_position = {s: i for i, s in enumerate(splits)}
    stats = records(lake, f"select label_mid, split, {', '.join(METRICS)} from class_stats order by label_mid, split")
    return {
        "mids": [c["label_mid"] for c in classes],
        "names": [c["name"] for c in classes],
        "flags": [c["flags"] for c in classes],
        "flag_names": list(FLAGS),
        "splits": splits,
        "metrics": list(METRICS),
        "stats": [
            [position[r["label_mid"]], split_position[r["split"]], *(r[m] for m in METRICS)]
            for r in stats
            if r["split"] in split_position
        ],
    }


def hierarchy_section(lake: Lake, mids: list[str]) -> dict[str, Any]:
    """The hierarchy over the numbered classes: edges, closure, parts, readable paths, counts with descendants."""
    position = {mid: i for i, mid in enumerate(mids)}
    root = records(lake, ROOT_SQL)
    edges = records(lake, "select parent_mid, child_mid from hierarchy where relation = 'subcategory' order by all")
    parts = records(lake, "select part_mid, whole_mid from class_parts order by all")
    closure = records(lake, "select label_mid, ancestor_mid, distance from class_ancestors order by all")
    paths = records(lake, "select label_mid, path from class_paths order by label_mid, path")
    return {
        "root": position[root[0]["parent_mid"]] if root else None,
        "edges": [[position[e["parent_mid"]], position[e["child_mid"]]] for e in edges],
        "parts": [[position[p["part_mid"]], position[p["whole_mid"]]] for p in parts],
        "ancestors": [[position[a["label_mid"]], position[a["ancestor_mid"]], a["distance"]] for a in closure],
        "paths": [[position[p["label_mid"]], p["path"]] for p in paths],
        "totals": [
            [position[t["label_mid"]], *(t[k] for k in TOTALS)]
            for t in with_descendants(lake)
            if t["label_mid"] in position
        ],
        "total_names": list(TOTALS),
    }


TOTALS = (
    "descendants",
    "boxes",
    "boxes_with_descendants",
    "masks",
    "masks_with_descendants",
    "positive_labels",
    "positive_labels_with_descendants",
)


def with_descendants(lake: Lake) -> list[dict[str, Any]]:
    """Per hierarchy class: its own boxes, masks and positive labels, and the sums over it and every
    subcategory descendant (each once). The root counts every class as its descendant.

    Boxes with descendants equal the class's rows in ``boxes_expanded``; labels are annotation sums
    (an image labelled with a class and its child counts twice).
    """
    return records(
        lake,
        f"""
        with own as (
            select label_mid, sum(boxes) as boxes, sum(masks) as masks, sum(positive_labels) as positive_labels
            from class_stats group by label_mid
        ),
        nodes as (select parent_mid as label_mid from hierarchy union select child_mid from hierarchy),
        root as ({ROOT_SQL}),
        members as (
            select label_mid as node, label_mid as member from nodes
            union all select ancestor_mid, label_mid from class_ancestors
            union all select r.parent_mid, n.label_mid from root r, nodes n where n.label_mid <> r.parent_mid
        )
        select m.node as label_mid, count(*) - 1 as descendants,
            coalesce(sum(o.boxes) filter (where m.node = m.member), 0) as boxes,
            coalesce(sum(o.boxes), 0) as boxes_with_descendants,
            coalesce(sum(o.masks) filter (where m.node = m.member), 0) as masks,
            coalesce(sum(o.masks), 0) as masks_with_descendants,
            coalesce(sum(o.positive_labels) filter (where m.node = m.member), 0) as positive_labels,
            coalesce(sum(o.positive_labels), 0) as positive_labels_with_descendants
        from members m left join own o on o.label_mid = m.member
        group by m.node
        order by m.node
        """,
    )
