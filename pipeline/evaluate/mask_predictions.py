"""The masks of segmentation predictions, decoded as they are read: counts string, area and box, or a reject.

``Mask`` (the official form) is base64(zlib(COCO counts string)) at ``ImageWidth x ImageHeight``;
``rle_counts`` (Parquet, or a CSV column of that name) is the counts string itself, or in Parquet the
uncompressed counts as a list of integers. A mask that is not base64, not zlib, not a counts string, or
whose counts do not cover ``ImageWidth x ImageHeight`` pixels is refused with its line and reason. The
box (normalized by the mask's size, ``_to_normalized_box``) and the area are kept with the prediction;
an empty mask is kept too (the evaluation drops it, as the reference does).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.evaluate import mask_codec

BATCH = 64  # masks decoded together: small enough that numpy's scratch arrays are reused, not faulted in


def with_masks(typed: pl.DataFrame, masks: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``typed`` (rows whose other columns passed) with ``area``, the box and ``rle_counts``; refused masks apart."""
    column = masks.name
    heights = typed.get_column("image_height").to_numpy().astype(np.int64)
    widths = typed.get_column("image_width").to_numpy().astype(np.int64)
    values = masks.to_list()
    n = len(values)
    area = np.zeros(n, np.int64)
    box = np.zeros((n, 4), np.float64)
    counts: list[str | None] = [None] * n
    reasons: list[str | None] = [None] * n
    for start in range(0, n, BATCH):
        part = slice(start, min(n, start + BATCH))
        batch, texts, why = _decode(values[part], column, heights[part], widths[part])
        area[part], box[part] = batch.area, batch.box
        for i, (text, reason) in enumerate(zip(texts, why, strict=True)):
            counts[start + i], reasons[start + i] = text, reason
    bad = np.fromiter((r is not None for r in reasons), np.bool_, n)
    good = typed.select(
        "line",
        "item",
        "image_id",
        "label_mid",
        "score",
        pl.col("image_width").cast(pl.Int32),
        pl.col("image_height").cast(pl.Int32),
        area=pl.Series(area, dtype=pl.Int64),
        x_min=pl.Series(box[:, 1]),
        x_max=pl.Series(box[:, 3]),
        y_min=pl.Series(box[:, 0]),
        y_max=pl.Series(box[:, 2]),
        rle_counts=pl.Series(counts, dtype=pl.String),
    )
    if not bad.any():
        return good, _refused([], [], column, [])
    where = np.flatnonzero(bad)
    lines = typed.get_column("line").gather(where).to_list()
    shown = [_shown(values[i]) for i in where]
    return good.filter(pl.Series(~bad)), _refused(lines, [reasons[i] for i in where], column, shown)


def _decode(values: list[object], column: str, heights: np.ndarray, widths: np.ndarray
            ) -> tuple[mask_codec.MaskBatch, list[str | None], list[str | None]]:  # fmt: skip
    """One batch: the decoded masks, the counts string of each usable one, and each refusal's reason."""
    empty = [v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, list) and not v) for v in values]
    if values and isinstance(next((v for v in values if v is not None), ""), list):
        batch = mask_codec.from_lists([None if e else v for v, e in zip(values, empty, strict=True)],  # type: ignore[misc]
                                      heights, widths)  # fmt: skip
        texts = mask_codec.to_strings(batch)
    else:
        strings = ["" if e else str(v).strip() for v, e in zip(values, empty, strict=True)]
        if column == "Mask":
            raw, unpacked = mask_codec.unpack_official(strings)
        else:
            raw, unpacked = [s.encode("utf-8") for s in strings], [None] * len(strings)
        batch = mask_codec.decode_batch(raw, heights, widths)
        texts = [r.decode("ascii") if batch.reasons[i] is None else None for i, r in enumerate(raw)]
        return batch, texts, ["empty" if e else u or r for e, u, r in zip(empty, unpacked, batch.reasons, strict=True)]
    why = ["empty" if e else r for e, r in zip(empty, batch.reasons, strict=True)]
    return batch, [t if w is None else None for t, w in zip(texts, why, strict=True)], why


def _shown(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(map(str, value[:50])) if isinstance(value, list) else str(value)
    return text[:200]


def _refused(lines: list[int], reasons: list[str | None], column: str, values: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"line": lines, "column": [column] * len(lines), "reason": reasons, "value": values},
        schema={"line": pl.Int64, "column": pl.String, "reason": pl.String, "value": pl.String},
    )
