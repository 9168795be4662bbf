-- Boxes expanded along the hierarchy (the Open Images evaluation convention): each box once for
-- its own class and once for every subcategory ancestor (root excluded, each ancestor once).
-- `label_mid` is the class the row counts for, `original_label_mid` the box's own class,
-- `is_expanded` is false for the box's own row, `distance` is 0 for it and the ancestor's
-- distance otherwise. Part-of edges are not followed.

create or replace view boxes_expanded as
with

own as (
    select
        boxes.* exclude (label_mid),
        boxes.label_mid,
        boxes.label_mid as original_label_mid,
        false as is_expanded,
        0 as distance
    from boxes
),

ancestors as (
    select
        boxes.* exclude (label_mid),
        class_ancestors.ancestor_mid as label_mid,
        boxes.label_mid as original_label_mid,
        true as is_expanded,
        class_ancestors.distance
    from boxes
    inner join class_ancestors on class_ancestors.label_mid = boxes.label_mid
),

unioned as (
    select * from own
    union all
    select * from ancestors
),

final as (
    select
        unioned.*,
        counted.display_name as label_name,
        original.display_name as original_label_name
    from unioned
    left join classes as counted on counted.label_mid = unioned.label_mid
    left join classes as original on original.label_mid = unioned.original_label_mid
)

select * from final
