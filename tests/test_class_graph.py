"""The class hierarchy as a graph: input checks, closure, parts, paths; genuine and random DAGs."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.core.errors import InputFormatError
from pipeline.families.class_graph import ancestors, parts, paths
from pipeline.families.hierarchy import ROOT_MID, parse_hierarchy
from tests.conftest import SHARED, WriteSource, build, query

GENUINE = SHARED / "metadata" / "bbox_labels_600_hierarchy.json"
needs_shared = pytest.mark.skipif(not GENUINE.exists(), reason="../shared/openimages is not beside the project")


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/a", "Subcategory": [{"LabelName": "/m/0bl9f"}]}]},
         "x.json: $.Subcategory[0].Subcategory[0]: cycle in the hierarchy: /m/0bl9f > /m/a > /m/0bl9f"),
        ({"LabelName": "/m/0bl9f", "Subcategory": [{"Subcategory": []}]},
         "x.json: $.Subcategory[0]: LabelName missing or not a MID (found None)"),
        ({"LabelName": "/m/0bl9f", "Part": [{"LabelName": "/m/a", "Parts": []}]},
         "x.json: $.Part[0]: unknown key(s) Parts; expected LabelName, Subcategory, Part"),
        ({"LabelName": "/m/0bl9f", "Subcategory": {"LabelName": "/m/a"}}, "x.json: $.Subcategory: expected a list"),
        ([], "x.json: $: expected an object with LabelName"),
        ({"LabelName": "/m/r", "Subcategory": [{"LabelName": "/m/a"}]},
         "x.json: $: the root is /m/r; expected /m/0bl9f (Entity), the root of Open Images"),
    ],
)  # fmt: skip
def test_hierarchy_errors_name_the_json_path(tree: object, message: str) -> None:
    with pytest.raises(InputFormatError) as error:
        parse_hierarchy("x.json", json.dumps(tree).encode())
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"LabelName": "/m/0bl9f", "LabelName": "/m/a"}',
         "x.json: $: duplicate key 'LabelName' in one object (only the last would be kept)"),
        ('{"LabelName": "/m/0bl9f", "Part": [{"LabelName": "/m/a", "Part": [], "Part": [{"LabelName": "/m/b"}]}]}',
         "x.json: $.Part[0]: duplicate key 'Part' in one object (only the last would be kept)"),
    ],
)  # fmt: skip
def test_duplicate_keys_are_refused_with_their_json_path(text: str, message: str) -> None:
    with pytest.raises(InputFormatError) as error:
        parse_hierarchy("x.json", text.encode())
    assert str(error.value) == message


def _chain(depth: int) -> dict:
    """A hierarchy ``depth`` classes deep under the root: one chain of subcategories."""
    node: dict = {"LabelName": "/m/leaf"}
    for i in range(depth):
        node = {"LabelName": f"/m/c{i}", "Subcategory": [node]}
    return {"LabelName": ROOT_MID, "Subcategory": [node]}


def test_a_deep_hierarchy_is_walked_without_recursion() -> None:
    hierarchy = parse_hierarchy("x.json", json.dumps(_chain(98)).encode())  # 199 JSON levels: under the limit
    assert (hierarchy.nodes, hierarchy.edge_occurrences) == (100, 99)
    assert hierarchy.edges[0] == ("/m/c0", "/m/leaf", "subcategory")  # post-order: deepest edge first


def test_a_hierarchy_nested_too_deep_is_a_named_error_not_a_recursion_error() -> None:
    depth = 5000  # classes: 2 JSON levels each (an object and its Subcategory list), the root's 2, the leaf's 1
    text = (
        '{"LabelName": "/m/0bl9f", "Subcategory": ['
        + "".join(f'{{"LabelName": "/m/c{i}", "Subcategory": [' for i in range(depth))
        + '{"LabelName": "/m/leaf"}'
        + "]}" * (depth + 1)
    )
    brackets = [i for i, c in enumerate(text) if c in "[{"]
    with pytest.raises(InputFormatError) as error:
        parse_hierarchy("x.json", text.encode())
    assert str(error.value) == (
        f"x.json: line 1 column {brackets[200] + 1}: JSON nested {2 * depth + 3} levels deep (objects and lists); "
        "expected at most 200 (the official hierarchy nests 11)"
    )


def test_bad_hierarchy_stops_the_build_before_any_work(write_source: WriteSource, tmp_path: Path) -> None:
    tree = {"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/0bl9f"}]}
    with pytest.raises(InputFormatError, match="cycle"):
        build(write_source({"bbox_labels_600_hierarchy.json": json.dumps(tree)}), tmp_path / "lake")
    assert not (tmp_path / "lake").exists()


DIAMOND = [
    (ROOT_MID, "/m/a", "subcategory"),
    ("/m/a", "/m/b", "subcategory"),
    ("/m/a", "/m/c", "subcategory"),
    ("/m/b", "/m/d", "subcategory"),
    ("/m/c", "/m/d", "subcategory"),
    ("/m/a", "/m/p", "part"),
    ("/m/p", "/m/q", "subcategory"),
]


def test_closure_takes_shortest_distance_once_and_skips_root_and_parts() -> None:
    assert ancestors(DIAMOND, ROOT_MID) == [
        ("/m/b", "/m/a", 1),
        ("/m/c", "/m/a", 1),
        ("/m/d", "/m/a", 2),
        ("/m/d", "/m/b", 1),
        ("/m/d", "/m/c", 1),
        ("/m/q", "/m/p", 1),
    ]
    assert parts(DIAMOND) == [("/m/p", "/m/a")]


def test_paths_follow_every_parent() -> None:
    names = {ROOT_MID: "Entity", "/m/a": "A", "/m/b": "B", "/m/c": "C", "/m/d": "D"}
    assert [p for p in paths(DIAMOND, ROOT_MID, names) if p[0] == "/m/d"] == [
        ("/m/d", "Entity > A > B > D", 3),
        ("/m/d", "Entity > A > C > D", 3),
    ]


@needs_shared
def test_genuine_hierarchy() -> None:
    hierarchy = parse_hierarchy(GENUINE.name, GENUINE.read_bytes())
    assert (hierarchy.nodes, hierarchy.edge_occurrences, len(hierarchy.edges)) == (848, 847, 685)
    relations = defaultdict(int)
    for _, _, relation in hierarchy.edges:
        relations[relation] += 1
    assert dict(relations) == {"subcategory": 647, "part": 38}
    closure = ancestors(hierarchy.edges, ROOT_MID)
    assert len(closure) == 920
    assert len({(label, ancestor) for label, ancestor, _ in closure}) == 920
    chopsticks = [(a, d) for label, a, d in closure if label == "/m/01_5g"]
    assert chopsticks == [("/m/03_wxk", 2), ("/m/03hlz0c", 1), ("/m/04brg2", 1), ("/m/07k1x", 2)]
    all_paths = paths(hierarchy.edges, ROOT_MID, {})
    assert max(depth for _, _, depth in all_paths) == 5
    boxable = {
        line.split(",")[0] for line in (SHARED / "metadata" / "class-descriptions-boxable.csv").read_text().splitlines()
    }
    assert boxable - {label for label, _, _ in all_paths} == set(), "every boxable class reaches the root"


def _random_tree(rng: random.Random, mids: list[str]) -> dict:
    """A hierarchy JSON written as a tree: a DAG's nodes copied under each of their parents."""
    parents = {mid: rng.sample(mids[:i], k=min(i, rng.choice([1, 1, 2, 3]))) for i, mid in enumerate(mids) if i}
    children = defaultdict(list)
    for child, ps in parents.items():
        for parent in ps:
            children[parent].append(child)
    roots = [m for m in mids if not parents.get(m)]
    splits = {mid: rng.randint(0, len(kids)) for mid, kids in children.items()}  # one relation per edge

    def node(mid: str) -> dict:
        out: dict = {"LabelName": mid}
        kids = children.get(mid, [])
        split = splits.get(mid, 0)
        if kids[:split]:
            out["Subcategory"] = [node(k) for k in kids[:split]]
        if kids[split:]:
            out["Part"] = [node(k) for k in kids[split:]]
        return out

    return {"LabelName": ROOT_MID, "Subcategory": [node(r) for r in roots]}


def _naive_ancestors(tree: dict) -> set[tuple[str, str, int]]:
    """Independent: every root-to-node walk of the written tree, subcategory only, min distance per pair."""
    best: dict[tuple[str, str], int] = {}

    def walk(node: dict, path: list[str]) -> None:
        for child in node.get("Subcategory", []):
            chain = [*path, node["LabelName"]]
            for distance, ancestor in enumerate(reversed(chain), start=1):
                if ancestor != ROOT_MID:
                    key = (child["LabelName"], ancestor)
                    best[key] = min(best.get(key, distance), distance)
            walk(child, chain)
        for child in node.get("Part", []):
            walk(child, [])

    walk(tree, [])
    return {(label, ancestor, d) for (label, ancestor), d in best.items()}


@pytest.mark.parametrize("seed", range(25))
def test_closure_matches_a_naive_walk_on_random_dags(seed: int) -> None:
    rng = random.Random(seed)
    tree = _random_tree(rng, [f"/m/n{i}" for i in range(rng.randint(2, 14))])
    hierarchy = parse_hierarchy("random.json", json.dumps(tree).encode())
    assert set(ancestors(hierarchy.edges, ROOT_MID)) == _naive_ancestors(tree)


@pytest.mark.parametrize("seed", range(6))
def test_expanded_views_match_a_naive_expansion_on_random_dags(
    seed: int, write_source: WriteSource, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    mids = [f"/m/n{i}" for i in range(10)]
    tree = _random_tree(rng, mids)
    boxes = sorted((f"{rng.randrange(4):016x}", rng.choice(mids)) for _ in range(20))
    labels = sorted({(f"{rng.randrange(4):016x}", rng.choice(mids), rng.choice("01")) for _ in range(20)})
    header_boxes = (
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
    )
    source = write_source(
        {
            "bbox_labels_600_hierarchy.json": json.dumps(tree),
            "validation-annotations-bbox.csv": header_boxes
            + "\n"
            + "".join(f"{i},xclick,{m},1,0.1,0.2,0.3,0.4,0,0,0,0,0\n" for i, m in boxes),
            "validation-annotations-human-imagelabels.csv": "ImageID,Source,LabelName,Confidence\n"
            + "".join(f"{i},verification,{m},{c}\n" for i, m, c in labels),
        }
    )
    build(source, tmp_path / "lake")
    closure = _naive_ancestors(tree)
    up = defaultdict(set)
    for label, ancestor, _ in closure:
        up[label].add(ancestor)
    down = defaultdict(set)
    for label, ancestor, _ in closure:
        down[ancestor].add(label)

    expected_boxes = sorted((i, m) for i, own in boxes for m in [own, *up[own]])
    got_boxes = query(tmp_path / "lake", "select image_id, label_mid from boxes_expanded order by all").rows()
    assert got_boxes == expected_boxes

    expected_labels = sorted({(i, m, c) for i, own, c in labels for m in [own, *(up[own] if c == "1" else down[own])]})
    got_labels = query(
        tmp_path / "lake",
        "select image_id, label_mid, confidence::int::varchar from image_labels_expanded order by all",
    ).rows()
    assert got_labels == expected_labels
