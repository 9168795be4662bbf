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

LIMIT = 10_000  # per image and class, the reference's `nms_max_output_boxes`

_INTERSECTION = (
    "greatest(0, least(p.y_max, g.y_max) - greatest(p.y_min, g.y_min))"
    " * greatest(0, least(p.x_max, g.x_max) - greatest(p.x_min, g.x_min))"
)
_AREA = "({0}.y_max - {0}.y_min) * ({0}.x_max - {0}.x_min)"
# The order predictions are matched in (the tie rule), on the prediction's columns prefixed with {0}.
_ORDER = "{0}score desc, {0}x_min asc, {0}y_min asc, {0}x_max asc, {0}y_max asc, {0}pred_id asc"
_RANK_NAMES = "score, x_min, y_min, x_max, y_max"
_RANK_COLUMNS = "p.score, p.x_min, p.y_min, p.x_max, p.y_max"


def stage_predictions(con: duckdb.DuckDBPyConnection, staged: str, expand: bool) -> None:
    """``eval_pred``: the typed predictions with an id; with ``expand`` also one row per ancestor class."""
    con.execute(
        f"""
        create or replace temp table eval_pred as
        with

        own as (
            select
                line * 1000000 + coalesce(item, 0) as pred_id,
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
            from read_parquet({_quote(staged)})
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
    """``eval_matches``: every prediction (and class) with its outcome (tp, fp, ignored), reason and box.

    ``group_of_weight`` is what a hit group-of box counts (the reference's ``group_of_weight``: 1 for the
    Challenge metric, 0 for V2, where absorbed predictions are ignored and group-of boxes add nothing).
    """
    challenge = metric == "challenge"
    con.execute(
        f"""
        create or replace temp table eval_flagged as
        with

        flagged as (
            select
                p.*,
                case
                    when c.label_mid is null then 'unknown class (not an evaluated class of the lake)'
                    when i.image_id is null then 'image without ground truth in the split'
                    when {"true" if challenge else "false"} and l.label_mid is null
                        then 'class neither verified nor boxed on the image'
                    when not (p.x_min < p.x_max and p.y_min < p.y_max) then 'empty box (XMin >= XMax or YMin >= YMax)'
                end as ignored_reason
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
            where ignored_reason is null
            group by image_id, label_mid
            having count(*) > {LIMIT}
        ),

        ranked as (
            select
                f.pred_id,
                f.label_mid,
                row_number() over (partition by f.image_id, f.label_mid order by {_ORDER.format("f.")}) as rank
            from flagged as f
            inner join crowded as c on c.image_id = f.image_id and c.label_mid = f.label_mid
            where f.ignored_reason is null
        ),

        final as (
            select
                flagged.*,
                coalesce(ranked.rank > {LIMIT}, false) as is_beyond_limit
            from flagged
            left join ranked on ranked.pred_id = flagged.pred_id and ranked.label_mid = flagged.label_mid
        )

        select * from final
        """
    )
    con.execute(
        f"""
        create or replace temp table eval_stage1 as
        with

        candidates as (
            select * from eval_flagged where ignored_reason is null and not is_beyond_limit
        ),

        pairs as (
            select
                p.pred_id,
                p.label_mid,
                {_RANK_COLUMNS},
                g.gt_id,
                ({_INTERSECTION}) as intersection,
                {_AREA.format("p")} as pred_area,
                {_AREA.format("g")} as gt_area
            from candidates as p
            inner join eval_gt as g
                on g.image_id = p.image_id and g.label_mid = p.label_mid and not g.is_group_of
        ),

        best as (
            select
                pred_id,
                label_mid,
                {_RANK_NAMES},
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
                *,
                iou >= {threshold!r} and row_number() over (
                    partition by gt_id, iou >= {threshold!r} order by {_ORDER.format("")}
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
            where c.ignored_reason is null and not c.is_beyond_limit and not coalesce(s.is_tp, false)
        ),

        pairs as (
            select
                p.pred_id,
                p.label_mid,
                {_RANK_COLUMNS},
                g.gt_id,
                ({_INTERSECTION}) / ({_AREA.format("p")}) as ioa
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
                *,
                row_number() over (partition by gt_id order by {_ORDER.format("")}) = 1 as is_first,
                max(score) over (partition by gt_id) as group_score
            from best
            where ioa >= {threshold!r}
        )

        select * from final
        """
    )
    _outcomes(con, group_of_weight, threshold)


def _outcomes(con: duckdb.DuckDBPyConnection, group_of_weight: float, threshold: float) -> None:
    counts = group_of_weight > 0
    group_tp = "s2.is_first and s2.group_score > 0" if counts else "false"
    con.execute(
        f"""
        create or replace temp table eval_matches as
        with

        judged as (
            select
                f.*,
                s1.iou,
                s2.ioa,
                coalesce(case when s1.is_tp then s1.gt_id end, s2.gt_id, s1.gt_id) as gt_id,
                not coalesce(s1.is_tp, false) and s2.gt_id is not null as s2_group,
                case
                    when f.ignored_reason is not null then 'ignored'
                    when f.is_beyond_limit then 'ignored'
                    when s1.is_tp then 'tp'
                    when s2.gt_id is not null and {group_tp} then 'tp'
                    when s2.gt_id is not null then 'ignored'
                    else 'fp'
                end as outcome,
                case
                    when f.ignored_reason is not null then f.ignored_reason
                    when f.is_beyond_limit
                        then 'beyond the {LIMIT:,} highest-scoring predictions of the class on the image'
                    when s1.is_tp then 'takes the box it overlaps most (IoU >= {threshold:g})'
                    when s2.gt_id is not null and {group_tp}
                        then 'group-of box: its highest-scoring prediction counts once'
                    when s2.gt_id is not null and {"false" if counts else "true"}
                        then 'inside a group-of box (the V2 metric ignores group-of boxes)'
                    when s2.gt_id is not null and s2.group_score = 0
                        then 'inside a group-of box whose best score is 0 (the reference counts no entry)'
                    when s2.gt_id is not null then 'inside a group-of box already counted'
                    when s1.gt_id is null and not coalesce(l.has_boxes, false) then
                        case when coalesce(l.is_verified_negative, false)
                            then 'no box of the class on the image (verified absent)'
                            else 'no box of the class on the image' end
                    when s1.gt_id is null then 'only group-of boxes of the class on the image, none covers it'
                    when s1.iou < {threshold!r} then 'best box overlaps less than IoU {threshold:g}'
                    else 'best box already taken by a higher-ranked prediction'
                end as reason
            from eval_flagged as f
            left join eval_stage1 as s1 on s1.pred_id = f.pred_id and s1.label_mid = f.label_mid
            left join eval_stage2 as s2 on s2.pred_id = f.pred_id and s2.label_mid = f.label_mid
            left join eval_labels as l on l.image_id = f.image_id and l.label_mid = f.label_mid
        ),

        final as (
            select
                judged.line,
                judged.item,
                judged.image_id,
                judged.label_mid,
                judged.original_label_mid,
                judged.score,
                judged.x_min,
                judged.x_max,
                judged.y_min,
                judged.y_max,
                judged.outcome,
                judged.reason,
                case
                    when judged.outcome = 'tp' and judged.s2_group then {float(group_of_weight)!r}
                    when judged.outcome = 'tp' then 1.0
                    else 0.0
                end as tp_weight,
                judged.iou,
                judged.ioa,
                g.x_min as gt_x_min,
                g.x_max as gt_x_max,
                g.y_min as gt_y_min,
                g.y_max as gt_y_max,
                g.is_group_of as gt_is_group_of,
                judged.gt_id
            from judged
            left join eval_gt as g on g.gt_id = judged.gt_id
        )

        select * from final
        """
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
