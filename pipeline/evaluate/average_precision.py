"""Average precision per class from TP/FP entries, as ``metrics.py`` computes it, in DuckDB.

All entries of a class, over all images, sorted by score (descending); precision and recall are
cumulated; AP is the area under the curve after precision is made non-increasing (VOC 2010, all
points). Entries of equal score form one threshold (all enter the curve together), so the result does
not depend on their order; without ties this is exactly the reference's per-entry curve.
"""

from __future__ import annotations

import duckdb


def stage_curves(con: duckdb.DuckDBPyConnection, entries: str, instances: str) -> None:
    """``eval_pr``: per class and distinct score, cumulated tp/fp, precision, recall, interpolated precision.

    ``entries`` is a relation of (label_mid, score, tp): ``tp`` the entry's weight as a true positive (1, or a
    group-of box's weight), 0 for a false positive (as the reference: an entry is a FP when its label <= 0);
    ``instances`` of (label_mid, gt_instances).
    """
    con.execute(
        f"""
        create or replace temp table eval_pr as
        with

        thresholds as (
            select
                label_mid,
                score,
                sum(tp) as tp,
                count(*) filter (where tp <= 0) as fp
            from ({entries})
            group by label_mid, score
        ),

        cumulated as (
            select
                t.label_mid,
                t.score,
                sum(t.tp) over w as cum_tp,
                sum(t.fp) over w as cum_fp,
                n.gt_instances
            from thresholds as t
            inner join ({instances}) as n on n.label_mid = t.label_mid
            where n.gt_instances > 0
            window w as (partition by t.label_mid order by t.score desc rows unbounded preceding)
        ),

        final as (
            select
                label_mid,
                score as threshold,
                cum_tp as tp,
                cast(cum_fp as bigint) as fp,
                cum_tp / (cum_tp + cum_fp) as precision,
                cum_tp / gt_instances as recall,
                max(cum_tp / (cum_tp + cum_fp)) over (
                    partition by label_mid order by score asc rows unbounded preceding
                ) as interpolated_precision
            from cumulated
        )

        select * from final
        """
    )


def stage_ap(con: duckdb.DuckDBPyConnection, instances: str) -> None:
    """``eval_ap``: AP per class with ground truth (0 when nothing was predicted), from ``eval_pr``."""
    con.execute(
        f"""
        create or replace temp table eval_ap as
        with

        steps as (
            select
                label_mid,
                (recall - lag(recall, 1, 0) over (partition by label_mid order by threshold desc))
                * interpolated_precision as area
            from eval_pr
        ),

        areas as (
            select
                label_mid,
                fsum(area) as ap
            from steps
            group by label_mid
        ),

        final as (
            select
                n.label_mid,
                coalesce(areas.ap, 0.0) as ap
            from ({instances}) as n
            left join areas on areas.label_mid = n.label_mid
            where n.gt_instances > 0
        )

        select * from final
        """
    )
