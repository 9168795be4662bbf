"""``write_report``: gather a lake's marts, manifest and evaluation runs, draw the charts, write one HTML file."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.lake.store import open_store
from pipeline.query.api import Lake, open_lake
from pipeline.report import charts, sections
from pipeline.report.build_info import build_section
from pipeline.report.classes import class_section, hierarchy_section
from pipeline.report.distributions import attributes, geometry, narratives, per_image, relationships, split_totals
from pipeline.report.evaluations import evaluation_section
from pipeline.report.html import document


@dataclass(frozen=True)
class ReportResult:
    """What ``write_report`` wrote: the file, its size, the release it shows and the figures it draws."""

    path: Path
    bytes: int
    release: str
    figures: tuple[str, ...]
    seconds: float


def gather(lake: Lake, storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """Every section's data from an open lake (aggregates only), JSON-ready."""
    release = PurePosixPath(str(lake.release)).name
    manifest = open_store(lake.root, storage_options).manifest(release)
    classes = class_section(lake)
    return {
        "build": build_section(lake, manifest),
        "splits": split_totals(lake),
        "classes": classes,
        "hierarchy": hierarchy_section(lake, classes["mids"]),
        "images": per_image(lake),
        "geometry": geometry(lake),
        "attributes": attributes(lake),
        "relationships": relationships(lake),
        "narratives": narratives(lake),
        "evaluation": evaluation_section(lake),
    }


def figures(data: dict[str, Any]) -> dict[str, charts.Spec]:
    """The page's figures by slot name; a section without data has none."""
    made: dict[str, charts.Spec] = {}
    if data["build"]["families"]:
        made["family_seconds"] = charts.family_seconds(data["build"]["families"])
    if data["splits"]:
        made["split_totals"] = charts.split_totals(data["splits"])
    if data["classes"]["stats"]:
        made["long_tail"] = charts.long_tail(data["classes"])
    if data["hierarchy"]["root"] is not None:
        made["sunburst"] = charts.sunburst(data["classes"], data["hierarchy"])
    if data["images"]["summary"]:
        for metric in charts.PER_IMAGE_CHARTS:
            made[f"per_image_{metric}"] = charts.per_image(data["images"], metric)
    if data["geometry"]["top"]:
        made["geometry_area"] = charts.geometry_quantiles(data["geometry"], "area")
        made["geometry_aspect_ratio"] = charts.geometry_quantiles(data["geometry"], "aspect_ratio")
        made["geometry_medians"] = charts.geometry_medians(data["geometry"])
    if data["attributes"]["top"]:
        made["attribute_overall"] = charts.attribute_overall(data["attributes"])
        made["attribute_classes"] = charts.attribute_classes(data["attributes"])
    if data["relationships"]["totals"]["triplets"]:
        made["relationship_triplets"] = charts.relationship_triplets(data["relationships"])
        made["relationship_predicates"] = charts.relationship_predicates(data["relationships"])
    if data["narratives"]:
        made["narrative_coverage"] = charts.narrative_coverage(data["narratives"])
    evaluation = data["evaluation"]
    if evaluation is not None:
        made["evaluation_map"] = charts.evaluation_map(evaluation)
        made["evaluation_ap"] = charts.evaluation_ap(evaluation)
        for run in dict.fromkeys(c["run"] for c in evaluation["curves"]):
            made[f"evaluation_pr_{run}"] = charts.evaluation_curves(evaluation, run)
    return made


def render(data: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The page for gathered ``data``, and the names of its figures."""
    made = figures(data)
    build = data["build"]
    body = "\n".join(
        [
            sections.build_html(build),
            sections.splits_html(data["splits"]),
            sections.classes_html(data["classes"]),
            sections.hierarchy_html(data["hierarchy"]["root"] is not None),
            sections.images_html(data["images"], [f for f in made if f.startswith("per_image_")]),
            sections.geometry_html(data["geometry"]),
            sections.attributes_html(data["attributes"]),
            sections.relationships_html(data["relationships"]),
            sections.narratives_html(data["narratives"]),
            sections.evaluation_html(
                data["evaluation"], build["release"], [f for f in made if f.startswith("evaluation_pr_")]
            ),
        ]
    )
    payload = {
        "template": charts.template(),
        "figures": made,
        "classes": data["classes"],
        "hierarchy": data["hierarchy"],
    }
    header = sections.header_html(build, data["classes"], data["splits"])
    page = document(f"Open Images lake report: {build['release']}", header, sections.SECTIONS, body, payload)
    return page, tuple(made)


def write_report(
    lake: Path | str = "lake", output: Path | str = "report.html", storage_options: dict[str, str] | None = None
) -> ReportResult:
    """Write ``output``: one self-contained HTML page about the lake's current release."""
    started = time.monotonic()
    with open_lake(lake, storage_options) as opened:
        data = gather(opened, storage_options)
    page, names = render(data)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return ReportResult(path, path.stat().st_size, data["build"]["release"], names, time.monotonic() - started)
