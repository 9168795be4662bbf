"""Count the mask PNGs without a segmentation row and the rows without a PNG, per split, for the manifest.

The counts come from the view ``mask_orphans`` (``sql/10_named/mask_orphans.sql``) run over the staged
release, so the manifest and the view a user queries can never disagree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.catalog.views import define_view, view_sql
from pipeline.core.contract import FileReport, MaskOrphans
from pipeline.masks.ingest import FAMILY
from pipeline.write.parquet_writer import build_connection

EXAMPLES = 5


def mask_orphans(root: Path, reports: list[FileReport]) -> dict[str, MaskOrphans]:
    """Orphans by split, for the splits whose mask archives this release holds (none without archives)."""
    splits = sorted({r.split for r in reports if r.family == FAMILY and r.split is not None})
    if not splits:
        return {}
    temp = root / ".orphans-tmp"
    con = build_connection(temp)
    try:
        tables = ["mask_pixels", "masks", "rejects"]
        define_view(con, "mask_orphans", tables, lambda schema: view_sql(schema, root), reports)
        counts = con.execute("select split, kind, count(*) from mask_orphans group by split, kind").fetchall()
        examples = con.execute(
            "select split, mask_path from mask_orphans"
            " qualify row_number() over (partition by split order by kind, mask_path) <= $n",
            {"n": EXAMPLES},
        ).fetchall()
    finally:
        con.close()
        shutil.rmtree(temp, ignore_errors=True)
    found = {split: MaskOrphans() for split in splits}
    for split, kind, count in counts:
        orphans = found.setdefault(split, MaskOrphans())
        if kind == "png without row":
            orphans.pngs_without_row = count
        else:
            orphans.rows_without_png = count
    for split, path in sorted(examples):
        found[split].examples.append(path)
    return found
