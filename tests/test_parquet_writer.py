"""The Parquet writer: row groups bounded by rows and by bytes, declared schema, re-sort when needed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.schema import table_schema
from pipeline.write.parquet_writer import PartWriter


def _wide_rejects(start: int, rows: int, width: int) -> pa.Table:
    return pa.table(
        {
            "table": ["narratives"] * rows,
            "source_file": ["x.jsonl"] * rows,
            "line": pa.array(range(start, start + rows), pa.int64()),
            "reason": ["wide"] * rows,
            "raw": ["r" * width] * rows,
        }
    )


def test_wide_rows_are_cut_into_row_groups_by_size(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    writer = PartWriter(path, table_schema("rejects"), row_group_bytes=2_500_000)
    for batch in range(10):
        writer.write(_wide_rejects(batch * 100, 100, 10_000))  # about 1 MB of Arrow data per batch
        assert writer._buffered_bytes < 2_500_000, "the buffer never holds a full size cap"
    writer.close()
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [300, 300, 300, 100]
    assert pq.read_table(path).column("line").to_pylist() == list(range(1000))


def test_narrow_rows_are_cut_by_row_count(tmp_path: Path) -> None:
    path = tmp_path / "narrow.parquet"
    writer = PartWriter(path, table_schema("rejects"), row_group_rows=250)
    writer.write(_wide_rejects(0, 600, 10))
    writer.close()
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [250, 250, 100]
    assert writer.rows == 600 and writer.row_groups == 3
