"""Files that overlap: a ``-boxable`` file is a subset of the full file of the same split.

Both are ingested; then rows of the subset file that the full file already
holds are removed from the subset's output and counted as duplicates, so every
source row is still accounted for and no row appears twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.build.slices import key_ranges, slice_count
from pipeline.core.contract import FileReport
from pipeline.core.official import SPLITS
from pipeline.core.progress import log
from pipeline.core.schema import table_schema
from pipeline.families.overlaps import OVERLAPS
from pipeline.write.parquet_writer import (
    ROW_GROUP_ROWS,
    SORT_KEY,
    build_connection,
    memory_budget,
    write_batches,
)

# subset rows per slice: the 8.8M boxable human labels of scale 1 (every column in the hash table)
# took 8.1 s in one pass and 5.9 s in 5 slices of this size (benchmarks/notes.md)
SLICE_ROWS = 2_000_000


def remove_overlap(
    subset: Path, superset: Path, table: str, keys: tuple[str, ...], temp_dir: Path, slice_rows: int = SLICE_ROWS
) -> int:
    """Rewrite ``subset`` without the rows ``superset`` holds; returns the number removed.

    Both files are sorted by ``image_id_u64``: the rows are compared one range of it at a time (each
    range reads only its own row groups of both files), and the ranges in order keep the subset's order.
    """
    schema = table_schema(table)
    join = " and ".join(f"f.{k} = s.{k}" for k in keys)
    before = pq.ParquetFile(subset).metadata.num_rows
    sliced = SORT_KEY in keys and schema.sort_by[:1] == (SORT_KEY,)
    ranges = key_ranges(slice_count(before, slice_rows)) if sliced else [(0, None)]
    kept = subset.with_suffix(".kept.parquet")
    con = build_connection(temp_dir)
    params = {"subset": str(subset), "superset": str(superset)}

    def in_range(alias: str, low: int, high: int | None) -> str:
        if not sliced:
            return "true"
        upper = f" and {alias}.{SORT_KEY} < {high}" if high is not None else ""
        return f"{alias}.{SORT_KEY} >= {low}{upper}"

    def batches() -> Iterator[pa.RecordBatch]:
        for low, high in ranges:
            sql = (
                "select s.* exclude (file_row_number) from read_parquet($subset, file_row_number = true) s "
                f"where {in_range('s', low, high)} and not exists (select 1 from read_parquet($superset) f "
                f"where {in_range('f', low, high)} and {join}) order by s.file_row_number"
            )
            yield from con.sql(sql, params=params).to_arrow_reader(ROW_GROUP_ROWS)

    try:
        with memory_budget(f"writing {kept.name}"):
            written = write_batches(kept, schema, batches())
    finally:
        con.close()
    kept.replace(subset)
    return before - written


def remove_overlaps(staging: Path, fresh: list[FileReport], reports: list[FileReport]) -> None:
    """Remove from each freshly ingested ``-boxable`` subset the rows its full file holds."""
    by_key = {(r.family, r.split): r for r in reports}
    fresh_ids = {id(r) for r in fresh}
    for subset_family, superset_family, table, keys in OVERLAPS:
        for split in SPLITS:
            subset, superset = by_key.get((subset_family, split)), by_key.get((superset_family, split))
            if subset is None or superset is None or subset.output is None or superset.output is None:
                continue
            if id(subset) not in fresh_ids:
                continue  # reused: deduplicated when it was built
            removed = remove_overlap(staging / subset.output, staging / superset.output, table, keys, staging)
            subset.rows_duplicate += removed
            subset.rows_written -= removed
            log(f"dedup {table}/{split}: {removed:,} rows of {subset.file} already in {superset.file}")
            if subset.rows_written == 0:
                (staging / subset.output).unlink()
                subset.output = None
