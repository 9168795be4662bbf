-- Per class (all splits): the share of boxes that are occluded, truncated, group-of, depiction and
-- inside. Unknown values (NULL, `-1` in the files) are left out of each share's denominator and
-- counted separately (`unknown_*`). `boxes` counts every box of the class.

create or replace view attribute_rates_live as
with

final as (
    select
        boxes.label_mid,
        classes.display_name as label_name,
        count(*) as boxes,
        avg(cast(boxes.is_occluded as integer)) as occluded_share,
        avg(cast(boxes.is_truncated as integer)) as truncated_share,
        avg(cast(boxes.is_group_of as integer)) as group_of_share,
        avg(cast(boxes.is_depiction as integer)) as depiction_share,
        avg(cast(boxes.is_inside as integer)) as inside_share,
        count(*) filter (where boxes.is_occluded is null) as unknown_occluded,
        count(*) filter (where boxes.is_truncated is null) as unknown_truncated,
        count(*) filter (where boxes.is_group_of is null) as unknown_group_of,
        count(*) filter (where boxes.is_depiction is null) as unknown_depiction,
        count(*) filter (where boxes.is_inside is null) as unknown_inside
    from boxes
    left join classes on classes.label_mid = boxes.label_mid
    group by boxes.label_mid, classes.display_name
)

select * from final
