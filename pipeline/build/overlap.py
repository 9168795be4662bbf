"""Files that overlap: a ``-boxable`` file is a subset of the full file of the same split.

Both are ingested; then rows of the subset file that the full file already
holds are removed from the subset's output and counted as duplicates, so every
source row is still accounted for and no row appears twice.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from pipeline.core.contract import FileReport
from pipeline.core.official import SPLITS
from pipeline.core.progress import log
from pipeline.core.schema import table_schema
from pipeline.families.overlaps import OVERLAPS
from pipeline.write.parquet_writer import write_query


def remove_overlap(subset: Path, superset: Path, table: str, keys: tuple[str, ...], temp_dir: Path) -> int:
    """Rewrite ``subset`` without the rows ``superset`` holds; returns the number removed."""
    join = " and ".join(f"f.{k} = s.{k}" for k in keys)
    before = pq.ParquetFile(subset).metadata.num_rows
    kept = subset.with_suffix(".kept.parquet")
    written = write_query(
        kept,
        table_schema(table),
        "select s.* exclude (file_row_number) from read_parquet($subset, file_row_number = true) s "
        f"where not exists (select 1 from read_parquet($superset) f where {join}) order by s.file_row_number",
        {"subset": str(subset), "superset": str(superset)},
        temp_dir=temp_dir,
    )
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
