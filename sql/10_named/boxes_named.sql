-- Boxes with the class name: `boxes` plus `label_name`.
-- A MID that no description file names keeps its row, with a NULL name.

create or replace view boxes_named as
with

final as (
    select
        boxes.*,
        classes.display_name as label_name
    from boxes
    left join classes on classes.label_mid = boxes.label_mid
)

select * from final
