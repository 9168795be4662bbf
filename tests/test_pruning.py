"""Queries read only what they need: row groups sorted by image id, column projection (EXPLAIN ANALYZE)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import build
from tests.test_streaming import TRAIN_BOXES, write_train_boxes

pytestmark = pytest.mark.slow  # its lake is built from 800,000 generated box rows

UNITS = {"bytes": 1, "B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def data_read(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    """Bytes DuckDB's profiler reports as read for ``sql``."""
    plan = con.sql(f"explain analyze {sql}").fetchall()[0][1]
    match = re.search(r"Data Read:\s*([\d.]+)\s*(\w+)", plan)
    assert match, plan
    return float(match.group(1)) * UNITS[match.group(2)]


@pytest.fixture(scope="module")
def big_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("pruning-source")
    write_train_boxes(source / TRAIN_BOXES, 800_000)
    lake = tmp_path_factory.mktemp("pruning") / "lake"
    build(source, lake)
    return lake


def test_point_lookup_and_class_count_read_a_fraction(big_lake: Path) -> None:
    con = duckdb.connect(str(big_lake / "lake.duckdb"), read_only=True)
    image = con.sql("select image_id_u64 from boxes limit 1 offset 400000").fetchall()[0][0]
    everything = data_read(con, "select * from boxes")
    point = data_read(con, f"select * from boxes where image_id_u64 = {image}")
    per_class = data_read(con, "select label_mid, count(*) from boxes group by all")
    # 800k rows in 4 row groups sorted by image: a point lookup touches one of them.
    assert point < everything * 0.35, (point, everything)
    # A per-class count reads the (dictionary-encoded) label column only.
    assert per_class < everything * 0.05, (per_class, everything)
    assert con.sql(f"select count(*) from boxes where image_id_u64 = {image}").fetchall()[0][0] >= 1
