"""Average precision per class from TP/FP entries, as ``metrics.py`` computes it, streamed class by class.

All entries of a class, over all images, sorted by score (descending); precision and recall are
cumulated; AP is the area under the curve after precision is made non-increasing (VOC 2010, all
points). Entries of equal score form one threshold (all enter the curve together), so the result does
not depend on their order; without ties this is exactly the reference's per-entry curve.

DuckDB groups and sorts the entries (spilling if it must); numpy cumulates one class at a time from
the sorted stream, so memory holds one class's curve, whatever the number of predictions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.schema import output_schemas
from pipeline.core.sql_text import sql_string

BATCH_ROWS = 1 << 20


def stage_curves(con: duckdb.DuckDBPyConnection, entries: str, instances: str, path: Path, name: str) -> None:
    """Write the PR curves to ``path`` (``pr_curves`` schema); views ``<name>_pr`` over it, ``<name>_ap`` of AP.

    ``entries`` is a relation of (label_mid, score, tp): ``tp`` the entry's weight as a true positive (1, or a
    group-of box's weight), 0 for a false positive (as the reference: an entry is a FP when its label <= 0);
    ``instances`` of (label_mid, gt_instances). A class with ground truth and no entry has AP 0.
    """
    totals = dict(con.execute(f"select label_mid, gt_instances from ({instances}) where gt_instances > 0").fetchall())
    reader = con.sql(
        f"""
        select label_mid, score, sum(tp) as tp, count(*) filter (where tp <= 0) as fp
        from ({entries})
        where label_mid in (select label_mid from ({instances}) where gt_instances > 0)
        group by label_mid, score
        order by label_mid, score desc
        """
    ).to_arrow_reader(BATCH_ROWS)
    schema = output_schemas("evaluation")["pr_curves"].arrow
    ap = dict.fromkeys(totals, 0.0)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for mid, scores, tp, fp in _classes(reader):
            table, ap[mid] = _curve(mid, scores, tp, fp, float(totals[mid]))
            writer.write_table(table.cast(schema))
    con.execute(f"create or replace temp view {name}_pr as select * from read_parquet({sql_string(str(path))})")
    rows = pa.table({"label_mid": list(ap), "ap": list(ap.values())})
    con.register(f"{name}_ap_rows", rows)
    con.execute(f"create or replace temp table {name}_ap as select * from {name}_ap_rows")
    con.unregister(f"{name}_ap_rows")


def _classes(reader: pa.RecordBatchReader) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(class, scores, tp, fp) per class from batches sorted by class, a class possibly over several batches."""
    pending: list[pa.RecordBatch] = []
    for batch in reader:
        mids = batch.column(0).to_numpy(zero_copy_only=False)
        if not len(mids):
            continue
        starts = np.flatnonzero(np.r_[True, mids[1:] != mids[:-1]])
        for i, start in enumerate(starts):
            stop = starts[i + 1] if i + 1 < len(starts) else len(mids)
            part = batch.slice(start, stop - start)
            if pending and pending[0].column(0)[0].as_py() != mids[start]:
                yield _joined(pending)
                pending = []
            pending.append(part)
            if stop < len(mids):  # the class ends inside this batch
                yield _joined(pending)
                pending = []
    if pending:
        yield _joined(pending)


def _joined(parts: list[pa.RecordBatch]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    table = pa.Table.from_batches(parts)
    return (
        str(table.column(0)[0].as_py()),
        table.column(1).to_numpy(),
        table.column(2).to_numpy().astype(np.float64),
        table.column(3).to_numpy().astype(np.int64),
    )


def _curve(mid: str, scores: np.ndarray, tp: np.ndarray, fp: np.ndarray, total: float) -> tuple[pa.Table, float]:
    """The class's curve (one row per distinct score, descending) and its AP."""
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(fp).astype(np.float64)
    precision = cum_tp / (cum_tp + cum_fp)
    recall = cum_tp / total
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(recall, prepend=0.0)
    ap = float(np.sum(steps * envelope))
    table = pa.table(
        {
            "label_mid": pa.array([mid] * len(scores), pa.string()),
            "threshold": scores,
            "tp": cum_tp,
            "fp": np.cumsum(fp),
            "precision": precision,
            "recall": recall,
            "interpolated_precision": envelope,
        }
    )
    return table, ap
