"""Visual relationship evaluation: relationship and phrase detection, as ``vrd_evaluation.py`` computes them.

A predicted triplet (subject class and box, relationship, object class and box) is compared with the
ground-truth triplets of the same image and the same three labels. Relationship detection: the overlap
is the smaller of the subject's and the object's IoU. Phrase detection: the IoU of the boxes enclosing
subject and object. Each prediction looks only at the triplet it overlaps most; at >= 0.5 the
highest-ranked such prediction is a TP, every other one a FP. No hierarchy, no group-of, no limit.

As in the reference:
- a prediction counts only on an image with ground-truth triplets and only when both its classes
  occur in that image's triplets (the reference script hands the verified labels to the evaluator
  under a key it never reads, so they play no part);
- boxes are float32 (the reference's ``vrd_box_data_type``) and the IoU arithmetic follows its dtypes;
- AP per relationship over the relationships with ground truth, mAP their mean, weighted AP over all
  entries at once, Recall@K the TPs among each image's K highest-scoring predictions over all
  ground-truth triplets.
Ties follow the rule of the detection metric (``options.TIE_RULE``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.core.errors import EvaluationError
from pipeline.core.schema import output_schemas
from pipeline.core.sql_text import sql_string
from pipeline.evaluate import average_precision
from pipeline.evaluate.ground_truth import exact
from pipeline.evaluate.options import EvalOptions, EvalSummary
from pipeline.evaluate.predictions import PREDICTION_ID
from pipeline.write.parquet_writer import write_batches

MODES = ("relationship", "phrase")
RECALL_AT = (50, 100)
_F32 = "cast({} as float)"


def _f32_exact(column: str) -> str:
    """The published decimal as the reference holds it: parsed as float64, stored as float32."""
    return _F32.format(exact(column))


def _box(prefix: str, suffix: str) -> list[str]:
    return [f"{prefix}{c}{suffix}" for c in ("x_min", "x_max", "y_min", "y_max")]


def _iou(a: str, b: str, sa: str, sb: str) -> str:
    """IoU of box ``a{..}{sa}`` and ``b{..}{sb}`` (float32 columns) in the reference's dtypes.

    Heights and widths are float32 differences widened to float64 (``np.maximum`` with float64 zeros),
    areas float32, their sum float32, the rest float64.
    """
    h = f"greatest(0::double, least({a}.y_max{sa}, {b}.y_max{sb}) - greatest({a}.y_min{sa}, {b}.y_min{sb}))"
    w = f"greatest(0::double, least({a}.x_max{sa}, {b}.x_max{sb}) - greatest({a}.x_min{sa}, {b}.x_min{sb}))"
    area_a = f"(({a}.y_max{sa} - {a}.y_min{sa}) * ({a}.x_max{sa} - {a}.x_min{sa}))"
    area_b = f"(({b}.y_max{sb} - {b}.y_min{sb}) * ({b}.x_max{sb} - {b}.x_min{sb}))"
    inter = f"({h} * {w})"
    return f"({inter} / (cast({area_a} + {area_b} as double) - {inter}))"


def _stage(con: duckdb.DuckDBPyConnection, split: str, staged: str) -> None:
    box_columns = ",\n".join(f"{_f32_exact(c)} as {c}" for c in (*_box("", "_1"), *_box("", "_2")))
    con.execute(
        f"""
        create or replace temp table vrd_gt as
        with

        triplets as (
            select
                image_id,
                label_mid_1,
                label_mid_2,
                relationship,
                {box_columns}
            from relationships
            where split = $split
        ),

        final as (
            select
                row_number() over (
                    order by image_id, label_mid_1, label_mid_2, relationship,
                    x_min_1, y_min_1, x_max_1, y_max_1, x_min_2, y_min_2, x_max_2, y_max_2
                ) as gt_id,
                *,
                least(x_min_1, x_min_2) as x_min_u,
                greatest(x_max_1, x_max_2) as x_max_u,
                least(y_min_1, y_min_2) as y_min_u,
                greatest(y_max_1, y_max_2) as y_max_u
            from triplets
        )

        select * from final
        """,
        {"split": split},
    )
    con.execute(
        """
        create or replace temp table vrd_classes as
        with

        final as (
            select distinct image_id, label_mid_1 as label_mid from vrd_gt
            union
            select distinct image_id, label_mid_2 as label_mid from vrd_gt
        )

        select * from final
        """
    )
    pred_boxes = ",\n".join(f"cast({c} as float) as {c}" for c in (*_box("", "_1"), *_box("", "_2")))
    con.execute(
        f"""
        create or replace temp table vrd_pred as
        with

        typed as (
            select
                {PREDICTION_ID} as pred_id,
                line,
                image_id,
                label_mid_1,
                label_mid_2,
                relationship,
                score,
                {pred_boxes}
            from read_parquet({sql_string(staged)})
        ),

        flagged as (
            select
                typed.*,
                least(x_min_1, x_min_2) as x_min_u,
                greatest(x_max_1, x_max_2) as x_max_u,
                least(y_min_1, y_min_2) as y_min_u,
                greatest(y_max_1, y_max_2) as y_max_u,
                case
                    when not exists (select 1 from vrd_gt where vrd_gt.image_id = typed.image_id)
                        then 'image without relationship ground truth in the split'
                    when c1.label_mid is null or c2.label_mid is null
                        then 'class not in the image''s ground-truth triplets'
                end as ignored_reason
            from typed
            left join vrd_classes as c1 on c1.image_id = typed.image_id and c1.label_mid = typed.label_mid_1
            left join vrd_classes as c2 on c2.image_id = typed.image_id and c2.label_mid = typed.label_mid_2
        ),

        final as (
            select
                *,
                case when ignored_reason is null then row_number() over (
                    partition by image_id, label_mid_1, label_mid_2, relationship, ignored_reason is null
                    order by score desc, x_min_1, y_min_1, x_max_1, y_max_1, x_min_2, y_min_2, x_max_2, y_max_2,
                        pred_id
                ) end as rank,
                case when ignored_reason is null then row_number() over (
                    partition by image_id, ignored_reason is null
                    order by score desc, x_min_1, y_min_1, x_max_1, y_max_1, x_min_2, y_min_2, x_max_2, y_max_2,
                        pred_id
                ) end as image_rank
            from flagged
        )

        select * from final
        """
    )


def _match(con: duckdb.DuckDBPyConnection, mode: str, threshold: float) -> None:
    if mode == "relationship":
        overlap = f"least(1.0, {_iou('p', 'g', '_1', '_1')}, {_iou('p', 'g', '_2', '_2')})"
    else:
        overlap = f"least(1.0, {_iou('p', 'g', '_u', '_u')})"
    con.execute(
        f"""
        create or replace temp table vrd_{mode} as
        with

        pairs as (
            select
                p.pred_id,
                p.rank,
                g.gt_id,
                {overlap} as iou
            from vrd_pred as p
            inner join vrd_gt as g
                on
                    g.image_id = p.image_id
                    and g.label_mid_1 = p.label_mid_1
                    and g.label_mid_2 = p.label_mid_2
                    and g.relationship = p.relationship
            where p.ignored_reason is null
        ),

        best as (
            select * from pairs
            qualify row_number() over (partition by pred_id order by iou desc, gt_id asc) = 1
        ),

        final as (
            select
                best.*,
                iou >= {threshold!r} and row_number() over (
                    partition by gt_id, iou >= {threshold!r} order by rank
                ) = 1 as is_tp
            from best
        )

        select * from final
        """
    )


def evaluate(
    con: duckdb.DuckDBPyConnection, staged: str, options: EvalOptions, summary: EvalSummary, work: Path
) -> EvalSummary:
    """Relationship and phrase detection over ``options.split``; the tables ``vrd_*`` for the outputs.

    The PR curves go to ``work/pr_curves.parquet`` (relationships) and ``work/phrase_pr_curves.parquet``.
    """
    _stage(con, options.split, staged)
    con.execute(
        """
        create or replace temp table vrd_instances as
        select relationship as label_mid, count(*) as gt_instances, count(distinct image_id) as gt_images
        from vrd_gt
        group by relationship
        """
    )
    total_gt, images = con.execute("select count(*), count(distinct image_id) from vrd_gt").fetchall()[0]
    if total_gt == 0:
        raise EvaluationError(
            f"the lake has no visual relationships for split {options.split!r}",
            hint="build the lake with the relationship files (`--only relationships`) and pass --split",
        )
    metrics: dict[str, float | None] = {}
    for mode in MODES:
        _match(con, mode, options.iou_threshold)
        entries = (
            f"select p.relationship as label_mid, p.score, case when m.is_tp then 1.0 else 0.0 end as tp "
            f"from vrd_pred as p left join vrd_{mode} as m on m.pred_id = p.pred_id where p.ignored_reason is null"
        )
        prefix = "" if mode == "relationship" else "phrase_"
        curves = work / f"{prefix}pr_curves.parquet"
        average_precision.stage_curves(con, entries, "select * from vrd_instances", curves, f"vrd_{mode}")
        (mean_ap,) = con.execute(f"select avg(ap) from vrd_{mode}_ap").fetchall()[0]
        overall = f"select 'all' as label_mid, score, tp from ({entries})"
        pooled = f"select 'all' as label_mid, {int(total_gt)} as gt_instances"
        average_precision.stage_curves(con, overall, pooled, work / f"{prefix}pooled.parquet", f"vrd_{mode}_all")
        (weighted,) = con.execute(f"select ap from vrd_{mode}_all_ap").fetchall()[0]
        metrics[f"{mode}_map"] = None if mean_ap is None else float(mean_ap)
        metrics[f"{mode}_weighted_ap"] = float(weighted)
        for k in RECALL_AT:
            (hits,) = con.execute(
                f"select count(*) from vrd_pred as p inner join vrd_{mode} as m on m.pred_id = p.pred_id "
                f"where m.is_tp and p.image_rank <= {k}"
            ).fetchall()[0]
            metrics[f"{mode}_recall_at_{k}"] = hits / total_gt
    summary.metrics = metrics
    summary.map = metrics["relationship_map"]
    summary.classes_evaluated = int(con.execute("select count(*) from vrd_instances").fetchall()[0][0])
    summary.classes_with_ground_truth = summary.classes_evaluated
    summary.images_with_ground_truth = int(images)
    summary.counts["gt_instances"] = int(total_gt)
    outcomes = dict(con.execute(
        "select case when p.ignored_reason is not null then 'ignored' when m.is_tp then 'tp' else 'fp' end, count(*) "
        "from vrd_pred as p left join vrd_relationship as m on m.pred_id = p.pred_id group by 1"
    ).fetchall())  # fmt: skip
    summary.counts.update({k: int(outcomes.get(k, 0)) for k in ("tp", "fp", "ignored")})
    summary.ignored = dict(con.execute(
        "select ignored_reason, count(*) from vrd_pred where ignored_reason is not null group by 1 order by 2 desc"
    ).fetchall())  # fmt: skip
    _per_class(con)
    return summary


def _per_class(con: duckdb.DuckDBPyConnection) -> None:
    for mode in MODES:
        con.execute(
            f"""
            create or replace temp table vrd_per_class_{mode} as
            with

            counted as (
                select
                    p.relationship as label_mid,
                    count(*) as predictions,
                    count(*) filter (where m.is_tp) as tp,
                    count(*) filter (where p.ignored_reason is null and not coalesce(m.is_tp, false)) as fp,
                    count(*) filter (where p.ignored_reason is not null) as ignored
                from vrd_pred as p
                left join vrd_{mode} as m on m.pred_id = p.pred_id
                group by 1
            ),

            final as (
                select
                    coalesce(n.label_mid, c.label_mid) as label_mid,
                    coalesce(n.label_mid, c.label_mid) as label_name,
                    ap.ap,
                    coalesce(n.gt_instances, 0) as gt_instances,
                    0 as gt_group_of,
                    coalesce(n.gt_images, 0) as gt_images,
                    coalesce(c.predictions, 0) as predictions,
                    coalesce(c.tp, 0) as tp,
                    coalesce(c.fp, 0) as fp,
                    coalesce(c.ignored, 0) as ignored
                from vrd_instances as n
                full outer join counted as c on c.label_mid = n.label_mid
                left join vrd_{mode}_ap as ap on ap.label_mid = n.label_mid
            )

            select * from final
            """
        )


def write_outputs(con: duckdb.DuckDBPyConnection, work: Path, threshold: float) -> None:
    """per_class / pr_curves (relationship detection), phrase_per_class / phrase_pr_curves, vrd_matches."""
    schemas = output_schemas("evaluation")
    rows = 256 * 1024
    for mode, prefix in (("relationship", ""), ("phrase", "phrase_")):
        write_batches(
            work / f"{prefix}per_class.parquet",
            schemas["per_class"],
            con.sql(f"select * from vrd_per_class_{mode} order by label_mid").to_arrow_reader(rows),
        )
    outcome = "case when p.ignored_reason is not null then 'ignored' when {0}.is_tp then 'tp' else 'fp' end"
    reason = (
        "case when p.ignored_reason is not null then p.ignored_reason "
        "when {0}.is_tp then 'takes the triplet it overlaps most (IoU >= threshold)' "
        "when {0}.gt_id is null then 'no ground-truth triplet with these labels on the image' "
        "when {0}.iou < $t then 'best triplet overlaps less than the threshold' "
        "else 'best triplet already taken by a higher-ranked prediction' end"
    )
    query = f"""
        select
            p.line, p.image_id, p.label_mid_1, p.label_mid_2, p.relationship, p.score,
            p.x_min_1, p.x_max_1, p.y_min_1, p.y_max_1, p.x_min_2, p.x_max_2, p.y_min_2, p.y_max_2,
            {outcome.format("r")} as outcome, {reason.format("r")} as reason, r.iou,
            {outcome.format("ph")} as phrase_outcome, {reason.format("ph")} as phrase_reason, ph.iou as phrase_iou,
            p.image_rank
        from vrd_pred as p
        left join vrd_relationship as r on r.pred_id = p.pred_id
        left join vrd_phrase as ph on ph.pred_id = p.pred_id
        order by p.image_id, p.relationship, p.score desc, p.line
    """
    write_batches(work / "vrd_matches.parquet", schemas["vrd_matches"],
                  con.sql(query, params={"t": threshold}).to_arrow_reader(rows))  # fmt: skip
