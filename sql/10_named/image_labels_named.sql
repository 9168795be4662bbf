-- Image-level labels with the class name: `image_labels` plus `label_name`.

create or replace view image_labels_named as
with

final as (
    select
        image_labels.*,
        classes.display_name as label_name
    from image_labels
    left join classes on classes.label_mid = image_labels.label_mid
)

select * from final
