"""The query benchmark: dashboard queries timed on the lake and over the raw files, their results compared.

Both sides run the very same query text: the lake through ``pipeline.query.api.open_lake``, the raw
files through the views of ``benchmarks.raw_views``. ``compare`` checks the results agree.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.raw_views import open_raw
from pipeline.core.progress import log


@dataclass(frozen=True)
class Query:
    """A dashboard query; ``{image_id}`` is filled with an image that has boxes."""

    name: str
    kind: str
    sql: str


QUERIES = (
    Query("class_stats", "mart", "select * from class_stats"),
    Query("attribute_rates", "mart", "select * from attribute_rates"),
    Query("box_geometry", "mart", "select * from box_geometry"),
    Query("relationship_stats", "mart", "select * from relationship_stats"),
    Query(
        "image_summary_top",
        "mart",
        "select split, image_id, boxes, classes, masks, relationships, narratives, positive_labels, rotation "
        "from image_summary order by boxes desc, classes desc, split, image_id limit 10",
    ),
    Query(
        "image_boxes_lookup",
        "point lookup",
        "select label_name, source, x_min, x_max, y_min, y_max, is_occluded, is_truncated, is_group_of "
        "from boxes_named where image_id = '{image_id}' order by label_name, x_min, y_min",
    ),
    Query(
        "vehicle_boxes_with_descendants",
        "class filter",
        "select split, count(*) as boxes from boxes where label_mid in "
        "(select label_mid from class_mids(['Vehicle'], include_descendants := true)) group by split order by split",
    ),
    Query(
        "animal_boxes_expanded",
        "class filter",
        "select split, original_label_name, count(*) as boxes from boxes_expanded where label_name = 'Animal' "
        "group by all order by all",
    ),
)


def lookup_image(con: duckdb.DuckDBPyConnection) -> str:
    """An image with boxes to look up: the median train (else any) image ID of ``boxes``."""
    rows = con.execute(
        "select image_id from boxes order by split = 'train' desc, image_id_u64 "
        "limit 1 offset (select count(*) // 2 from boxes where split = 'train')"
    ).fetchall()
    if not rows:
        rows = con.execute("select min(image_id) from boxes").fetchall()
    return str(rows[0][0])


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[float, list[tuple]]:
    """Seconds to run ``sql`` and fetch its result as Arrow (as Polars or a dashboard reads it), and its rows.

    The rows become Python tuples only after the clock stops: building 164k tuples costs about
    130 ms, which would be timed as the engine's work on both sides.
    """
    started = time.perf_counter()
    table = con.sql(sql).to_arrow_table()
    seconds = time.perf_counter() - started
    return seconds, [tuple(row.values()) for row in table.to_pylist()]


def time_query(con: duckdb.DuckDBPyConnection, sql: str, repeat: int, budget: float) -> tuple[list[float], list[tuple]]:
    """Run ``sql`` up to ``repeat`` times (stopping early once ``budget`` seconds are spent)."""
    times: list[float] = []
    rows: list[tuple] = []
    while len(times) < repeat and (not times or sum(times) < budget):
        seconds, rows = run_query(con, sql)
        times.append(seconds)
    return times, rows


def _normal(value: object) -> object:
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.6g}")
    return value


def _row_key(row: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v) for v in map(_normal, row))


def compare(left: Sequence[tuple], right: Sequence[tuple], rel: float = 1e-6) -> str | None:
    """None when both results hold the same rows (any order, floats to ``rel``); else what differs."""
    if len(left) != len(right):
        return f"{len(left)} rows vs {len(right)}"
    for a, b in zip(sorted(left, key=_row_key), sorted(right, key=_row_key), strict=True):
        for x, y in zip(a, b, strict=True):
            same = (
                math.isclose(x, y, rel_tol=rel, abs_tol=1e-12) or (math.isnan(x) and math.isnan(y))
                if isinstance(x, float) and isinstance(y, float)
                else x == y
            )
            if not same:
                return f"first difference: {a!r} vs {b!r}"
    return None


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def run_queries(folder: Path, lake: Path, repeat: int, budget: float) -> dict[str, object]:
    """Every dashboard query on the lake and over the raw files: times, speed-up, results equal."""
    from pipeline.query.api import open_lake

    raw = open_raw(folder)
    items = []
    with open_lake(lake) as opened:
        image_id = lookup_image(opened.con)
        for query in QUERIES:
            sql = query.sql.format(image_id=image_id)
            log(f"bench query: {query.name}")
            lake_times, lake_rows = time_query(opened.con, sql, repeat, budget)
            raw_times, raw_rows = time_query(raw, sql, repeat, budget)
            difference = compare(lake_rows, raw_rows)
            lake_median, raw_median = median(lake_times), median(raw_times)
            items.append(
                {
                    "name": query.name, "kind": query.kind, "sql": sql, "rows": len(lake_rows),
                    "lake_seconds": lake_times, "raw_seconds": raw_times,
                    "lake_median": lake_median, "raw_median": raw_median, "speedup": raw_median / lake_median,
                    "equal": difference is None, "difference": difference,
                }
            )  # fmt: skip
    raw.close()
    return {"image_id": image_id, "repeat": repeat, "budget_seconds": budget, "items": items}
