"""Box matching of the official Open Images detection metric, as joins and window functions in DuckDB.

Per (image, class), as ``per_image_evaluation.py`` does it, but for every image at once:

1. predictions of a class not evaluated on the image are ignored (Challenge metric only: an image's
   evaluated classes are its verified labels and its box classes), those with ``XMin >= XMax`` or
   ``YMin >= YMax`` are dropped, at most the 10,000 highest-scoring are kept;
2. each prediction looks only at the non-group-of box with the highest IoU; if that IoU is >= 0.5 the
   highest-ranked such prediction takes the box (TP), every other one is a FP (no second-best box);
3. each prediction still unmatched looks at the group-of box with the highest IoA (intersection over
   the prediction's area); at >= 0.5 it is absorbed: the group-of box becomes one TP entry with the
   highest score absorbed (none if that score is 0, as in the reference), the others are ignored.
   The V2 metric ignores every absorbed prediction and does not count group-of boxes.

Ties: predictions rank by score (descending), then by box (x_min, y_min, x_max, y_max) and input line;
among boxes of equal overlap the one first in (x_min, y_min, x_max, y_max) order wins. Both rules depend
on the values only, never on the order of the input.
"""

from __future__ import annotations

import duckdb

from pipeline.core.sql_text import sql_string
from pipeline.evaluate.predictions import PREDICTION_ID

LIMIT = 10_000  # per image and class, the reference's `nms_max_output_boxes`

# Every outcome's reason, by code: the tables hold the code, the outputs the text (``eval_reasons``).
IGNORED, TP, FP = "ignored", "tp", "fp"
REASONS: dict[int, tuple[str, str]] = {
    1: (IGNORED, "unknown class (not an evaluated class of the lake)"),
    2: (IGNORED, "image without ground truth in the split"),
    3: (IGNORED, "class neither verified nor boxed on the image"),
    4: (IGNORED, "empty box (XMin >= XMax or YMin >= YMax)"),
    5: (IGNORED, f"beyond the {LIMIT:,} highest-scoring predictions of the class on the image"),
    10: (TP, "takes the box it overlaps most (IoU >= {threshold})"),
    11: (TP, "group-of box: its highest-scoring prediction counts once"),
    12: (IGNORED, "inside a group-of box (the V2 metric ignores group-of boxes)"),
    13: (IGNORED, "inside a group-of box whose best score is 0 (the reference counts no entry)"),
    14: (IGNORED, "inside a group-of box already counted"),
    20: (FP, "no box of the class on the image (verified absent)"),
    21: (FP, "no box of the class on the image"),
    22: (FP, "only group-of boxes of the class on the image, none covers it"),
    23: (FP, "best box overlaps less than IoU {threshold}"),
    24: (FP, "best box already taken by a higher-ranked prediction"),
}

INTERSECTION = (
    "greatest(0, least(p.y_max, g.y_max) - greatest(p.y_min, g.y_min))"
    " * greatest(0, least(p.x_max, g.x_max) - greatest(p.x_min, g.x_min))"
)
AREA = "({0}.y_max - {0}.y_min) * ({0}.x_max - {0}.x_min)"
# The order predictions are matched in (the tie rule), on the prediction's columns prefixed with {0}. Shared with
# segmentation, as the box overlap arithmetic is.
RANK_ORDER = "{0}score desc, {0}x_min asc, {0}y_min asc, {0}x_max asc, {0}y_max asc, {0}pred_id asc"
RANK_NAMES = "score, x_min, y_min, x_max, y_max"
RANK_COLUMNS = "p.score, p.x_min, p.y_min, p.x_max, p.y_max"


def stage_predictions(con: duckdb.DuckDBPyConnection, staged: str, expand: bool) -> None:
    """``eval_pred``: a view of the typed predictions with an id; with ``expand`` also one row per ancestor class."""
    con.execute(
        f"""
        create or replace temp view eval_pred as
        with

        own as (
            select
                {PREDICTION_ID} as pred_id,
                line,
                item,
                image_id,
                label_mid,
                label_mid as original_label_mid,
                score,
                x_min,
                x_max,
                y_min,
                y_max
            from read_parquet({sql_string(staged)})
        ),

        ancestors as (
            select
                own.* exclude (label_mid),
                class_ancestors.ancestor_mid as label_mid
            from own
            inner join class_ancestors on class_ancestors.label_mid = own.label_mid
            where {"true" if expand else "false"}
        ),

        final as (
            select * from own
            union all by name
            select * from ancestors
        )

        select * from final
        """
    )


def match(con: duckdb.DuckDBPyConnection, metric: str, threshold: float, group_of_weight: float) -> None:
    """``eval_judged``: every prediction (and class) with its outcome (tp, fp, ignored), reason and box.

    ``group_of_weight`` is what a hit group-of box counts (the reference's ``group_of_weight``: 1 for the
    Challenge metric, 0 for V2, where absorbed predictions are ignored and group-of boxes add nothing).
    The tables in between are kept narrow (ids, scores, boxes, codes), so that DuckDB's budget holds them.
    """
    write_reasons(con, threshold)
    flag_predictions(con, metric == "challenge")
    con.execute(
        f"""
        create or replace temp table eval_stage1 as
        with

        candidates as (
            select * from eval_flagged where flag is null
        ),

        pairs as (
            select
                p.pred_id,
                p.label_mid,
                {RANK_COLUMNS},
                g.gt_id,
                ({INTERSECTION}) as intersection,
                {AREA.format("p")} as pred_area,
                {AREA.format("g")} as gt_area
            from candidates as p
            inner join eval_gt as g
                on g.image_id = p.image_id and g.label_mid = p.label_mid and not g.is_group_of
        ),

        best as (
            select
                pred_id,
                label_mid,
                {RANK_NAMES},
                gt_id,
                intersection / (pred_area + gt_area - intersection) as iou
            from pairs
            qualify row_number() over (
                partition by pred_id, label_mid
                order by intersection / (pred_area + gt_area - intersection) desc, gt_id asc
            ) = 1
        ),

        final as (
            select
                pred_id,
                label_mid,
                gt_id,
                iou,
                iou >= {threshold!r} and row_number() over (
                    partition by gt_id, iou >= {threshold!r} order by {RANK_ORDER.format("")}
                ) = 1 as is_tp
            from best
        )

        select * from final
        """
    )
    con.execute(
        f"""
        create or replace temp table eval_stage2 as
        with

        unmatched as (
            select c.*
            from eval_flagged as c
            left join eval_stage1 as s on s.pred_id = c.pred_id and s.label_mid = c.label_mid
            where c.flag is null and not coalesce(s.is_tp, false)
        ),

        pairs as (
            select
                p.pred_id,
                p.label_mid,
                {RANK_COLUMNS},
                g.gt_id,
                ({INTERSECTION}) / ({AREA.format("p")}) as ioa
            from unmatched as p
            inner join eval_gt as g
                on g.image_id = p.image_id and g.label_mid = p.label_mid and g.is_group_of
        ),

        best as (
            select * from pairs
            qualify row_number() over (partition by pred_id, label_mid order by ioa desc, gt_id asc) = 1
        ),

        final as (
            select
                pred_id,
                label_mid,
                gt_id,
                ioa,
                row_number() over (partition by gt_id order by {RANK_ORDER.format("")}) = 1 as is_first,
                max(score) over (partition by gt_id) as group_score
            from best
            where ioa >= {threshold!r}
        )

        select * from final
        """
    )
    _outcomes(con, group_of_weight, threshold)


def flag_predictions(con: duckdb.DuckDBPyConnection, challenge: bool) -> None:
    """``eval_flagged``: each row of ``eval_pred`` with the code of why it is not matched (NULL: it is).

    1 unknown class, 2 image without ground truth, 3 class not evaluated on the image (``challenge`` only),
    4 empty box, 5 beyond the 10,000 highest-ranked of its class on its image.
    """
    con.execute(
        f"""
        create or replace temp table eval_flagged as
        with

        flagged as (
            select
                p.pred_id,
                p.image_id,
                p.label_mid,
                p.score,
                p.x_min,
                p.x_max,
                p.y_min,
                p.y_max,
                case
                    when c.label_mid is null then 1
                    when i.image_id is null then 2
                    when {"true" if challenge else "false"} and l.label_mid is null then 3
                    when not (p.x_min < p.x_max and p.y_min < p.y_max) then 4
                end as flag
            from eval_pred as p
            left join eval_classes as c on c.label_mid = p.label_mid
            left join eval_images as i on i.image_id = p.image_id
            left join eval_labels as l on l.image_id = p.image_id and l.label_mid = p.label_mid
        ),

        crowded as (
            select
                image_id,
                label_mid
            from flagged
            where flag is null
            group by image_id, label_mid
            having count(*) > {LIMIT}
        ),

        ranked as (
            select
                f.pred_id,
                f.label_mid,
                row_number() over (partition by f.image_id, f.label_mid order by {RANK_ORDER.format("f.")}) as rank
            from flagged as f
            inner join crowded as c on c.image_id = f.image_id and c.label_mid = f.label_mid
            where f.flag is null
        ),

        final as (
            select
                flagged.* exclude (flag),
                cast(case when ranked.rank > {LIMIT} then 5 else flagged.flag end as utinyint) as flag
            from flagged
            left join ranked on ranked.pred_id = flagged.pred_id and ranked.label_mid = flagged.label_mid
        )

        select * from final
        """
    )


def write_reasons(con: duckdb.DuckDBPyConnection, threshold: float,
                  reasons: dict[int, tuple[str, str]] = REASONS) -> None:  # fmt: skip
    """``eval_reasons``: code, outcome and the reason's text (the threshold written in)."""
    rows = ", ".join(
        f"({code}, {sql_string(outcome)}, {sql_string(text.format(threshold=f'{threshold:g}'))})"
        for code, (outcome, text) in reasons.items()
    )
    con.execute(
        "create or replace temp table eval_reasons as "
        f"select cast(code as utinyint) as code, outcome, reason from (values {rows}) as t(code, outcome, reason)"
    )


def define_judged(con: duckdb.DuckDBPyConnection) -> None:
    """``eval_judged``: every prediction of ``eval_matches`` with its outcome and reason (from ``eval_reasons``)."""
    con.execute(
        """
        create or replace temp view eval_judged as
        select eval_matches.*, eval_reasons.outcome, eval_reasons.reason
        from eval_matches
        inner join eval_reasons on eval_reasons.code = eval_matches.code
        """
    )


def _outcomes(con: duckdb.DuckDBPyConnection, group_of_weight: float, threshold: float) -> None:
    counts = group_of_weight > 0
    group_tp = "s2.is_first and s2.group_score > 0" if counts else "false"
    con.execute(
        f"""
        create or replace temp table eval_matches as
        with

        coded as (
            select
                f.pred_id,
                f.label_mid,
                f.score,
                s1.iou,
                s2.ioa,
                coalesce(case when s1.is_tp then s1.gt_id end, s2.gt_id, s1.gt_id) as gt_id,
                cast(case
                    when f.flag is not null then f.flag
                    when s1.is_tp then 10
                    when s2.gt_id is not null and {group_tp} then 11
                    when s2.gt_id is not null and {"false" if counts else "true"} then 12
                    when s2.gt_id is not null and s2.group_score = 0 then 13
                    when s2.gt_id is not null then 14
                    when s1.gt_id is null and not coalesce(l.has_boxes, false) then
                        case when coalesce(l.is_verified_negative, false) then 20 else 21 end
                    when s1.gt_id is null then 22
                    when s1.iou < {threshold!r} then 23
                    else 24
                end as utinyint) as code,
                case
                    when s1.is_tp then 1.0
                    when s2.gt_id is not null and {group_tp} then {float(group_of_weight)!r}
                    else 0.0
                end as tp_weight
            from eval_flagged as f
            left join eval_stage1 as s1 on s1.pred_id = f.pred_id and s1.label_mid = f.label_mid
            left join eval_stage2 as s2 on s2.pred_id = f.pred_id and s2.label_mid = f.label_mid
            left join eval_labels as l on l.image_id = f.image_id and l.label_mid = f.label_mid
        )

        select * from coded
        """
    )
    define_judged(con)


MATCHES = """
    select
        p.line,
        p.item,
        p.image_id,
        p.label_mid,
        p.original_label_mid,
        p.score,
        p.x_min,
        p.x_max,
        p.y_min,
        p.y_max,
        j.outcome,
        j.reason,
        j.iou,
        j.ioa,
        g.x_min as gt_x_min,
        g.x_max as gt_x_max,
        g.y_min as gt_y_min,
        g.y_max as gt_y_max,
        g.is_group_of as gt_is_group_of
    from eval_judged as j
    inner join eval_pred as p on p.pred_id = j.pred_id and p.label_mid = j.label_mid
    left join eval_gt as g on g.gt_id = j.gt_id
    order by p.image_id, p.label_mid, p.score desc, p.line, p.item
"""
