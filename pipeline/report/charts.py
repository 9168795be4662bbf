"""The report's charts: Plotly figures built from the gathered data, as JSON specs for ``Plotly.newPlot``.

Figures carry no template (the page applies ``TEMPLATE`` once to all of them) and at most
``MAX_POINTS`` points a trace, so the page stays small at full scale.
"""

from __future__ import annotations

import json
import math
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

from pipeline.report.rows import Record

Spec = dict[str, Any]
TEMPLATE = "plotly_white"
MAX_POINTS = 2000
SPLIT_COLORS = {"train": "#4c78a8", "validation": "#f58518", "test": "#54a24b"}
SPLIT_MEASURES = (
    "images",
    "boxes",
    "masks",
    "relationships",
    "narratives",
    "positive_labels",
    "negative_labels",
    "machine_labels",
)
LONG_TAIL = ("boxes", "images", "positive_labels", "machine_labels")
PER_IMAGE_CHARTS = ("boxes", "classes", "masks")


def template() -> Spec:
    """The one template every figure of the page uses."""
    spec: Spec = pio.templates[TEMPLATE].to_plotly_json()
    spec["layout"]["margin"] = {"l": 60, "r": 20, "t": 50, "b": 50}
    return spec


def spec(figure: go.Figure) -> Spec:
    """A figure as the JSON ``Plotly.newPlot`` takes (data and layout), without a template."""
    figure.update_layout(template=None)
    data: Spec = json.loads(pio.to_json(figure, validate=False))
    data["layout"].pop("template", None)
    return data


def thin(n: int, limit: int = MAX_POINTS) -> list[int]:
    """At most ``limit`` evenly spaced positions of ``range(n)``, the first and last always among them."""
    if n <= limit:
        return list(range(n))
    step = math.ceil(n / limit)
    return sorted({*range(0, n, step), n - 1})


def _split_color(split: str) -> str:
    return SPLIT_COLORS.get(split, "#888888")


def family_seconds(families: list[Record]) -> Spec:
    rows = sorted(families, key=lambda f: f["seconds"])
    figure = go.Figure(
        go.Bar(
            x=[f["seconds"] for f in rows],
            y=[f["family"] for f in rows],
            orientation="h",
            text=[f"{f['seconds']:.2f} s, {f['files']} files" for f in rows],
            textposition="auto",
        )
    )
    figure.update_layout(
        title="Ingest time per family (sum over its files)", xaxis_title="seconds", height=max(260, 40 + 28 * len(rows))
    )
    return spec(figure)


def split_totals(splits: list[Record]) -> Spec:
    figure = go.Figure(
        [
            go.Bar(
                name=s["split"],
                x=list(SPLIT_MEASURES),
                y=[s[m] for m in SPLIT_MEASURES],
                marker_color=_split_color(s["split"]),
            )
            for s in splits
        ]
    )
    figure.update_layout(title="What each split holds (log scale)", barmode="group", yaxis_type="log")
    return spec(figure)


def long_tail(classes: dict[str, Any]) -> Spec:
    """Per class (all splits), sorted: boxes, images, positive and machine labels on a log scale."""
    metrics = classes["metrics"]
    totals: dict[str, list[int]] = {m: [0] * len(classes["mids"]) for m in LONG_TAIL}
    for row in classes["stats"]:
        for m in LONG_TAIL:
            totals[m][row[0]] += row[2 + metrics.index(m)]
    figure = go.Figure()
    for m in LONG_TAIL:
        ranked = sorted(((v, classes["names"][i]) for i, v in enumerate(totals[m]) if v > 0), key=lambda p: -p[0])
        keep = thin(len(ranked))
        figure.add_trace(
            go.Scatter(
                x=[k + 1 for k in keep],
                y=[ranked[k][0] for k in keep],
                text=[ranked[k][1] for k in keep],
                mode="lines" if len(keep) > 50 else "lines+markers",
                name=f"{m} ({len(ranked):,} classes)",
                hovertemplate="#%{x}: %{text}<br>%{y:,}",
            )
        )
    figure.update_layout(
        title="The long tail: per class, sorted (log scale)",
        xaxis_title="class rank",
        yaxis_type="log",
        yaxis_title="annotations",
    )
    return spec(figure)


def per_image(data: dict[str, Any], metric: str) -> Spec:
    figure = go.Figure()
    splits = list(dict.fromkeys(h["split"] for h in data["histogram"]))
    for split in splits:
        rows = [h for h in data["histogram"] if h["metric"] == metric and h["split"] == split]
        figure.add_trace(
            go.Bar(
                name=split,
                x=[r["value"] for r in rows],
                y=[r["images"] for r in rows],
                marker_color=_split_color(split),
            )
        )
    figure.update_layout(
        title=f"{metric.replace('_', ' ').capitalize()} per image",
        barmode="group",
        xaxis_title=metric.replace("_", " "),
        yaxis_title="images (log)",
        yaxis_type="log",
    )
    return spec(figure)


def geometry_quantiles(data: dict[str, Any], measure: str) -> Spec:
    """Box plots drawn from the mart's quantiles: p25-p75 boxes, median, p05 and p95 whiskers, per split."""
    figure = go.Figure()
    for split in dict.fromkeys(r["split"] for r in data["top"]):
        rows = [r for r in data["top"] if r["split"] == split]
        figure.add_trace(
            go.Box(
                name=split,
                y=[r["label_name"] or r["label_mid"] for r in rows],
                orientation="h",
                q1=[r[f"{measure}_p25"] for r in rows],
                median=[r[f"{measure}_median"] for r in rows],
                q3=[r[f"{measure}_p75"] for r in rows],
                lowerfence=[r[f"{measure}_p05"] for r in rows],
                upperfence=[r[f"{measure}_p95"] for r in rows],
                marker_color=_split_color(split),
            )
        )
    title = "Box area (fraction of the image)" if measure == "area" else "Box aspect ratio (width / height)"
    classes = len({r["label_mid"] for r in data["top"]})
    figure.update_layout(
        title=f"{title}: p05, p25, median, p75, p95 of the {classes} classes with most boxes",
        boxmode="group",
        xaxis_type="log",
        height=max(400, 120 + 34 * classes),
        yaxis_autorange="reversed",
    )
    return spec(figure)


def geometry_medians(data: dict[str, Any]) -> Spec:
    rows = data["medians"]
    figure = go.Figure(
        go.Scatter(
            x=[r["area_median"] for r in rows],
            y=[r["aspect_ratio_median"] for r in rows],
            mode="markers",
            text=[r["label_name"] or r["label_mid"] for r in rows],
            customdata=[r["boxes"] for r in rows],
            marker={
                "size": [r["boxes"] for r in rows],
                "sizemode": "area",
                "sizemin": 3,
                "opacity": 0.6,
                "sizeref": 2 * max([r["boxes"] for r in rows] or [1]) / 30**2,
            },
            hovertemplate="%{text}<br>median area %{x:.3f}, aspect %{y:.2f}<br>%{customdata:,} boxes<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Median box area and aspect ratio per class ({data['split']}, {len(rows):,} classes)",
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="median area",
        yaxis_title="median aspect ratio",
    )
    return spec(figure)


def attribute_overall(data: dict[str, Any]) -> Spec:
    rows = data["overall"]
    figure = go.Figure()
    for part, color in (("true_boxes", "#4c78a8"), ("false_boxes", "#bab0ac"), ("unknown", "#e45756")):
        figure.add_trace(
            go.Bar(
                name=part.removesuffix("_boxes"),
                y=[r["attribute"] for r in rows],
                orientation="h",
                marker_color=color,
                x=[r[part] / r["boxes"] if r["boxes"] else 0 for r in rows],
                customdata=[r[part] for r in rows],
                hovertemplate="%{y}: %{x:.1%} (%{customdata:,} boxes)",
            )
        )
    figure.update_layout(
        title="Box attributes: true, false and unknown (-1 in the files), share of all boxes",
        barmode="stack",
        xaxis_tickformat=".0%",
        height=320,
    )
    return spec(figure)


def attribute_classes(data: dict[str, Any]) -> Spec:
    rows = data["top"]
    names = [r["label_name"] or r["label_mid"] for r in rows]
    z = [[r[f"{a}_share"] for a in data["attributes"]] for r in rows]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=list(data["attributes"]),
            y=names,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=[["" if v is None else f"{v:.0%}" for v in line] for line in z],
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{z:.1%} of the boxes whose value is known<extra></extra>",
        )
    )
    figure.update_layout(
        title="Attribute shares of the classes with most boxes (unknown values left out)",
        height=max(400, 100 + 24 * len(rows)),
        yaxis_autorange="reversed",
    )
    return spec(figure)


def relationship_triplets(data: dict[str, Any]) -> Spec:
    figure = go.Figure()
    for listed in (True, False):
        rows = [r for r in data["top"] if r["in_triplet_list"] is listed]
        figure.add_trace(
            go.Bar(
                name="on the official triplet list" if listed else "not on the list",
                orientation="h",
                y=[f"{r['subject']} · {r['relationship']} · {r['object']}" for r in rows],
                x=[r["relationships"] for r in rows],
                marker_color="#4c78a8" if listed else "#e45756",
            )
        )
    figure.update_layout(
        title=f"The {len(data['top'])} most frequent relationship triplets",
        height=max(400, 100 + 22 * len(data["top"])),
        yaxis_autorange="reversed",
        yaxis_categoryorder="total descending",
        xaxis_title="annotations",
    )
    return spec(figure)


def relationship_predicates(data: dict[str, Any]) -> Spec:
    rows = data["predicates"]
    figure = go.Figure(
        go.Bar(
            x=[r["relationship"] for r in rows],
            y=[r["relationships"] for r in rows],
            customdata=[r["triplets"] for r in rows],
            hovertemplate="%{x}: %{y:,} annotations, %{customdata} triplets<extra></extra>",
        )
    )
    figure.update_layout(title="Annotations per relationship (log scale)", yaxis_type="log")
    return spec(figure)


def narrative_coverage(rows: list[Record]) -> Spec:
    figure = go.Figure(
        [
            go.Bar(
                name="with a narrative",
                x=[r["split"] for r in rows],
                y=[r["images_with_narratives"] for r in rows],
                marker_color="#4c78a8",
            ),
            go.Bar(
                name="without",
                x=[r["split"] for r in rows],
                y=[r["images"] - r["images_with_narratives"] for r in rows],
                marker_color="#bab0ac",
            ),
        ]
    )
    figure.update_layout(title="Images with localized narratives", barmode="stack", yaxis_title="images", height=340)
    return spec(figure)


def evaluation_map(data: dict[str, Any]) -> Spec:
    runs = data["runs"]
    figure = go.Figure(
        go.Bar(
            x=[r["run"] for r in runs],
            y=[r["map"] for r in runs],
            text=[f"{r['map']:.4f}" if r["map"] is not None else "n/a" for r in runs],
            textposition="auto",
            customdata=[f"{r['task']}, {r['metric']}, {r['split']}" for r in runs],
            hovertemplate="%{x}: %{y:.4f}<br>%{customdata}<extra></extra>",
        )
    )
    figure.update_layout(title="mAP per registered run", yaxis_range=[0, 1], height=340)
    return spec(figure)


def evaluation_ap(data: dict[str, Any]) -> Spec:
    """Per run, its classes' AP from best to worst."""
    figure = go.Figure()
    for run in data["runs"]:
        rows = sorted((r for r in data["per_class"] if r["run"] == run["run"]), key=lambda r: -r["ap"])
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(rows) + 1)),
                y=[r["ap"] for r in rows],
                text=[r["label_name"] for r in rows],
                mode="lines+markers" if len(rows) <= 100 else "lines",
                name=run["run"],
                hovertemplate="#%{x}: %{text}<br>AP %{y:.3f}",
            )
        )
    figure.update_layout(
        title="Per-class AP, best to worst", xaxis_title="class rank", yaxis_title="AP", yaxis_range=[0, 1.02]
    )
    return spec(figure)


def evaluation_curves(data: dict[str, Any], run: str) -> Spec:
    figure = go.Figure()
    for curve in (c for c in data["curves"] if c["run"] == run):
        figure.add_trace(
            go.Scatter(
                x=[0.0, *curve["recall"]],
                y=[curve["precision"][0] if curve["precision"] else 0.0, *curve["precision"]],
                mode="lines",
                line_shape="hv",
                name=f"{curve['label_name']} (AP {curve['ap']:.3f})",
            )
        )
    figure.update_layout(
        title=f"{run}: precision / recall of the classes with most ground truth",
        xaxis_title="recall",
        yaxis_title="precision",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.02],
    )
    return spec(figure)


def sunburst(classes: dict[str, Any], hierarchy: dict[str, Any]) -> Spec:
    """The subcategory tree from the root, one wedge per path (a class under two parents appears twice),
    sized by the classes below it and coloured by its boxes with descendants (log)."""
    children: dict[int, list[int]] = {}
    for parent, child in hierarchy["edges"]:
        children.setdefault(parent, []).append(child)
    names = hierarchy["total_names"]
    totals = {t[0]: dict(zip(names, t[1:], strict=True)) for t in hierarchy["totals"]}
    ids: list[str] = []
    parents: list[str] = []
    positions: list[int] = []
    stack: list[tuple[int, str, str]] = [(hierarchy["root"], str(hierarchy["root"]), "")]
    while stack:
        node, path, parent = stack.pop()
        ids.append(path)
        parents.append(parent)
        positions.append(node)
        for child in sorted(children.get(node, []), key=lambda c: classes["names"][c], reverse=True):
            if f"/{child}/" not in f"/{path}/":  # a cycle would never end
                stack.append((child, f"{path}/{child}", path))
    own = [totals.get(p, {}).get("boxes", 0) for p in positions]
    expanded = [totals.get(p, {}).get("boxes_with_descendants", 0) for p in positions]
    figure = go.Figure(
        go.Sunburst(
            ids=ids,
            parents=parents,
            labels=[classes["names"][p] for p in positions],
            values=[1] * len(ids),
            branchvalues="remainder",
            customdata=[[p, o, e] for p, o, e in zip(positions, own, expanded, strict=True)],
            marker={"colors": [math.log10(e + 1) for e in expanded], "colorscale": "Blues", "showscale": False},
            hovertemplate="<b>%{label}</b><br>%{customdata[1]:,} boxes, %{customdata[2]:,} with descendants"
            "<extra></extra>",
            maxdepth=3,
            insidetextorientation="radial",
        )
    )
    figure.update_layout(
        title="The class hierarchy (click a class; the centre goes back up)",
        height=640,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return spec(figure)
