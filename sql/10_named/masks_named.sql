-- Segmentation masks with the class name: `masks` plus `label_name`.

create or replace view masks_named as
with

final as (
    select
        masks.*,
        classes.display_name as label_name
    from masks
    left join classes on classes.label_mid = masks.label_mid
)

select * from final
