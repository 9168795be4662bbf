"""The data of the sections about splits, images, box geometry, attributes, relationships and narratives,
aggregated in SQL from the marts (never raw rows)."""

from __future__ import annotations

from typing import Any

from pipeline.core.official import SPLITS
from pipeline.query.api import Lake
from pipeline.report.rows import Record, records

PER_IMAGE = ("boxes", "classes", "masks", "relationships", "positive_labels", "narratives")  # image_summary
ATTRIBUTES = ("occluded", "truncated", "group_of", "depiction", "inside")  # attribute_rates
TOP_CLASSES = 25  # classes shown in the per-class geometry and attribute charts
TOP_TRIPLETS = 30
SPLIT_ORDER = "case split " + " ".join(f"when '{s}' then {i}" for i, s in enumerate(SPLITS)) + " else 9 end"


def split_totals(lake: Lake) -> list[Record]:
    """Per split: images and what they hold (``image_summary``), labels and classes (``class_stats``)."""
    return records(
        lake,
        f"""
        with images as (
            select split, count(*) as images, sum(boxes) as boxes, sum(masks) as masks,
                sum(relationships) as relationships, sum(narratives) as narratives,
                count(*) filter (where boxes > 0) as images_with_boxes
            from image_summary group by split
        ),
        labels as (
            select split, sum(positive_labels) as positive_labels, sum(negative_labels) as negative_labels,
                sum(machine_labels) as machine_labels, count(*) filter (where boxes > 0) as classes_with_boxes,
                count(*) filter (where positive_labels > 0) as classes_with_positive_labels
            from class_stats group by split
        )
        select split, coalesce(images, 0) as images, coalesce(images_with_boxes, 0) as images_with_boxes,
            coalesce(boxes, 0) as boxes, coalesce(masks, 0) as masks, coalesce(relationships, 0) as relationships,
            coalesce(narratives, 0) as narratives, coalesce(positive_labels, 0) as positive_labels,
            coalesce(negative_labels, 0) as negative_labels, coalesce(machine_labels, 0) as machine_labels,
            coalesce(classes_with_boxes, 0) as classes_with_boxes,
            coalesce(classes_with_positive_labels, 0) as classes_with_positive_labels
        from images full join labels using (split)
        order by {SPLIT_ORDER}
        """,
    )


def per_image(lake: Lake) -> dict[str, Any]:
    """Per ``image_summary`` count and split: the histogram (value → images) and mean, median, max."""
    columns = ", ".join(PER_IMAGE)
    histogram = records(
        lake,
        f"""
        select metric, split, value, count(*) as images
        from (unpivot (select split, {columns} from image_summary) on {columns} into name metric value value)
        group by metric, split, value order by metric, {SPLIT_ORDER}, value
        """,
    )
    summary = records(
        lake,
        f"""
        select metric, split, count(*) as images, count(*) filter (where value > 0) as images_with_any,
            avg(value) as mean, median(value) as median, max(value) as max
        from (unpivot (select split, {columns} from image_summary) on {columns} into name metric value value)
        group by metric, split order by metric, {SPLIT_ORDER}
        """,
    )
    return {"metrics": list(PER_IMAGE), "histogram": histogram, "summary": summary}


def geometry(lake: Lake) -> dict[str, Any]:
    """Box area and aspect-ratio quantiles: the ``TOP_CLASSES`` classes with most boxes in every split,
    and the medians of every class of the split with most boxes."""
    top = records(
        lake,
        f"""
        with top as (
            select label_mid from box_geometry group by label_mid order by sum(boxes) desc, label_mid
            limit {TOP_CLASSES}
        )
        select g.* from box_geometry g semi join top using (label_mid)
        order by {SPLIT_ORDER}, boxes desc, label_mid
        """,
    )
    split = records(lake, "select split from box_geometry group by split order by sum(boxes) desc, split limit 1")
    medians = records(
        lake,
        """
        select label_mid, label_name, boxes, area_median, aspect_ratio_median
        from box_geometry where split = $split order by boxes desc, label_mid
        """,
        {"split": split[0]["split"]} if split else {"split": None},
    )
    return {"top": top, "split": split[0]["split"] if split else None, "medians": medians}


def attributes(lake: Lake) -> dict[str, Any]:
    """Per attribute over every box: the true, false and unknown shares; per top class, the true shares."""
    parts = " union all ".join(
        f"""select '{a}' as attribute, sum(boxes) as boxes, sum(unknown_{a}) as unknown,
            sum({a}_share * (boxes - unknown_{a})) as true_boxes from attribute_rates"""
        for a in ATTRIBUTES
    )
    order = "case attribute " + " ".join(f"when '{a}' then {i}" for i, a in enumerate(ATTRIBUTES)) + " end"
    overall = records(
        lake,
        f"""
        select attribute, boxes, unknown, round(true_boxes)::bigint as true_boxes,
            boxes - unknown - round(true_boxes)::bigint as false_boxes,
            unknown / nullif(boxes, 0) as unknown_share,
            true_boxes / nullif(boxes - unknown, 0) as true_share
        from ({parts})
        order by {order}
        """,
    )
    shares = ", ".join(f"{a}_share" for a in ATTRIBUTES)
    top = records(
        lake,
        f"select label_mid, label_name, boxes, {shares} from attribute_rates order by boxes desc, label_mid "
        f"limit {TOP_CLASSES}",
    )
    return {"attributes": list(ATTRIBUTES), "overall": overall, "top": top}


def relationships(lake: Lake) -> dict[str, Any]:
    """The most frequent triplets, the totals per relationship and how many triplets are on the official list."""
    top = records(
        lake,
        f"""
        select coalesce(label_name_1, label_mid_1) as subject, relationship,
            coalesce(label_name_2, label_mid_2) as object, relationships, images, in_triplet_list
        from relationship_stats order by relationships desc, subject, relationship, object limit {TOP_TRIPLETS}
        """,
    )
    predicates = records(
        lake,
        """
        select relationship, sum(relationships) as relationships, count(*) as triplets
        from relationship_stats group by relationship order by relationships desc, relationship
        """,
    )
    totals = records(
        lake,
        """
        select count(*) as triplets, count(*) filter (where in_triplet_list) as listed,
            coalesce(sum(relationships), 0) as relationships,
            coalesce(sum(relationships) filter (where not in_triplet_list), 0) as unlisted_relationships,
            (select count(*) from relationship_triplets) as official_triplets
        from relationship_stats
        """,
    )
    return {"top": top, "predicates": predicates, "totals": totals[0]}


def narratives(lake: Lake) -> list[Record]:
    """Per split: images, those with at least one localized narrative, and the narratives."""
    return records(
        lake,
        f"""
        select split, count(*) as images, count(*) filter (where narratives > 0) as images_with_narratives,
            sum(narratives) as narratives,
            count(*) filter (where narratives > 0) / count(*) as coverage
        from image_summary group by split order by {SPLIT_ORDER}
        """,
    )
