"""Image lists for the official Open Images ``downloader.py``: ``SPLIT/IMAGE_ID`` lines."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pipeline.core.errors import OilakeError
from pipeline.core.official import SPLITS
from pipeline.query.labels import select_classes_on


def image_list(
    con: duckdb.DuckDBPyConnection,
    classes: Sequence[str],
    include_descendants: bool = False,
    split: str | None = None,
    min_boxes: int = 1,
    where: str | None = None,
) -> list[str]:
    """Sorted, distinct ``split/image_id`` of images with ``min_boxes`` boxes of ``classes``.

    ``where`` is an extra SQL condition on the boxes counted (any column of ``boxes_named``,
    e.g. ``not is_group_of``). Unknown class names raise ``UnknownClassError``.
    """
    if split is not None and split not in SPLITS:
        raise OilakeError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if min_boxes < 1:
        raise OilakeError("min_boxes must be at least 1")
    mids = select_classes_on(con, classes, include_descendants)
    condition = f"and ({where})" if where else ""
    rows = con.execute(
        f"""
        select split || '/' || image_id as image
        from boxes_named
        where list_contains($mids, label_mid) and ($split is null or split = $split) {condition}
        group by split, image_id
        having count(*) >= $min_boxes
        order by image
        """,
        {"mids": mids, "split": split, "min_boxes": min_boxes},
    ).fetchall()
    return [r[0] for r in rows]
