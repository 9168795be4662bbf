-- Boxes expanded along the hierarchy (the Open Images evaluation convention): each box once for
-- its own class and once for every subcategory ancestor (root excluded, each ancestor once).
-- `label_mid` is the class the row counts for, `original_label_mid` the box's own class,
-- `is_expanded` is false for the box's own row, `distance` is 0 for it and the ancestor's
-- distance otherwise. Part-of edges are not followed. The boxes are joined once with the
-- classes' own rows and ancestor rows, so that a filter on `label_name` reads the boxes once; a
-- box whose class is not in the class file (or null) has its own row, without names, and its
-- ancestor rows if the hierarchy has its class.

create or replace view boxes_expanded as
with

expansion as (
    select distinct
        label_mid as original_label_mid,
        label_mid,
        false as is_expanded,
        0 as distance
    from classes
    union all
    select
        label_mid as original_label_mid,
        ancestor_mid as label_mid,
        true as is_expanded,
        distance
    from class_ancestors
),

known as (
    select
        boxes.* exclude (label_mid),
        expansion.label_mid,
        expansion.original_label_mid,
        expansion.is_expanded,
        expansion.distance,
        counted.display_name as label_name,
        original.display_name as original_label_name
    from boxes
    inner join expansion on expansion.original_label_mid = boxes.label_mid
    left join classes as counted on counted.label_mid = expansion.label_mid
    left join classes as original on original.label_mid = expansion.original_label_mid
),

unknown as (
    select
        boxes.* exclude (label_mid),
        boxes.label_mid,
        boxes.label_mid as original_label_mid,
        false as is_expanded,
        0 as distance,
        cast(null as varchar) as label_name,
        cast(null as varchar) as original_label_name
    from boxes
    where not exists (select 1 from classes where classes.label_mid = boxes.label_mid)
),

final as (
    select * from known
    union all
    select * from unknown
)

select * from final
