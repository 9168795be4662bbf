-- The subcategory closure with names: `class_ancestors` plus `label_name` and `ancestor_name`.

create or replace view class_ancestors_named as
with

final as (
    select
        class_ancestors.*,
        labelled.display_name as label_name,
        ancestor.display_name as ancestor_name
    from class_ancestors
    left join classes as labelled on labelled.label_mid = class_ancestors.label_mid
    left join classes as ancestor on ancestor.label_mid = class_ancestors.ancestor_mid
)

select * from final
