"""Instance-segmentation evaluation (``--task segmentation``): the Open Images Challenge metric on masks.

Ground truth (``eval_seg_gt``): the split's boxes, each with the mask drawn on it when the lake has one
(a ``masks`` row of the same image, class and coordinates whose PNG is in ``mask_pixels`` and has a set
pixel), plus the masks whose box is not in the box file; both expanded along the hierarchy like
``boxes_expanded``. This is the official script's outer merge of the box and mask files on image,
class and coordinates, except that boxes of equal coordinates are paired with masks one to one (the
merge would give each of them every such mask). A box without a mask is an ignore region; only boxes
with a mask are instances.

Predictions are flagged as for detection (unknown class, image without ground truth, class not
evaluated on the image, empty mask, beyond the 10,000 highest-ranked). Those of a class without ground
truth on the image are false positives, and those of a class whose ground truth there has no mask are
matched against the boxes alone, both in SQL; only predictions of a class with a mask on the image are
decoded: streamed in image order, in chunks of whole images, to ``mask_matching.judge_chunk`` (in
worker processes for large files). AP, per-class table and summary are the detection metric's
(``run.summarize``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.errors import EvaluationError
from pipeline.core.sql_text import sql_string
from pipeline.evaluate import detection, ground_truth, mask_matching
from pipeline.evaluate.ground_truth import exact
from pipeline.evaluate.mask_matching import judge_chunk
from pipeline.evaluate.options import EvalOptions
from pipeline.evaluate.predictions import PREDICTION_ID
from pipeline.read.threads import ordered_submit

IGNORED, TP, FP = detection.IGNORED, detection.TP, detection.FP
REASONS: dict[int, tuple[str, str]] = {
    **{code: detection.REASONS[code] for code in (1, 2, 3, 5)},
    4: (IGNORED, "empty mask (no pixel set)"),
    10: (TP, "takes the mask it overlaps most (mask IoU >= {threshold})"),
    11: (TP, "group-of mask: its highest-scoring prediction counts once"),
    12: (IGNORED, "inside a group-of mask (group-of weight 0)"),
    13: (IGNORED, "inside a group-of mask whose best score is 0 (the reference counts no entry)"),
    14: (IGNORED, "inside a group-of mask already counted"),
    15: (IGNORED, "takes a box without a mask (box IoU >= {threshold}): an ignore region"),
    16: (IGNORED, "inside a group-of box without a mask (box IoA >= {threshold}): an ignore region"),
    20: (FP, "no box or mask of the class on the image (verified absent)"),
    21: (FP, "no box or mask of the class on the image"),
    22: (FP, "no mask of the class to match and no ignore region covers it"),
    23: (FP, "best mask overlaps less than mask IoU {threshold}"),
    24: (FP, "best mask already taken by a higher-ranked prediction"),
    25: (FP, "best box without a mask already taken (the reference ignores one prediction per box)"),
}
CHUNK_ROWS = 20_000  # predictions per chunk handed to a worker (whole images)
READ_ROWS = 64 * 1024
WORKERS = 2
PARALLEL_FROM = 50_000  # candidates: below this, the chunks are judged in this process (no pool to start)


def stage_ground_truth(con: duckdb.DuckDBPyConnection, split: str) -> int:
    """``eval_seg_gt`` (and the view ``eval_gt`` over it, which ``ground_truth.stage_labels`` reads); mask count."""
    masks = con.execute(
        "select count(*) from mask_pixels where split = $split and area > 0", {"split": split}
    ).fetchall()[0][0]
    if not masks:
        raise EvaluationError(
            f"the lake has no mask pixels for split {split!r}: instance segmentation needs the masks",
            hint=f"build the lake with the {split}-masks-<0..f>.zip archives beside the segmentation CSV "
            "(`oilake fetch --only masks` downloads both)",
        )
    boxes = ", ".join(f"{exact(c)} as {c}" for c in ("x_min", "x_max", "y_min", "y_max"))
    con.execute(
        f"""
        create or replace temp table eval_seg_gt as
        with

        pixels as (
            select
                masks.image_id,
                masks.label_mid,
                masks.mask_path,
                masks.box_x_min,
                masks.box_x_max,
                masks.box_y_min,
                masks.box_y_max,
                mask_pixels.mask_width,
                mask_pixels.mask_height,
                mask_pixels.rle_counts,
                row_number() over (
                    partition by masks.image_id, masks.label_mid, masks.box_x_min, masks.box_x_max, masks.box_y_min,
                    masks.box_y_max
                    order by masks.mask_path
                ) as nth
            from masks
            inner join mask_pixels on mask_pixels.split = masks.split and mask_pixels.mask_path = masks.mask_path
            where masks.split = $split and mask_pixels.area > 0
        ),

        own_boxes as (
            select
                image_id,
                label_mid,
                x_min,
                x_max,
                y_min,
                y_max,
                coalesce(is_group_of, true) as is_group_of,
                row_number() over (
                    partition by image_id, label_mid, x_min, x_max, y_min, y_max order by coalesce(is_group_of, true)
                ) as nth
            from boxes
            where split = $split
        ),

        boxed as (
            select
                b.image_id,
                b.label_mid,
                {", ".join(f"b.{c}" for c in ("x_min", "x_max", "y_min", "y_max"))},
                b.is_group_of,
                p.mask_path,
                p.mask_width,
                p.mask_height,
                p.rle_counts
            from own_boxes as b
            left join pixels as p
                on
                    p.image_id = b.image_id and p.label_mid = b.label_mid
                    and p.box_x_min = b.x_min and p.box_x_max = b.x_max
                    and p.box_y_min = b.y_min and p.box_y_max = b.y_max and p.nth = b.nth
        ),

        unboxed as (
            select
                p.image_id,
                p.label_mid,
                p.box_x_min as x_min,
                p.box_x_max as x_max,
                p.box_y_min as y_min,
                p.box_y_max as y_max,
                false as is_group_of,
                p.mask_path,
                p.mask_width,
                p.mask_height,
                p.rle_counts
            from pixels as p
            where not exists (
                select 1
                from own_boxes as b
                where
                    b.image_id = p.image_id and b.label_mid = p.label_mid
                    and b.x_min = p.box_x_min and b.x_max = p.box_x_max
                    and b.y_min = p.box_y_min and b.y_max = p.box_y_max and b.nth = p.nth
            )
        ),

        instances as (
            select * from boxed
            union all
            select * from unboxed
        ),

        expanded as (
            select
                instances.*,
                instances.label_mid as original_label_mid
            from instances
            union all by name
            select
                instances.* exclude (label_mid),
                class_ancestors.ancestor_mid as label_mid,
                instances.label_mid as original_label_mid
            from instances
            inner join class_ancestors on class_ancestors.label_mid = instances.label_mid
        ),

        exact_boxes as (
            select
                image_id,
                label_mid,
                original_label_mid,
                {boxes},
                is_group_of,
                mask_path is not null as has_mask,
                mask_path,
                mask_width,
                mask_height,
                rle_counts
            from expanded
            where label_mid in (select label_mid from eval_classes)
        ),

        final as (
            select
                row_number() over (
                    order by image_id, label_mid, x_min, y_min, x_max, y_max, is_group_of, original_label_mid,
                    mask_path
                ) as gt_id,
                *
            from exact_boxes
        )

        select * from final order by image_id, label_mid, gt_id
        """,
        {"split": split},
    )
    con.execute(
        "create or replace temp view eval_gt as select gt_id, image_id, label_mid, original_label_mid, "
        "x_min, x_max, y_min, y_max, is_group_of from eval_seg_gt"
    )
    return int(masks)


def stage_images(con: duckdb.DuckDBPyConnection) -> None:
    """Images with ground truth: ``ground_truth.stage_labels``' (verified labels, boxes) and those of masks."""
    con.execute(
        """
        insert into eval_images
        select distinct image_id from eval_seg_gt
        where image_id not in (select image_id from eval_images)
        """
    )


def stage_predictions(con: duckdb.DuckDBPyConnection, staged: str) -> None:
    """``eval_pred``: the staged segmentation predictions with an id (never expanded: not the official metric)."""
    con.execute(
        f"""
        create or replace temp view eval_pred as
        select
            {PREDICTION_ID} as pred_id,
            *,
            label_mid as original_label_mid
        from read_parquet({sql_string(staged)})
        """
    )


def match(con: duckdb.DuckDBPyConnection, options: EvalOptions, work: Path) -> None:
    """``eval_matches`` (pred_id, label_mid, score, code, gt_id, overlaps, tp_weight) and ``eval_judged`` over it."""
    threshold, weight = options.iou_threshold, options.group_weight
    detection.write_reasons(con, threshold, REASONS)
    detection.flag_predictions(con, challenge=True)
    con.execute(
        """
        create or replace temp table eval_seg_candidates as
        with

        present as (
            select
                image_id,
                label_mid,
                bool_or(has_mask) as has_masked
            from eval_seg_gt
            group by image_id, label_mid
        ),

        final as (
            select
                f.pred_id,
                f.image_id,
                f.label_mid,
                f.score,
                f.x_min,
                f.x_max,
                f.y_min,
                f.y_max,
                coalesce(l.is_verified_negative, false) as is_negative,
                g.image_id is not null as has_gt,
                coalesce(g.has_masked, false) as has_masked
            from eval_flagged as f
            left join eval_labels as l on l.image_id = f.image_id and l.label_mid = f.label_mid
            left join present as g on g.image_id = f.image_id and g.label_mid = f.label_mid
            where f.flag is null
        )

        select * from final
        """
    )
    judged = work / "mask_judged.parquet"
    _judge(con, judged, threshold, weight)
    _judge_boxes_only(con, threshold)
    con.execute(
        f"""
        create or replace temp table eval_matches as
        with

        flagged as (
            select pred_id, label_mid, score, flag as code, null::bigint as gt_id, null::double as iou,
                null::double as ioa, null::double as box_iou, null::double as box_ioa, 0.0 as tp_weight
            from eval_flagged
            where flag is not null
        ),

        without_gt as (
            select pred_id, label_mid, score, cast(case when is_negative then 20 else 21 end as utinyint) as code,
                null::bigint as gt_id, null::double as iou, null::double as ioa, null::double as box_iou,
                null::double as box_ioa, 0.0 as tp_weight
            from eval_seg_candidates
            where not has_gt
        ),

        judged as (
            select c.pred_id, c.label_mid, c.score, j.code, j.gt_id, j.iou, j.ioa, j.box_iou, j.box_ioa, j.tp_weight
            from read_parquet({sql_string(str(judged))}) as j
            inner join eval_seg_candidates as c on c.pred_id = j.pred_id
        ),

        boxes_only as (
            select c.pred_id, c.label_mid, c.score, b.code, b.gt_id, null::double as iou, null::double as ioa,
                b.box_iou, b.box_ioa, 0.0 as tp_weight
            from eval_seg_boxes_only as b
            inner join eval_seg_candidates as c on c.pred_id = b.pred_id
        ),

        final as (
            select * from flagged
            union all
            select * from without_gt
            union all
            select * from judged
            union all
            select * from boxes_only
        )

        select * from final
        """
    )
    detection.define_judged(con)


_CANDIDATE_ORDER = detection.RANK_ORDER.format("c.")


def _judge(con: duckdb.DuckDBPyConnection, path: Path, threshold: float, weight: float) -> None:
    """Stream the candidates with ground truth, image by image, through ``judge_chunk``; results to ``path``."""
    total = con.execute("select count(*) from eval_seg_candidates where has_masked").fetchall()[0][0]
    ground_path = path.with_name("mask_ground_truth.parquet")
    con.execute(
        f"""
        copy (
            select gt_id, image_id, label_mid, is_group_of, has_mask, x_min, x_max, y_min, y_max,
                mask_width, mask_height, rle_counts
            from eval_seg_gt
            where image_id in (select image_id from eval_seg_candidates where has_masked)
            order by image_id, label_mid, gt_id
        ) to {sql_string(str(ground_path))} (format parquet, compression lz4)
        """
    )
    reader = con.sql(
        f"""
        select
            c.pred_id, c.image_id, c.label_mid, c.score, c.x_min, c.x_max, c.y_min, c.y_max, c.is_negative,
            p.image_width, p.image_height, p.rle_counts
        from eval_seg_candidates as c
        inner join eval_pred as p on p.pred_id = c.pred_id
        where c.has_masked
        order by c.image_id, c.label_mid, {_CANDIDATE_ORDER}
        """
    ).to_arrow_reader(READ_ROWS)
    ground = _SortedByImage(ground_path)
    task = partial(judge_chunk, threshold=threshold, group_of_weight=weight)

    def chunks() -> Iterator[tuple[pa.Table, pa.Table]]:
        for preds in _whole_images(reader, CHUNK_ROWS):
            yield preds, ground.upto(preds.column("image_id")[-1].as_py())

    with pq.ParquetWriter(path, mask_matching.RESULT_SCHEMA, compression="lz4") as writer:
        if total < PARALLEL_FROM:
            for preds, gts in chunks():
                writer.write_table(task(preds, gts))
            return
        with _pool() as pool:
            for result in ordered_submit(pool, _unpack(task), chunks(), WORKERS):
                writer.write_table(result)


def _judge_boxes_only(con: duckdb.DuckDBPyConnection, threshold: float) -> None:
    """``eval_seg_boxes_only``: the predictions of a class whose ground truth on the image has no mask, in SQL.

    Stages 3 and 4 of ``mask_matching`` alone (nothing to decode): the first prediction (rank order) whose
    best box IoU >= ``threshold`` takes that box and is ignored; then any one whose best group-of box IoA
    >= ``threshold`` is ignored; the others are false positives.
    """
    con.execute(
        f"""
        create or replace temp table eval_seg_boxes_only as
        with

        candidates as (
            select * from eval_seg_candidates where has_gt and not has_masked
        ),

        pairs as (
            select
                p.pred_id,
                {detection.RANK_COLUMNS},
                g.gt_id,
                ({detection.INTERSECTION}) as intersection,
                {detection.AREA.format("p")} as pred_area,
                {detection.AREA.format("g")} as gt_area
            from candidates as p
            inner join eval_seg_gt as g
                on g.image_id = p.image_id and g.label_mid = p.label_mid and not g.is_group_of
        ),

        best as (
            select
                pred_id,
                {detection.RANK_NAMES},
                gt_id,
                intersection / (pred_area + gt_area - intersection) as iou
            from pairs
            qualify row_number() over (
                partition by pred_id order by intersection / (pred_area + gt_area - intersection) desc, gt_id asc
            ) = 1
        ),

        taken as (
            select
                pred_id,
                gt_id,
                iou,
                iou >= {threshold!r} and row_number() over (
                    partition by gt_id, iou >= {threshold!r} order by {detection.RANK_ORDER.format("")}
                ) = 1 as is_taken
            from best
        ),

        group_pairs as (
            select
                p.pred_id,
                g.gt_id,
                ({detection.INTERSECTION}) / ({detection.AREA.format("p")}) as ioa
            from candidates as p
            left join taken as t on t.pred_id = p.pred_id
            inner join eval_seg_gt as g
                on g.image_id = p.image_id and g.label_mid = p.label_mid and g.is_group_of
            where not coalesce(t.is_taken, false)
        ),

        inside as (
            select * from group_pairs
            qualify row_number() over (partition by pred_id order by ioa desc, gt_id asc) = 1
        ),

        final as (
            select
                c.pred_id,
                cast(case
                    when t.is_taken then {mask_matching.IGNORED_BOX}
                    when i.ioa >= {threshold!r} then {mask_matching.IGNORED_GROUP_BOX}
                    when t.iou >= {threshold!r} then {mask_matching.FP_BOX_TAKEN}
                    else {mask_matching.FP_UNCOVERED}
                end as utinyint) as code,
                coalesce(
                    case when t.is_taken then t.gt_id end, case when i.ioa >= {threshold!r} then i.gt_id end, t.gt_id
                ) as gt_id,
                t.iou as box_iou,
                case when i.ioa >= {threshold!r} and not coalesce(t.is_taken, false) then i.ioa end as box_ioa
            from candidates as c
            left join taken as t on t.pred_id = c.pred_id
            left join inside as i on i.pred_id = c.pred_id
        )

        select * from final
        """
    )


class _unpack:  # a picklable ``lambda pair: task(*pair)``
    def __init__(self, task: partial[pa.Table]) -> None:
        self.task = task

    def __call__(self, pair: tuple[pa.Table, pa.Table]) -> pa.Table:
        return self.task(*pair)


class _SortedByImage:
    """A Parquet file sorted by image, read forward: the rows up to an image, a batch at a time."""

    def __init__(self, path: Path) -> None:
        file = pq.ParquetFile(path)
        self.schema = file.schema_arrow
        self.batches = file.iter_batches(READ_ROWS)
        self.pending = self.schema.empty_table()

    def upto(self, last: str) -> pa.Table:
        parts = []
        while True:
            if not self.pending.num_rows:
                batch = next(self.batches, None)
                if batch is None:
                    break
                self.pending = pa.Table.from_batches([batch])
            within = int(pc.sum(pc.less_equal(self.pending.column("image_id"), last)).as_py() or 0)
            parts.append(self.pending.slice(0, within))
            self.pending = self.pending.slice(within)
            if self.pending.num_rows:
                break
        return pa.concat_tables(parts) if parts else self.schema.empty_table()


def _pool() -> Executor:
    """Worker processes (``forkserver``: safe beside DuckDB's threads)."""
    return ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("forkserver"))


def _whole_images(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """Tables of about ``rows`` rows from a stream sorted by image, never splitting an image."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in reader:
        if not batch.num_rows:
            continue
        pending.append(batch)
        held += batch.num_rows
        if held < rows:
            continue
        table = pa.Table.from_batches(pending).combine_chunks()
        images = table.column("image_id")
        last = images[-1].as_py()
        keep = table.num_rows
        while keep > 0 and images[keep - 1].as_py() == last:
            keep -= 1
        if keep == 0:  # one image holds every pending row: wait for its end
            continue
        yield table.slice(0, keep)
        rest = table.slice(keep)
        pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks()


def instances(con: duckdb.DuckDBPyConnection, weight: float) -> None:
    """``eval_instances``: per class, masks (group-of ones count ``weight``), group-of masks, images with any."""
    con.execute(
        f"""
        create or replace temp table eval_instances as
        with

        final as (
            select
                label_mid,
                count(*) filter (where has_mask and not is_group_of)
                    + {weight!r} * count(*) filter (where has_mask and is_group_of) as gt_instances,
                count(*) filter (where has_mask and is_group_of) as gt_group_of,
                count(distinct image_id) as gt_images
            from eval_seg_gt
            group by label_mid
        )

        select * from final
        """
    )


def evaluate_ground_truth(con: duckdb.DuckDBPyConnection, split: str) -> tuple[int, int]:
    """Stage classes' ground truth for ``split``: (images with ground truth, masks)."""
    masks = stage_ground_truth(con, split)
    ground_truth.stage_labels(con, split)
    stage_images(con)
    images = int(con.execute("select count(*) from eval_images").fetchall()[0][0])
    return images, masks


MATCHES = """
    select
        p.line,
        p.image_id,
        p.label_mid,
        p.score,
        p.image_width,
        p.image_height,
        p.area,
        p.x_min,
        p.x_max,
        p.y_min,
        p.y_max,
        j.outcome,
        j.reason,
        j.iou,
        j.ioa,
        j.box_iou,
        j.box_ioa,
        g.mask_path as gt_mask_path,
        g.x_min as gt_x_min,
        g.x_max as gt_x_max,
        g.y_min as gt_y_min,
        g.y_max as gt_y_max,
        g.is_group_of as gt_is_group_of,
        g.has_mask as gt_has_mask
    from eval_judged as j
    inner join eval_pred as p on p.pred_id = j.pred_id
    left join eval_seg_gt as g on g.gt_id = j.gt_id
    order by p.image_id, p.label_mid, p.score desc, p.line
"""
