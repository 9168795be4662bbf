"""Files that overlap: a ``-boxable`` file is a subset of the full file of the same split.

Both are ingested; then rows of the subset file that the full file already
holds are removed from the subset's output and counted as duplicates, so every
source row is still accounted for and no row appears twice.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from pipeline.build.slices import key_ranges, range_conditions, slice_count
from pipeline.core.contract import FileReport
from pipeline.core.official import SPLITS
from pipeline.core.progress import log
from pipeline.core.schema import table_schema
from pipeline.families.overlaps import OVERLAPS
from pipeline.write.parquet_writer import SORT_KEY, write_query

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
    before = pq.ParquetFile(subset).metadata.num_rows
    sliced = SORT_KEY in keys and schema.sort_by[:1] == (SORT_KEY,)
    ranges: list[tuple[int, int | None] | None] = [*key_ranges(slice_count(before, slice_rows))] if sliced else [None]
    kept = subset.with_suffix(".kept.parquet")
    queries = [_kept_rows(keys, range_) for range_ in ranges]
    written = write_query(kept, schema, queries, {"subset": str(subset), "superset": str(superset)}, temp_dir)
    kept.replace(subset)
    return before - written


def _kept_rows(keys: tuple[str, ...], range_: tuple[int, int | None] | None) -> str:
    """The subset's rows (of ``range_`` of the key, None: all) that the superset does not hold, in order."""
    held = [f"f.{k} = s.{k}" for k in keys]
    outer: list[str] = []
    if range_ is not None:
        outer = range_conditions(f"s.{SORT_KEY}", *range_)
        held = [*range_conditions(f"f.{SORT_KEY}", *range_), *held]
    absent = f"not exists (select 1 from read_parquet($superset) f where {' and '.join(held)})"
    return (
        "select s.* exclude (file_row_number) from read_parquet($subset, file_row_number = true) s "
        f"where {' and '.join([*outer, absent])} order by s.file_row_number"
    )


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
