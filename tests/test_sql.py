"""Every view and macro of the query layer (sql/), with asserted values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from pipeline.catalog.views import leading_comment, sql_files
from pipeline.query.labels import UnknownClassError, select_classes
from tests.conftest import BOX_HEADER, LABEL_HEADER, WriteSource, build, query

ROOT = "/m/0bl9f"
# Entity > Animal > Carnivore > Cat; Entity > Animal > Dog; Animal has the part Paw.
TREE = {
    "LabelName": ROOT,
    "Subcategory": [
        {
            "LabelName": "/m/animal",
            "Subcategory": [
                {"LabelName": "/m/carnivore", "Subcategory": [{"LabelName": "/m/cat"}]},
                {"LabelName": "/m/dog"},
            ],
            "Part": [{"LabelName": "/m/paw"}],
        },
        {"LabelName": "/m/paw"},
    ],
}
CLASSES = (
    "LabelName,DisplayName\n/m/animal,Animal\n/m/carnivore,Carnivore\n/m/cat,Cat\n/m/dog,Dog\n/m/paw,Paw\n"
    '/m/car,"Car, toy"\n'
)


def _box(image: int, mid: str) -> str:
    return f"{image:016x},xclick,{mid},1,0.1,0.2,0.3,0.4,0,0,0,0,0\n"


@pytest.fixture
def tiny_lake(write_source: WriteSource, tmp_path: Path) -> Path:
    source = write_source(
        {
            "bbox_labels_600_hierarchy.json": json.dumps(TREE),
            "oidv6-class-descriptions.csv": CLASSES,
            "oidv6-attributes-description.csv": "/m/wood,Wooden\n",
            "oidv6-relationships-description.csv": "is,is\non,on (top of)\n",
            "validation-annotations-bbox.csv": BOX_HEADER
            + "\n"
            + _box(1, "/m/cat")
            + _box(1, "/m/paw")
            + _box(2, "/m/nameless"),
            "validation-annotations-human-imagelabels.csv": LABEL_HEADER + "\n"
            "0000000000000001,verification,/m/cat,1\n"
            "0000000000000001,crowdsource-verification,/m/cat,1\n"
            "0000000000000002,verification,/m/animal,0\n",
            "validation-annotations-machine-imagelabels.csv": LABEL_HEADER + "\n0000000000000001,machine,/m/dog,0.7\n",
            "oidv6-validation-annotations-vrd.csv": "ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,XMin2,XMax2,YMin2,YMax2,RelationshipLabel\n"
            "0000000000000001,/m/cat,/m/wood,0.1,0.2,0.3,0.4,0.1,0.2,0.3,0.4,is\n"
            "0000000000000001,/m/cat,/m/dog,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,on\n",
        }
    )
    lake = tmp_path / "lake"
    build(source, lake)
    return lake


def test_every_sql_file_is_documented() -> None:
    files = sql_files()
    assert [f.stem for f in files] == [
        "boxes_named", "class_ancestors_named", "class_parts_named", "hierarchy_named", "image_labels_named",
        "mask_orphans", "masks_named", "masks_pixels_named", "relationships_named", "boxes_expanded", "image_labels_expand", "image_labels_expanded",
        "class_mids", "attribute_rates_live", "box_geometry_live", "class_stats_live", "image_summary_live",
        "mask_stats_live", "relationship_stats_live",
        "image_list",
    ]  # fmt: skip
    for path in files:
        assert len(leading_comment(path.read_text())) > 30, path


# Portable style (sql/README.md): what DuckDB accepts but Spark or Trino would not, where a portable
# form reads as well. Checked on the text outside comments and string literals.
STYLE_RULES = {
    "no dangling comma before `from` or `)`": re.compile(r",\s*(\bfrom\b|\))"),
    "columns listed, not `group by all` / `order by all`": re.compile(r"\b(group|order)\s+by\s+all\b"),
    "`<>`, not `!=`": re.compile(r"!="),
    "`cast(x as type)`, not `x::type`": re.compile(r"::"),
    "lowercase keywords and names": re.compile(r"[A-Z]"),
}


def _code(text: str) -> str:
    """``text`` without its comments and with every string literal emptied."""
    return re.sub(r"'(?:[^']|'')*'|--[^\n]*", lambda m: "''" if m.group().startswith("'") else "", text)


@pytest.mark.parametrize("path", sql_files(), ids=lambda p: p.stem)
def test_sql_style(path: Path) -> None:
    code = _code(path.read_text(encoding="utf-8"))
    broken = {rule: found.group() for rule, pattern in STYLE_RULES.items() if (found := pattern.search(code))}
    assert broken == {}, path
    assert len(re.findall(r"^create or replace (?:view|macro)\b", code, flags=re.M)) == 1, "one view or macro"
    if re.search(r"\bwith\s*\n\s*\w+ as \(", code):
        assert code.rstrip().endswith("select * from final"), "CTEs, then `select * from final`"


def test_sql_style_rules_catch_what_they_name() -> None:
    bad = "select a, b,\nfrom t group by all having a != 1 and b::int = 1 and c = 'ok, from' -- A comment, from\nWHERE"
    assert {rule for rule, pattern in STYLE_RULES.items() if pattern.search(_code(bad))} == set(STYLE_RULES)
    assert _code("select 'It''s, from' -- X, from\nfrom t") == "select '' \nfrom t"


def test_named_views(tiny_lake: Path) -> None:
    assert query(tiny_lake, "select image_id_u64, label_mid, label_name from boxes_named order by all").rows() == [
        (1, "/m/cat", "Cat"),
        (1, "/m/paw", "Paw"),
        (2, "/m/nameless", None),
    ]
    assert query(tiny_lake, "select label_name, source from image_labels_named where image_id_u64 = 2").rows() == [
        ("Animal", "verification")
    ]
    assert query(
        tiny_lake, "select label_name_1, label_name_2, relationship_name from relationships_named order by all"
    ).rows() == [("Cat", "Dog", "on (top of)"), ("Cat", "Wooden", "is")]
    assert query(
        tiny_lake, "select parent_name, child_name from hierarchy_named where child_mid = '/m/paw' order by 1"
    ).rows() == [
        ("Animal", "Paw"),
        ("Entity", "Paw"),
    ]
    assert query(
        tiny_lake, "select label_name, ancestor_name, distance from class_ancestors_named order by all"
    ).rows() == [
        ("Carnivore", "Animal", 1),
        ("Cat", "Animal", 2),
        ("Cat", "Carnivore", 1),
        ("Dog", "Animal", 1),
    ]
    assert query(tiny_lake, "select part_name, whole_name from class_parts_named").rows() == [("Paw", "Animal")]
    assert query(tiny_lake, "select count(*) from masks_named").item() == 0


def test_unknown_mids_are_reported_and_kept(tiny_lake: Path) -> None:
    manifest = json.loads((tiny_lake / "_manifest.json").read_text())
    assert manifest["unknown_mids"]["classes"] == {"count": 1, "examples": ["/m/nameless"]}
    assert manifest["unknown_mids"]["attributes"] == {"count": 0, "examples": []}


def test_class_paths_and_root(tiny_lake: Path) -> None:
    assert query(tiny_lake, "select path, depth from class_paths where label_mid = '/m/cat'").rows() == [
        ("Entity > Animal > Carnivore > Cat", 3)
    ]
    assert query(
        tiny_lake, "select display_name, is_hierarchy_root from classes where label_mid = '/m/0bl9f'"
    ).rows() == [("Entity", True)]


def test_boxes_expanded_counts_each_ancestor_once_and_never_parts(tiny_lake: Path) -> None:
    rows = query(
        tiny_lake,
        "select label_mid, original_label_mid, is_expanded, distance, label_name from boxes_expanded "
        "where image_id_u64 = 1 order by original_label_mid, distance",
    ).rows()
    assert rows == [
        ("/m/cat", "/m/cat", False, 0, "Cat"),  # a 3-deep class gives exactly 3 rows
        ("/m/carnivore", "/m/cat", True, 1, "Carnivore"),
        ("/m/animal", "/m/cat", True, 2, "Animal"),
        ("/m/paw", "/m/paw", False, 0, "Paw"),  # a part is not counted as its whole
    ]
    assert query(tiny_lake, "select count(*) from boxes_expanded where image_id_u64 = 2").item() == 1


# The plain formulation the view replaced: each box's own row, then one row per ancestor, names joined last.
PLAIN_BOXES_EXPANDED = """
with unioned as (
    select boxes.* exclude (label_mid), boxes.label_mid, boxes.label_mid as original_label_mid,
        false as is_expanded, 0 as distance
    from boxes
    union all
    select boxes.* exclude (label_mid), class_ancestors.ancestor_mid as label_mid,
        boxes.label_mid as original_label_mid, true as is_expanded, class_ancestors.distance
    from boxes inner join class_ancestors on class_ancestors.label_mid = boxes.label_mid
)
select unioned.*, counted.display_name as label_name, original.display_name as original_label_name
from unioned
left join classes as counted on counted.label_mid = unioned.label_mid
left join classes as original on original.label_mid = unioned.original_label_mid
"""


def test_boxes_expanded_equals_the_plain_union(write_source: WriteSource, tmp_path: Path) -> None:
    # /m/ghost is in the hierarchy (under Carnivore) but not in the class file; /m/nameless is in neither
    tree = json.loads(json.dumps(TREE))
    tree["Subcategory"][0]["Subcategory"][0]["Subcategory"].append({"LabelName": "/m/ghost"})
    boxes = [_box(1, "/m/cat"), _box(1, "/m/paw"), _box(2, "/m/nameless"), _box(3, "/m/ghost"), _box(3, "/m/dog")]
    source = write_source(
        {
            "bbox_labels_600_hierarchy.json": json.dumps(tree),
            "oidv6-class-descriptions.csv": CLASSES,
            "validation-annotations-bbox.csv": BOX_HEADER + "\n" + "".join(boxes),
            "test-annotations-bbox.csv": BOX_HEADER + "\n" + _box(4, "/m/carnivore") + _box(4, "/m/cat"),
        }
    )
    lake = tmp_path / "lake"
    build(source, lake)
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    assert [c[:2] for c in con.execute("describe boxes_expanded").fetchall()] == [
        c[:2] for c in con.execute(f"describe {PLAIN_BOXES_EXPANDED}").fetchall()
    ]
    view = sorted(con.execute("select * from boxes_expanded").fetchall(), key=repr)
    assert view == sorted(con.execute(PLAIN_BOXES_EXPANDED).fetchall(), key=repr)
    assert len(view) == 3 + 1 + 1 + 3 + 2 + 2 + 3  # cat 3, paw 1, nameless 1, ghost 3, dog 2; carnivore 2, cat 3
    names = "select original_label_mid, label_mid, label_name, original_label_name from boxes_expanded"
    assert con.execute(f"{names} where image_id_u64 = 3 order by all").fetchall() == [
        ("/m/dog", "/m/animal", "Animal", "Dog"),
        ("/m/dog", "/m/dog", "Dog", "Dog"),
        ("/m/ghost", "/m/animal", "Animal", None),  # a class without a name still counts for its ancestors
        ("/m/ghost", "/m/carnivore", "Carnivore", None),
        ("/m/ghost", "/m/ghost", None, None),
    ]
    animal = "select split, original_label_mid, count(*) from boxes_expanded where label_name = 'Animal'"
    assert con.execute(f"{animal} group by split, original_label_mid order by all").fetchall() == [
        ("test", "/m/carnivore", 1),
        ("test", "/m/cat", 1),
        ("validation", "/m/cat", 1),
        ("validation", "/m/dog", 1),
        ("validation", "/m/ghost", 1),
    ]


def _boxes_scans(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """How many Parquet scans of ``boxes`` (the one base table here with a ``split`` column) ``sql``'s plan holds."""
    plan = json.loads(con.execute(f"explain (format json) {sql}").fetchall()[0][1])
    nodes = list(plan)
    scans = 0
    while nodes:
        node = nodes.pop()
        info = node.get("extra_info", {})
        projections = info.get("Projections", [])
        scans += info.get("Function") == "READ_PARQUET" and "split" in projections
        nodes += node.get("children", [])
    return scans


def test_a_label_name_filter_reads_the_boxes_once(tiny_lake: Path) -> None:
    con = duckdb.connect(str(tiny_lake / "lake.duckdb"), read_only=True)
    animal = "select split, count(*) from {} where label_name = 'Animal' group by split"
    assert _boxes_scans(con, animal.format("boxes_expanded")) == 1
    assert _boxes_scans(con, animal.format(f"({PLAIN_BOXES_EXPANDED})")) == 2  # the two-scan form it replaced


def test_image_labels_expanded(tiny_lake: Path) -> None:
    rows = query(
        tiny_lake,
        "select image_id_u64, source, label_mid, confidence, original_label_mid, is_expanded "
        "from image_labels_expanded order by all",
    ).rows()
    assert rows == [
        # positive Cat (written twice, by two sources) counts once for Cat and once for each ancestor
        (1, "crowdsource-verification", "/m/animal", 1.0, "/m/cat", True),
        (1, "crowdsource-verification", "/m/carnivore", 1.0, "/m/cat", True),
        (1, "crowdsource-verification", "/m/cat", 1.0, "/m/cat", False),
        (1, "machine", "/m/dog", pytest.approx(0.7), "/m/dog", False),  # machine: not expanded
        # negative Animal counts for every descendant
        (2, "verification", "/m/animal", 0.0, "/m/animal", False),
        (2, "verification", "/m/carnivore", 0.0, "/m/animal", True),
        (2, "verification", "/m/cat", 0.0, "/m/animal", True),
        (2, "verification", "/m/dog", 0.0, "/m/animal", True),
    ]
    machine = query(
        tiny_lake,
        "select label_mid, confidence from image_labels_expand(include_machine := true) where source = 'machine' order by 1",
    ).rows()
    assert machine == [("/m/animal", pytest.approx(0.7)), ("/m/dog", pytest.approx(0.7))]


def test_class_mids_macro(tiny_lake: Path) -> None:
    assert query(
        tiny_lake, "select label_mid, label_name, matched_name, is_descendant from class_mids(['cat'])"
    ).rows() == [("/m/cat", "Cat", "cat", False)]
    rows = query(
        tiny_lake, "select label_mid, is_descendant from class_mids(['ANIMAL'], include_descendants := true) order by 1"
    ).rows()
    assert rows == [("/m/animal", False), ("/m/carnivore", True), ("/m/cat", True), ("/m/dog", True)]
    assert query(tiny_lake, "select label_mid from class_mids(['Car, toy'])").item() == "/m/car"
    with pytest.raises(duckdb.Error, match=r'unknown class name\(s\): "Dgo" \(closest: Dog, '):
        query(tiny_lake, "select * from class_mids(['Dgo', 'Cat'])")


def test_select_classes_python(tiny_lake: Path) -> None:
    assert select_classes(tiny_lake, ["Carnivore"], include_descendants=True) == ["/m/carnivore", "/m/cat"]
    assert select_classes(tiny_lake, ["dog"]) == ["/m/dog"]
    with pytest.raises(UnknownClassError) as error:
        select_classes(tiny_lake, ["Dgo"])
    assert error.value.suggestions == {"Dgo": ["Dog"]}


def test_all_animals_in_validation_is_one_short_query(sample_lake: tuple[Path, dict[str, object]]) -> None:
    """The docs/labels.md query: every box of any kind of Animal in validation."""
    lake, _ = sample_lake
    boxes = query(
        lake,
        "select * from boxes_expanded where split = 'validation' and label_name = 'Animal'",
    )
    animals = set(select_classes(lake, ["Animal"], include_descendants=True))
    direct = query(lake, "select label_mid from boxes where split = 'validation'").to_series().to_list()
    assert boxes.height == sum(mid in animals for mid in direct) > 0


def test_unknown_mids_are_reported_without_any_class_file(write_source: WriteSource, tmp_path: Path) -> None:
    build(write_source({"validation-annotations-bbox.csv": BOX_HEADER + "\n" + _box(1, "/m/cat")}), tmp_path / "lake")
    manifest = json.loads((tmp_path / "lake" / "_manifest.json").read_text())
    assert manifest["unknown_mids"]["classes"] == {"count": 1, "examples": ["/m/cat"]}
