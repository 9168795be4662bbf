"""Write the tables read whole: classes, the other metadata tables, the hierarchy and the class graph."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.build.plan import Planned
from pipeline.core.contract import FileReport
from pipeline.core.layout import file_path
from pipeline.core.schema import table_schema
from pipeline.families import dimensions
from pipeline.families.hierarchy import Hierarchy
from pipeline.write.parquet_writer import PartWriter


def whole_table_path(table: str) -> str:
    """The one file of a table written whole, relative to its release."""
    return file_path(table_schema(table), f"{table}.parquet")


def write_hierarchy(staging: Path, planned: Planned) -> FileReport:
    assert planned.hierarchy is not None
    hierarchy = planned.hierarchy
    frame = dimensions.hierarchy_frame(hierarchy)
    write_table(staging, "hierarchy", frame)
    file = planned.file
    return FileReport(
        family=file.official.family, split=None, file=file.name, table="hierarchy", path=file.display_path,
        bytes=file.size or 0, md5=planned.md5, rows_read=hierarchy.edge_occurrences, rows_written=frame.height,
        rows_duplicate=hierarchy.edge_occurrences - frame.height, output=whole_table_path("hierarchy"),
    )  # fmt: skip


def write_table(staging: Path, table: str, frame: pl.DataFrame) -> None:
    schema = table_schema(table)
    if schema.sort_by:
        frame = frame.sort(list(schema.sort_by), maintain_order=True)
    writer = PartWriter(staging / whole_table_path(table), schema)
    writer.write(frame.to_arrow())
    writer.close()


def write_class_graph(staging: Path, hierarchy: Hierarchy, classes: pl.DataFrame | None) -> None:
    """``class_ancestors``, ``class_parts`` and ``class_paths`` from the hierarchy edges."""
    names = {dimensions.ROOT_MID: dimensions.ROOT_NAME}
    if classes is not None:
        names |= {m: n for m, n in classes.select("label_mid", "display_name").iter_rows() if n is not None}
    for table, frame in dimensions.class_graph_frames(hierarchy, names).items():
        write_table(staging, table, frame)


def write_small_tables(staging: Path, small: dict[str, list[tuple[pl.DataFrame, FileReport]]]) -> pl.DataFrame | None:
    """Write the metadata tables; returns ``classes`` when any class file was read."""
    class_families = {"classes", *dimensions.LIST_FLAGS}
    classes = None
    lists = {
        family: pl.concat([frame for frame, _ in parts]) for family, parts in small.items() if family in class_families
    }
    if lists:
        classes = dimensions.build_classes(lists)
        write_table(staging, "classes", classes)
        for family in lists:
            for part, report in small[family]:
                report.rows_written = part.get_column("label_mid").n_unique()
                report.rows_duplicate = part.height - report.rows_written
                report.output = whole_table_path("classes")
    for family, parts in small.items():
        if family in class_families:
            continue
        table = parts[0][1].table
        frame = pl.concat([frame for frame, _ in parts])
        write_table(staging, table, frame)
        for part, report in parts:
            report.rows_written = part.height
            report.output = whole_table_path(table)
    return classes
