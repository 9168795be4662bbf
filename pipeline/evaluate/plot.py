"""The precision/recall curves of the classes with the most ground truth, as one self-contained HTML file.

Plotly renders it offline: its JavaScript is inlined, so the file opens without a network.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.evaluate.options import EvalSummary

TOP_CLASSES = 12
MAX_POINTS = 400  # per curve: the plot draws the interpolated curve, sampled evenly


def write_pr_plot(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    summary: EvalSummary,
    per_class: str = "eval_per_class",
    curves: str = "eval_pr",
    top: int = TOP_CLASSES,
) -> None:
    """Write ``path``: PR curves of the ``top`` classes by ground-truth instances, with their AP in the legend.

    Each curve is the interpolated (non-increasing) precision the AP integrates, at most ``MAX_POINTS``
    points; ``pr_curves.parquet`` has every point.
    """
    import plotly.graph_objects as go  # type: ignore[import-untyped]  # imported here: only this output needs it

    chosen = con.execute(
        f"""
        select label_mid, coalesce(label_name, label_mid), ap
        from {per_class}
        where ap is not null
        order by gt_instances desc, label_mid
        limit {int(top)}
        """
    ).fetchall()
    figure = go.Figure()
    for mid, name, ap in chosen:
        points = con.execute(
            f"""
            with

            steps as (
                select
                    recall,
                    interpolated_precision,
                    row_number() over (order by threshold desc) as step,
                    count(*) over () as steps
                from {curves}
                where label_mid = $mid
            ),

            final as (
                select recall, interpolated_precision
                from steps
                where step % greatest(1, steps // {MAX_POINTS}) = 0 or step = steps or step = 1
                order by step
            )

            select * from final
            """,
            {"mid": mid},
        ).fetchnumpy()
        recall, precision = points["recall"].tolist(), points["interpolated_precision"].tolist()
        if not recall:  # ground truth and no TP or FP entry: AP 0
            recall, precision = [1.0], [0.0]
        figure.add_trace(
            go.Scatter(
                x=[0.0, *recall],  # the area under this step line is the AP
                y=[precision[0], *precision],
                mode="lines",
                name=f"{name} (AP {ap:.3f})",
                line={"shape": "vh"},
            )
        )
    score = "n/a" if summary.map is None else f"{summary.map:.4f}"
    figure.update_layout(
        title=f"{summary.metric_name}: mAP {score} on {summary.split} ({summary.classes_with_ground_truth} classes)",
        xaxis={"title": "recall", "range": [0, 1]},
        yaxis={"title": "precision", "range": [0, 1.02]},
        template="plotly_white",
    )
    figure.write_html(path, include_plotlyjs=True, full_html=True)
