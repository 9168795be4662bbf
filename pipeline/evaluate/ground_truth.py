"""The ground truth of one split, from the lake, as the official Open Images evaluation sees it.

Boxes come from ``boxes_expanded`` (each box also for every subcategory ancestor, each ancestor once,
the root never) and verified labels from the human rows of ``image_labels_expanded`` (a positive also
for its ancestors, a negative also for its descendants): the files the official expansion script
writes, checked equal to it. Coordinates are the lake's float32 values brought back to the decimal
the file had (float32 keeps every 6-digit decimal: its shortest text is the published text), then
read as float64, as the reference's CSV reader does.
"""

from __future__ import annotations

import duckdb

# A float32 coordinate back to the float64 the reference parses from the published text.
_EXACT = "cast(cast({} as varchar) as double)"


def exact(column: str) -> str:
    return _EXACT.format(column)


def stage_classes(con: duckdb.DuckDBPyConnection) -> int:
    """``eval_classes``: the classes evaluated (the boxable list; without it, every class a box has)."""
    has_list = con.execute("select count(is_boxable) > 0 from classes").fetchall()[0][0]
    where = "is_boxable" if has_list else "label_mid in (select label_mid from boxes_expanded)"
    con.execute(
        f"""
        create or replace temp table eval_classes as
        with

        final as (
            select
                label_mid,
                display_name as label_name
            from classes
            where {where} and not is_hierarchy_root
        )

        select * from final
        """
    )
    return int(con.execute("select count(*) from eval_classes").fetchall()[0][0])


def stage_boxes(con: duckdb.DuckDBPyConnection, split: str, expand: bool = True) -> None:
    """``eval_gt``: the split's boxes (expanded unless ``expand`` is false) of evaluated classes, with an id.

    ``is_group_of`` unknown (-1 in the file, NULL in the lake) counts as group-of: the reference casts the
    published integer to bool, and -1 is true.
    """
    source = "boxes_expanded" if expand else "boxes"
    original = "original_label_mid" if expand else "label_mid"
    con.execute(
        f"""
        create or replace temp table eval_gt as
        with

        boxes as (
            select
                image_id,
                label_mid,
                {original} as original_label_mid,
                {exact("x_min")} as x_min,
                {exact("x_max")} as x_max,
                {exact("y_min")} as y_min,
                {exact("y_max")} as y_max,
                coalesce(is_group_of, true) as is_group_of
            from {source}
            where split = $split and label_mid in (select label_mid from eval_classes)
        ),

        final as (
            select
                row_number() over (
                    order by image_id, label_mid, x_min, y_min, x_max, y_max, is_group_of, original_label_mid
                ) as gt_id,
                *
            from boxes
        )

        select * from final
        """,
        {"split": split},
    )


def stage_labels(con: duckdb.DuckDBPyConnection, split: str) -> None:
    """``eval_images`` (images with any ground truth) and ``eval_labels`` (the classes evaluated on each).

    An image's evaluated classes are its verified labels, positive and negative, and the classes of its
    boxes (both expanded), restricted to the evaluated classes. The labels are expanded here as
    ``image_labels_expanded`` does it (a positive for every ancestor, a negative for every descendant),
    for the one split only; a test checks the two agree.
    """
    con.execute(
        """
        create or replace temp table eval_labels as
        with

        human as (
            select
                image_id,
                label_mid,
                confidence = 1 as is_positive
            from image_labels
            where split = $split and source <> 'machine'
        ),

        expanded as (
            select image_id, label_mid, is_positive from human
            union all
            select human.image_id, class_ancestors.ancestor_mid, true
            from human
            inner join class_ancestors on class_ancestors.label_mid = human.label_mid
            where human.is_positive
            union all
            select human.image_id, class_ancestors.label_mid, false
            from human
            inner join class_ancestors on class_ancestors.ancestor_mid = human.label_mid
            where not human.is_positive
        ),

        verified as (
            select distinct
                image_id,
                label_mid,
                is_positive
            from expanded
            where label_mid in (select label_mid from eval_classes)
        ),

        boxed as (
            select distinct
                image_id,
                label_mid
            from eval_gt
        ),

        final as (
            select
                coalesce(verified.image_id, boxed.image_id) as image_id,
                coalesce(verified.label_mid, boxed.label_mid) as label_mid,
                bool_or(verified.is_positive) as is_verified_positive,
                bool_or(not verified.is_positive) as is_verified_negative,
                bool_or(boxed.label_mid is not null) as has_boxes
            from verified
            full outer join boxed on verified.image_id = boxed.image_id and verified.label_mid = boxed.label_mid
            group by all
        )

        select * from final
        """,
        {"split": split},
    )
    con.execute(
        """
        create or replace temp table eval_images as
        with

        labelled as (
            select image_id
            from image_labels
            where
                split = $split
                and source <> 'machine'
                and label_mid in (select label_mid from eval_classes)
        ),

        boxed as (
            select image_id
            from boxes
            where split = $split and label_mid in (select label_mid from eval_classes)
        ),

        final as (
            select distinct image_id from labelled
            union
            select distinct image_id from boxed
        )

        select * from final
        """,
        {"split": split},
    )
