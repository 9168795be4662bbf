"""The evaluation section's data: the registered runs (``evaluation_*`` views), each run's per-class AP
and the PR curves of its classes with most ground truth, thinned to at most ``CURVE_POINTS`` points."""

from __future__ import annotations

from typing import Any

from pipeline.query.api import Lake
from pipeline.report.rows import records

MAX_RUNS = 20  # runs shown (by name); the views hold them all
CURVE_RUNS = 4  # runs whose PR curves are drawn
CURVE_CLASSES = 6  # classes per run with a PR curve: those with most ground-truth instances
CURVE_POINTS = 200
WORST = 10  # classes listed as a run's worst


def evaluation_section(lake: Lake) -> dict[str, Any] | None:
    """The runs with their mAP, per-class AP (sorted) and PR curves; None when no run is registered
    (or the lake has no such views: runs are registered on local lakes)."""
    if "evaluation_runs" not in lake.tables():
        return None
    runs = records(
        lake,
        f"""
        select run, task, metric, official, split, release, map, predictions, tp, fp, ignored,
            classes_with_ground_truth
        from evaluation_runs order by run limit {MAX_RUNS}
        """,
    )
    if not runs:
        return None
    names = [r["run"] for r in runs]
    per_class = records(
        lake,
        """
        select run, label_mid, coalesce(label_name, label_mid) as label_name, ap, gt_instances, tp, fp
        from evaluation_per_class where ap is not null and list_contains($runs, run)
        order by run, ap, label_mid
        """,
        {"runs": names},
    )
    curves = records(
        lake,
        f"""
        with chosen as (
            select run, label_mid, coalesce(label_name, label_mid) as label_name, ap from evaluation_per_class
            where ap is not null and list_contains($runs, run)
            qualify row_number() over (partition by run order by gt_instances desc, label_mid) <= {CURVE_CLASSES}
        ),
        points as (
            select c.run, c.label_mid, c.label_name, c.ap, p.threshold, p.recall, p.precision,
                row_number() over w as n, count(*) over (partition by c.run, c.label_mid) as points
            from evaluation_pr_curves p join chosen c using (run, label_mid)
            window w as (partition by c.run, c.label_mid order by p.threshold desc)
        )
        select run, label_mid, any_value(label_name) as label_name, any_value(ap) as ap,
            list(recall order by n) as recall, list(precision order by n) as precision
        from points
        where n = 1 or n = points or n % ceil(points / {CURVE_POINTS})::bigint = 0
        group by run, label_mid
        order by run, label_mid
        """,
        {"runs": names[:CURVE_RUNS]},
    )
    return {"runs": runs, "per_class": per_class, "curves": curves, "worst": WORST}
