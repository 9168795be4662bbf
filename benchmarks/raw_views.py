"""The lake's tables as views over the raw official files, for the query benchmark.

``open_raw(folder)`` gives an in-memory DuckDB connection where every lake table is a view over the
official files themselves (``read_csv`` / ``read_json`` / ``read_text``), doing at query time what
the build does once: the same column names and types, ``-1`` flags and XClicks to NULL, the uint64
image ID, ``-boxable`` rows the full file already holds left out, the merged ``classes`` table and
the hierarchy closure (a recursive CTE over the JSON). The layered views of ``sql/`` are then loaded
on top unchanged, so both sides run the very same query text.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from benchmarks.inputs import find_files
from pipeline.catalog.views import LIVE, mask_archives_sql, sql_files
from pipeline.core.layout import partition_fields
from pipeline.core.schema import all_schemas, mart_schemas
from pipeline.families.hierarchy import ROOT_MID

FLOAT = "FLOAT"
FLAGS = ("IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")
XCLICKS = ("XClick1X", "XClick2X", "XClick3X", "XClick4X", "XClick1Y", "XClick2Y", "XClick3Y", "XClick4Y")
BOX_COORDS = ("XMin", "XMax", "YMin", "YMax")
CLICK_TYPE = "STRUCT(x FLOAT, y FLOAT, positive BOOLEAN)[]"
NARRATIVE_COLUMNS = {
    "dataset_id": "VARCHAR",
    "image_id": "VARCHAR",
    "annotator_id": "BIGINT",
    "caption": "VARCHAR",
    "timed_caption": "STRUCT(utterance VARCHAR, start_time FLOAT, end_time FLOAT)[]",
    "traces": "STRUCT(x FLOAT, y FLOAT, t FLOAT)[][]",
    "voice_recording": "VARCHAR",
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _snake(name: str) -> str:
    """``XClick1X`` → ``x_click_1x``, ``IsGroupOf`` → ``is_group_of``, ``XMin1`` → ``x_min_1``."""
    out = ""
    for i, ch in enumerate(name):
        following = name[i + 1] if i + 1 < len(name) else ""
        word = ch.isupper() and (name[i - 1].islower() or (name[i - 1].isupper() and following.islower()))
        number = ch.isdigit() and not name[i - 1].isdigit()
        if i and (word or number):
            out += "_"
        out += ch.lower()
    return out


def read_csv(path: Path, columns: dict[str, str], header: bool = True, nullstr: str | None = None) -> str:
    """A ``read_csv`` call with the dialect and every column given (the sniffer fails on some official files)."""
    cols = "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in columns.items()) + "}"
    extra = f", nullstr = {_quote(nullstr)}" if nullstr is not None else ""
    return (
        f"read_csv({_quote(str(path))}, header = {str(header).lower()}, columns = {cols}, delim = ',', "
        f"quote = '\"', escape = '\"', strict_mode = false{extra})"
    )


def _id_columns(field: str = "ImageID") -> str:
    return f"{field} as image_id, ('0x' || {field})::UBIGINT as image_id_u64"


def boxes_select(path: Path, split: str, xclick: bool) -> str:
    columns = {"ImageID": "VARCHAR", "Source": "VARCHAR", "LabelName": "VARCHAR", "Confidence": FLOAT}
    columns |= dict.fromkeys(BOX_COORDS, FLOAT) | dict.fromkeys(FLAGS, "TINYINT")
    if xclick:
        columns |= dict.fromkeys(XCLICKS, FLOAT)
    coords = ", ".join(f"{c} as {_snake(c)}" for c in BOX_COORDS)
    flags = ", ".join(f"nullif({f}, -1)::BOOLEAN as {_snake(f)}" for f in FLAGS)
    clicks = ", ".join(
        (f"nullif({c}, -1) as {_snake(c)}" if xclick else f"NULL::FLOAT as {_snake(c)}") for c in XCLICKS
    )
    return (
        f"select {_id_columns()}, Source as source, LabelName as label_mid, Confidence as confidence, {coords}, "
        f"{flags}, {clicks}, {_quote(split)} as split from {read_csv(path, columns)}"
    )


def masks_select(path: Path, split: str) -> str:
    columns = {"MaskPath": "VARCHAR", "ImageID": "VARCHAR", "LabelName": "VARCHAR", "BoxID": "VARCHAR"}
    columns |= dict.fromkeys(("BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax", "PredictedIoU"), FLOAT)
    columns["Clicks"] = "VARCHAR"
    click = (
        "{'x': split_part(c, ' ', 1)::FLOAT, 'y': split_part(c, ' ', 2)::FLOAT, "
        "'positive': split_part(c, ' ', 3) = '1'}"
    )
    clicks = (
        f"case when coalesce(Clicks, '') = '' then []::{CLICK_TYPE} "
        f"else list_transform(string_split(Clicks, ';'), lambda c: {click})::{CLICK_TYPE} end as clicks"
    )
    return (
        f"select {_id_columns()}, MaskPath as mask_path, LabelName as label_mid, BoxID as box_id, "
        "BoxXMin as box_x_min, BoxXMax as box_x_max, BoxYMin as box_y_min, BoxYMax as box_y_max, "
        f"PredictedIoU as predicted_iou, {clicks}, {_quote(split)} as split from {read_csv(path, columns)}"
    )


def relationships_select(path: Path, split: str) -> str:
    coords = [f"{c}{i}" for i in (1, 2) for c in BOX_COORDS]
    columns = {"ImageID": "VARCHAR", "LabelName1": "VARCHAR", "LabelName2": "VARCHAR"}
    columns |= dict.fromkeys(coords, FLOAT) | {"RelationshipLabel": "VARCHAR"}
    named = ", ".join(f"{c} as {_snake(c)}" for c in coords)
    return (
        f"select {_id_columns()}, LabelName1 as label_mid_1, LabelName2 as label_mid_2, {named}, "
        f"RelationshipLabel as relationship, {_quote(split)} as split from {read_csv(path, columns)}"
    )


def labels_select(path: Path, split: str) -> str:
    columns = {"ImageID": "VARCHAR", "Source": "VARCHAR", "LabelName": "VARCHAR", "Confidence": FLOAT}
    return (
        f"select {_id_columns()}, Source as source, LabelName as label_mid, Confidence as confidence, "
        f"{_quote(split)} as split from {read_csv(path, columns)}"
    )


IMAGE_FIELDS = (
    "ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL", "Author", "Title",
    "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation",
)  # fmt: skip


def images_select(path: Path, split: str) -> str:
    columns = {f: ("BIGINT" if f == "OriginalSize" else "VARCHAR") for f in IMAGE_FIELDS}
    # An empty field is an empty string (the lake keeps '' for title and author), never NULL.
    reader = read_csv(path, columns, nullstr="\x01never\x01")
    return (
        f"select {_id_columns()}, Subset as subset, OriginalURL as original_url, "
        "OriginalLandingURL as original_landing_url, License as license, AuthorProfileURL as author_profile_url, "
        "Author as author, Title as title, OriginalSize as original_size, OriginalMD5 as original_md5, "
        "nullif(Thumbnail300KURL, '') as thumbnail_300k_url, "
        "case when Rotation = '' or lower(Rotation) = 'nan' then NULL else Rotation::FLOAT end as rotation, "
        f"{_quote(split)} as split from {reader}"
    )


def narratives_select(path: Path, split: str) -> str:
    cols = "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in NARRATIVE_COLUMNS.items()) + "}"
    return (
        f"select {_id_columns('image_id')}, dataset_id, annotator_id, caption, timed_caption, traces, "
        f"voice_recording, {_quote(split)} as split "
        f"from read_json({_quote(str(path))}, format = 'newline_delimited', columns = {cols})"
    )


def human_parts_select(path: Path, split: str) -> str:
    return f"select {_id_columns()}, {_quote(split)} as split from {read_csv(path, {'ImageID': 'VARCHAR'}, False)}"


SELECTS: dict[str, Callable[[Path, str], str]] = {
    "masks": masks_select,
    "relationships": relationships_select,
    "image_labels_human": labels_select,
    "image_labels_human_boxable": labels_select,
    "image_labels_machine": labels_select,
    "images": images_select,
    "images_boxable": images_select,
    "narratives": narratives_select,
    "human_parts_images": human_parts_select,
}
# (subset family, superset family, key columns): as pipeline.build.overlap, rows of the subset file of a
# split that the superset file of the same split holds are left out.
OVERLAPS = (
    ("images_boxable", "images", ("image_id_u64",)),
    ("image_labels_human_boxable", "image_labels_human", ("image_id_u64", "source", "label_mid", "confidence")),
)
TABLE_FAMILIES = {
    "boxes": ("boxes",),
    "masks": ("masks",),
    "relationships": ("relationships",),
    "image_labels": ("image_labels_human", "image_labels_human_boxable", "image_labels_machine"),
    "images": ("images", "images_boxable"),
    "narratives": ("narratives",),
    "human_parts_images": ("human_parts_images",),
}


def _file_select(family: str, path: Path, split: str) -> str:
    if family == "boxes":
        return boxes_select(path, split, xclick=_has_xclick(path))
    return SELECTS[family](path, split)


def _has_xclick(path: Path) -> bool:
    """Whether a box file has the XClick columns (the train file has, validation and test have not)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return "XClick1X" in handle.readline()


def split_table_sql(table: str, files: dict[tuple[str, str | None], list[Path]]) -> str | None:
    """The ``select`` of a per-split table over its raw files, or None when none is present."""
    parts = []
    for split in ("train", "validation", "test"):
        selects = {
            family: " union all ".join(_file_select(family, p, split) for p in files.get((family, split), []))
            for family in TABLE_FAMILIES[table]
            if files.get((family, split))
        }
        for subset, superset, keys in OVERLAPS:
            if subset in selects and superset in selects:
                join = " and ".join(f"s.{k} = f.{k}" for k in keys)
                selects[subset] = (
                    f"select s.* from ({selects[subset]}) as s anti join ({selects[superset]}) as f on {join}"
                )
        parts += [f"({s})" for s in selects.values()]
    return " union all ".join(parts) if parts else None


def _list_select(files: dict, family: str, header: bool, columns: dict[str, str]) -> str | None:
    paths = files.get((family, None))
    return read_csv(paths[0], columns, header) if paths else None


def classes_sql(files: dict[tuple[str, str | None], list[Path]]) -> str:
    """``classes`` as the build merges it (see ``pipeline.families.dimensions.build_classes``)."""
    two = {"LabelName": "VARCHAR", "DisplayName": "VARCHAR"}
    one = {"LabelName": "VARCHAR"}
    named = [
        (rank, reader)
        for rank, reader in enumerate(
            (_list_select(files, "classes", True, two), _list_select(files, "classes_boxable", False, two))
        )
        if reader
    ]
    lists = {
        "is_boxable": _list_select(files, "classes_boxable", False, two),
        "is_trainable": _list_select(files, "classes_trainable", False, one),
        "is_segmentable": _list_select(files, "classes_segmentable", False, one),
        "is_human_parts_class": _list_select(files, "human_parts_classes", False, one),
    }
    readers = [r for _, r in named] + [r for r in lists.values() if r]
    every = [f"select LabelName from {r}" for r in readers]
    every.append(f"select {_quote(ROOT_MID)} as LabelName")
    names = (
        " union all ".join(
            f"select LabelName, DisplayName, {rank} as file_rank, ordinality from {reader} with ordinality"
            for rank, reader in named
        )
        if named
        else "select NULL::VARCHAR as LabelName, NULL::VARCHAR as DisplayName, 0 as file_rank, 0 as ordinality"
    )
    flags = ", ".join(
        f"every.label_mid in (select LabelName from {reader}) as {flag}" if reader else f"NULL::BOOLEAN as {flag}"
        for flag, reader in lists.items()
    )
    return (
        f"with every as (select distinct LabelName as label_mid from ({' union all '.join(every)})), "
        f"names as (select LabelName, arg_min(DisplayName, (file_rank, ordinality)) as display_name "
        f"from ({names}) group by LabelName) "
        f"select every.label_mid, case when every.label_mid = {_quote(ROOT_MID)} "
        "then coalesce(names.display_name, 'Entity') else names.display_name end as display_name, "
        f"{flags}, every.label_mid = {_quote(ROOT_MID)} as is_hierarchy_root "
        "from every left join names on names.LabelName = every.label_mid"
    )


def hierarchy_sql(path: Path) -> str:
    """Distinct (parent, child, relation) edges of the hierarchy JSON, by a recursive walk of the tree."""
    lists = [
        f"list_transform(coalesce(json_extract(walk.node, '$.{key}[*]'), []), lambda x: {{'c': x, 'r': '{rel}'}})"
        for key, rel in (("Subcategory", "subcategory"), ("Part", "part"))
    ]
    children = f"list_concat({', '.join(lists)})"
    return (
        "with recursive walk(node, parent_mid, relation) as ("
        f"select content::JSON, NULL::VARCHAR, NULL::VARCHAR from read_text({_quote(str(path))}) "
        "union all "
        f"select t.child.c, walk.node ->> 'LabelName', t.child.r from walk, unnest({children}) as t(child)) "
        "select distinct parent_mid, node ->> 'LabelName' as child_mid, relation from walk where parent_mid is not null"
    )


CLASS_ANCESTORS_SQL = f"""
with recursive closure(label_mid, ancestor_mid, distance) as (
    select child_mid, parent_mid, 1 from hierarchy where relation = 'subcategory'
    union
    select closure.label_mid, hierarchy.parent_mid, closure.distance + 1
    from closure join hierarchy on hierarchy.child_mid = closure.ancestor_mid and hierarchy.relation = 'subcategory'
)
select label_mid, ancestor_mid, min(distance)::INTEGER as distance
from closure where ancestor_mid <> {_quote(ROOT_MID)} group by all
"""

SMALL_TABLES = {
    "attributes": ("attributes", False, ("attribute_mid", "display_name")),
    "relationship_names": ("relationship_names", False, ("relationship", "display_name")),
    "relationship_triplets": ("relationship_triplets", True, ("label_mid_1", "label_mid_2", "relationship")),
}


def raw_view_statements(folder: Path) -> list[str]:
    """``create view`` statements for every lake table the query layer uses, over the raw files."""
    files = find_files(folder)
    statements = []
    for table in TABLE_FAMILIES:
        select = split_table_sql(table, files)
        if select is not None:
            statements.append(f"create view {table} as {select}")
    statements.append(f"create view classes as {classes_sql(files)}")
    for table, (family, header, names) in SMALL_TABLES.items():
        reader = _list_select(files, family, header, {n: "VARCHAR" for n in names})
        if reader:
            statements.append(f"create view {table} as select * from {reader}")
    hierarchy = files.get(("hierarchy", None))
    if hierarchy:
        statements.append(f"create view hierarchy as {hierarchy_sql(hierarchy[0])}")
        statements.append(f"create view class_ancestors as {CLASS_ANCESTORS_SQL}")
        statements.append(
            "create view class_parts as select distinct child_mid as part_mid, parent_mid as whole_mid "
            "from hierarchy where relation = 'part'"
        )
    return statements


def open_raw(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose lake tables are views over the raw files, plus ``sql/``."""
    con = duckdb.connect()
    for statement in raw_view_statements(folder):
        con.execute(statement)
    _add_empty_tables(con)
    con.execute(mask_archives_sql([]))  # the mask archives are not read raw (make bench-masks measures them)
    for path in sql_files():
        con.execute(path.read_text(encoding="utf-8"))
    for mart in mart_schemas():  # recomputed from the raw files on every query, as the lake did before marts
        con.execute(f"create view {mart.table} as select * from {mart.table}{LIVE}")
    return con


def _add_empty_tables(con: duckdb.DuckDBPyConnection) -> None:
    """An empty table with the lake's columns for every table no file fed, as the catalog does."""
    present = {row[0] for row in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
    for name, schema in all_schemas().items():
        if name in present or schema.is_mart:  # marts are views of their live views here (open_raw)
            continue
        con.register("_empty", pa.schema([*schema.arrow, *partition_fields(schema)]).empty_table())
        con.execute(f"create table {name} as select * from _empty")
        con.unregister("_empty")
