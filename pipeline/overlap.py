"""Files that overlap: a ``-boxable`` file is a subset of the full file of the same split.

Both are ingested; then rows of the subset file that the full file already
holds are removed from the subset's output and counted as duplicates, so every
source row is still accounted for and no row appears twice.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.parquet_writer import ROW_GROUP_ROWS, PartWriter
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
    schema = table_schema(table)
    join = " and ".join(f"f.{k} = s.{k}" for k in keys)
    kept = subset.with_suffix(".kept.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"set temp_directory = '{temp_dir}'")
        con.execute("set preserve_insertion_order = true")
        before = con.execute("select count(*) from read_parquet(?)", [str(subset)]).fetchall()[0][0]
        reader = con.sql(
            "select s.* exclude (file_row_number) from read_parquet(?, file_row_number = true) s "
            f"where not exists (select 1 from read_parquet(?) f where {join}) order by s.file_row_number",
            params=[str(subset), str(superset)],
        ).to_arrow_reader(ROW_GROUP_ROWS)
        writer = PartWriter(kept, schema)
        for batch in reader:
            writer.write(pa.Table.from_batches([batch]))
        writer.close()
    finally:
        con.close()
    kept.replace(subset)
    return before - writer.rows
