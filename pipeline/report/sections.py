"""The report's sections as HTML: static tables of the gathered numbers, and slots for the figures and
the interactive parts (class explorer, hierarchy) that the page script fills in."""

from __future__ import annotations

from typing import Any

from pipeline.report.html import empty, esc, facts, figure, number, table

# (id, title): the sections in page order
SECTIONS = (
    ("build", "Build"),
    ("splits", "Splits"),
    ("classes", "Classes"),
    ("hierarchy", "Hierarchy"),
    ("images", "Per image"),
    ("geometry", "Box geometry"),
    ("attributes", "Attributes"),
    ("relationships", "Relationships"),
    ("narratives", "Narratives"),
    ("evaluation", "Evaluation"),
)


def section(ident: str, title: str, body: str, intro: str = "") -> str:
    lead = f"<p class='intro'>{intro}</p>" if intro else ""
    return f'<section id="{esc(ident)}" data-section="{esc(ident)}"><h2>{esc(title)}</h2>{lead}{body}</section>'


def build_html(build: dict[str, Any]) -> str:
    seconds = build["seconds"]
    top = facts(
        [
            ("release", f"<code id='release-id'>{esc(build['release'])}</code>"),
            (
                "built",
                f"{esc(build['started'])} → {esc(build['finished'])}"
                + (f" ({seconds:,.1f} s)" if seconds is not None else ""),
            ),
            ("source", f"<code>{esc(build['source'])}</code>"),
            ("tool", esc(f"{build['tool']}, Python {build['python']} on {build['host']}")),
            ("libraries", esc(", ".join(f"{k} {v}" for k, v in build["libraries"].items()))),
            ("options", esc(", ".join(f"{k}={v}" for k, v in build["options"].items()) or "defaults")),
        ]
    )
    tables = [{**t, "files": len(t["files"]), "detail": _files(t["files"])} for t in build["tables"]]
    rows = table(
        [("table", "table"), ("rows", "rows"), ("files", "files"), ("detail", "its files")],
        tables,
        table_id="table-rows",
        cells={"detail": "raw"},
    )
    sources = table(
        [
            ("family", "family"),
            ("split", "split"),
            ("file", "file"),
            ("rows_read", "read"),
            ("rows_written", "written"),
            ("rows_rejected", "rejected"),
            ("rows_duplicate", "duplicate"),
            ("bytes", "bytes"),
            ("seconds", "seconds"),
            ("reused", "reused"),
        ],
        build["sources"],
        table_id="source-files",
    )
    rejected = sum(s["rows_rejected"] for s in build["sources"])
    rejects = (
        table(
            [("table", "table"), ("kind", "reason"), ("rows", "rows"), ("examples", "examples")],
            [{**r, "examples": _examples(r["examples"])} for r in build["rejects"]],
            table_id="reject-reasons",
            cells={"examples": "raw"},
        )
        if build["rejects"]
        else empty("No row was rejected.")
    )
    skipped = (
        "<ul id='skipped-files'>"
        + "".join(f"<li><code>{esc(s['file'])}</code> ({esc(s['family'])})</li>" for s in build["skipped"])
        + "</ul>"
        if build["skipped"]
        else empty("Every selected official file was in the source.")
    )
    unknown = table(
        [("kind", "kind"), ("count", "MIDs no description file names"), ("examples", "examples")],
        [
            {"kind": k, "count": v["count"], "examples": ", ".join(v["examples"]) or "none"}
            for k, v in build["unknown_mids"].items()
        ],
        table_id="unknown-mids",
    )
    families = table(
        [
            ("family", "family"),
            ("files", "files"),
            ("bytes", "bytes"),
            ("rows_read", "rows read"),
            ("seconds", "seconds"),
            ("reused", "files reused"),
        ],
        build["families"],
        table_id="family-times",
    )
    return section(
        "build",
        "Build",
        "".join(
            [
                top,
                "<h3>Rows per table</h3>",
                rows,
                f"<h3>Source files <span class='count'>{len(build['sources'])}</span></h3>",
                "<details><summary>every file read: rows read, written, rejected, duplicate</summary>",
                sources,
                "</details>",
                f"<h3>Rejects <span class='count' id='rejects-total'>{rejected:,}</span></h3>",
                rejects,
                f"<h3>Skipped files <span class='count'>{len(build['skipped'])}</span></h3>",
                "<p class='intro'>Selected official files the source does not hold.</p>",
                skipped,
                "<h3>Unknown MIDs</h3>",
                unknown,
                "<h3>Time per family</h3>",
                "<p class='intro'>The manifest records each file's ingest time; the marts, checks and publishing "
                "take the rest of the build's wall time.</p>",
                families,
                figure("family_seconds"),
            ]
        ),
    )


def _files(files: list[dict[str, Any]]) -> str:
    if not files:
        return ""
    items = "".join(f"<li><code>{esc(f['path'])}</code> {f['rows']:,}</li>" for f in files)
    return f"<details><summary>{len(files)} file{'s' if len(files) > 1 else ''}</summary><ul>{items}</ul></details>"


def _examples(examples: list[dict[str, Any]]) -> str:
    return "".join(
        f"<div class='example'><code>{esc(e['file'])}:{e['line']}</code> {esc(e['reason'])}"
        f"<pre>{esc(e['raw'])}</pre></div>"
        for e in examples
    )


SPLIT_COLUMNS = (
    ("split", "split"),
    ("images", "images"),
    ("images_with_boxes", "images with boxes"),
    ("boxes", "boxes"),
    ("masks", "masks"),
    ("relationships", "relationships"),
    ("narratives", "narratives"),
    ("positive_labels", "positive labels"),
    ("negative_labels", "negative labels"),
    ("machine_labels", "machine labels"),
    ("classes_with_boxes", "classes with boxes"),
    ("classes_with_positive_labels", "classes with positive labels"),
)


def splits_html(splits: list[dict[str, Any]]) -> str:
    if not splits:
        return section("splits", "Splits", empty("The lake has no images."))
    return section(
        "splits",
        "Splits",
        table(SPLIT_COLUMNS, splits, table_id="split-totals") + figure("split_totals"),
        "From <code>image_summary</code> (images and what they hold) and <code>class_stats</code> (labels).",
    )


CLASS_COLUMNS = (
    ("name", "class"),
    ("mid", "MID"),
    ("lists", "lists"),
    ("images", "images"),
    ("boxes", "boxes"),
    ("masks", "masks"),
    ("relationships", "relationships"),
    ("positive_labels", "positive"),
    ("negative_labels", "negative"),
    ("machine_labels", "machine"),
)


def classes_html(classes: dict[str, Any]) -> str:
    splits = "".join(f'<option value="{i}">{esc(s)}</option>' for i, s in enumerate(classes["splits"]))
    head = "".join(f'<th data-sort="{k}" tabindex="0">{esc(h)}</th>' for k, h in CLASS_COLUMNS)
    body = (
        "<div class='controls'>"
        "<input id='class-search' type='search' placeholder='Search a class by name or MID' autocomplete='off'>"
        f"<label>split <select id='class-split'><option value='all'>all splits</option>{splits}</select></label>"
        "<span id='class-count' class='count'></span></div>"
        f"<div class='scroll'><table id='class-table' class='explorer'><thead><tr>{head}</tr></thead><tbody></tbody>"
        "<tfoot></tfoot></table></div>"
        "<button id='class-more' type='button' hidden>Show 100 more</button>" + figure("long_tail")
    )
    return section(
        "classes",
        "Classes",
        body,
        "Annotations per class from <code>class_stats</code> (the class's own, not expanded along the hierarchy). "
        "Click a heading to sort, a class to see it in the hierarchy. Labels: human-verified positive (confidence 1) "
        "and negative (0), machine-generated.",
    )


def hierarchy_html(present: bool) -> str:
    if not present:
        return section("hierarchy", "Hierarchy", empty("The lake has no class hierarchy (no hierarchy file was read)."))
    body = (
        "<div class='hierarchy'>"
        f"<div class='sunburst'>{figure('sunburst')}</div>"
        "<aside id='class-details' aria-live='polite'><p class='note'>Click a class in the chart, the tree or "
        "the class table.</p></aside></div>"
        "<div class='controls'><input id='hierarchy-search' type='search' placeholder='Find a class in the hierarchy' "
        "autocomplete='off'><span id='hierarchy-found'></span></div>"
        "<div id='hierarchy-tree' class='tree'></div>"
    )
    return section(
        "hierarchy",
        "Hierarchy",
        body,
        "The boxable classes' hierarchy (<code>hierarchy</code>, <code>class_ancestors</code>, "
        "<code>class_parts</code>, <code>class_paths</code>). Counts with descendants add every subcategory below "
        "a class once: boxes so counted are the class's rows in <code>boxes_expanded</code>.",
    )


IMAGE_COLUMNS = (
    ("metric", "per image"),
    ("split", "split"),
    ("images", "images"),
    ("images_with_any", "images with any"),
    ("mean", "mean"),
    ("median", "median"),
    ("max", "max"),
)


def images_html(data: dict[str, Any], charts: list[str]) -> str:
    if not data["summary"]:
        return section("images", "Per image", empty("The lake has no images."))
    body = table(IMAGE_COLUMNS, data["summary"], table_id="per-image") + "".join(figure(c) for c in charts)
    return section("images", "Per image", body, "From <code>image_summary</code>, one row per image.")


def geometry_html(data: dict[str, Any]) -> str:
    if not data["top"]:
        return section("geometry", "Box geometry", empty("The lake has no boxes."))
    body = figure("geometry_area") + figure("geometry_aspect_ratio") + figure("geometry_medians")
    return section(
        "geometry",
        "Box geometry",
        body,
        "From <code>box_geometry</code>: quantiles of box area (fraction of the image) and aspect ratio "
        "(width / height in normalised coordinates) per class and split; whiskers are p05 and p95.",
    )


ATTRIBUTE_COLUMNS = (
    ("attribute", "attribute"),
    ("boxes", "boxes"),
    ("true_boxes", "true"),
    ("false_boxes", "false"),
    ("unknown", "unknown"),
    ("true_share", "true share (of known)"),
    ("unknown_share", "unknown share"),
)


def attributes_html(data: dict[str, Any]) -> str:
    if not data["top"]:
        return section("attributes", "Attributes", empty("The lake has no boxes."))
    body = (
        table(
            ATTRIBUTE_COLUMNS,
            data["overall"],
            table_id="attribute-rates",
            cells={"true_share": "share", "unknown_share": "share"},
        )
        + figure("attribute_overall")
        + figure("attribute_classes")
    )
    return section(
        "attributes",
        "Attributes",
        body,
        "From <code>attribute_rates</code>: IsOccluded, IsTruncated, IsGroupOf, IsDepiction and IsInside; unknown "
        "is -1 (or empty) in the files and is left out of the true share's denominator.",
    )


def relationships_html(data: dict[str, Any]) -> str:
    totals = data["totals"]
    if not totals["triplets"]:
        return section("relationships", "Relationships", empty("The lake has no relationship annotations."))
    summary = facts(
        [
            ("annotations", f"<span data-key='relationships'>{totals['relationships']:,}</span>"),
            ("distinct triplets", f"<span data-key='triplets'>{totals['triplets']:,}</span>"),
            ("on the official list", f"{totals['listed']:,} of {totals['official_triplets']:,} listed triplets seen"),
            ("annotations off the list", f"{totals['unlisted_relationships']:,}"),
        ],
        list_id="relationship-totals",
    )
    top = table(
        [
            ("subject", "subject"),
            ("relationship", "relationship"),
            ("object", "object or attribute"),
            ("relationships", "annotations"),
            ("images", "images"),
            ("in_triplet_list", "listed"),
        ],
        data["top"][:10],
        table_id="top-triplets",
    )
    body = summary + figure("relationship_triplets") + figure("relationship_predicates") + top
    return section("relationships", "Relationships", body, "From <code>relationship_stats</code>, all splits.")


def narratives_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return section("narratives", "Narratives", empty("The lake has no images."))
    body = table(
        [
            ("split", "split"),
            ("images", "images"),
            ("images_with_narratives", "with a narrative"),
            ("narratives", "narratives"),
            ("coverage", "coverage"),
        ],
        rows,
        table_id="narrative-coverage",
        cells={"coverage": "share"},
    ) + figure("narrative_coverage")
    return section("narratives", "Narratives", body, "Localized narratives per image, from <code>image_summary</code>.")


RUN_COLUMNS = (
    ("run", "run"),
    ("task", "task"),
    ("metric", "metric"),
    ("official", "official"),
    ("split", "split"),
    ("release", "release"),
    ("map", "mAP"),
    ("predictions", "predictions"),
    ("tp", "tp"),
    ("fp", "fp"),
    ("ignored", "ignored"),
    ("classes_with_ground_truth", "classes"),
)


def evaluation_html(data: dict[str, Any] | None, release: str, curves: list[str]) -> str:
    if data is None:
        return section(
            "evaluation",
            "Evaluation",
            empty(
                "No evaluation run is registered: `oilake evaluate --predictions FILE --output DIR --register NAME` "
                "adds one."
            ),
        )
    runs = [{**r, "map": number(r["map"], 4)} for r in data["runs"]]
    worst = []
    for run in data["runs"]:
        rows = [r for r in data["per_class"] if r["run"] == run["run"]][: data["worst"]]
        worst.append(
            f"<h4>{esc(run['run'])}: the {len(rows)} worst classes</h4>"
            + table(
                [
                    ("label_name", "class"),
                    ("label_mid", "MID"),
                    ("ap", "AP"),
                    ("gt_instances", "ground truth"),
                    ("tp", "tp"),
                    ("fp", "fp"),
                ],
                rows,
            )
        )
    stale = [r["run"] for r in data["runs"] if r["release"] != release]
    note = f"<p class='note'>Scored on another release than this one: {esc(', '.join(stale))}.</p>" if stale else ""
    body = (
        table(RUN_COLUMNS, runs, table_id="evaluation-runs", cells={"map": "text"})
        + note
        + figure("evaluation_map")
        + figure("evaluation_ap")
        + "".join(worst)
        + "".join(figure(c) for c in curves)
    )
    return section(
        "evaluation",
        "Evaluation",
        body,
        "Registered runs (<code>evaluation_runs</code>, <code>evaluation_per_class</code>, "
        "<code>evaluation_pr_curves</code>).",
    )


def header_html(build: dict[str, Any], classes: dict[str, Any], splits: list[dict[str, Any]]) -> str:
    images = sum(s["images"] for s in splits)
    boxes = sum(s["boxes"] for s in splits)
    annotated = len({row[0] for row in classes["stats"]})
    return (
        f"<p class='lead'>Release <code>{esc(build['release'])}</code>, built {esc(build['finished'])}: "
        f"<b>{images:,}</b> images, <b>{boxes:,}</b> boxes, <b>{annotated:,}</b> classes with annotations.</p>"
    )
