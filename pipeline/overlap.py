"""Files that overlap: a ``-boxable`` file is a subset of the full file of the same split.

Both are ingested; then rows of the subset file that the full file already
holds are removed from the subset's output and counted as duplicates, so every
source row is still accounted for and no row appears twice.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from pipeline.parquet_writer import write_query
from pipeline.schema import table_schema

# (subset family, superset family, table, key columns)
OVERLAPS = (
    ("images_boxable", "images", "images", ("image_id_u64",)),
    (
        "image_labels_human_boxable",
        "image_labels_human",
        "image_labels",
        ("image_id_u64", "source", "label_mid", "confidence"),
    ),
)


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
