"""The precision/recall curves of the classes with the most ground truth, as one self-contained HTML file.

Plotly renders it offline: its JavaScript is inlined, so the file opens without a network.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.evaluate.options import EvalSummary

TOP_CLASSES = 12


def write_pr_plot(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    summary: EvalSummary,
    per_class: str = "eval_per_class",
    curves: str = "eval_pr",
    top: int = TOP_CLASSES,
) -> None:
    """Write ``path``: PR curves of the ``top`` classes by ground-truth instances, with their AP in the legend."""
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
            f"select recall, precision from {curves} where label_mid = $mid order by threshold desc", {"mid": mid}
        ).fetchall()
        figure.add_trace(
            go.Scatter(
                x=[0.0, *(p[0] for p in points)],
                y=[points[0][1] if points else 0.0, *(p[1] for p in points)],
                mode="lines",
                name=f"{name} (AP {ap:.3f})",
                line={"shape": "hv"},
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
