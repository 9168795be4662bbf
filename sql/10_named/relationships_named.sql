-- Visual relationships with names: `relationships` plus `label_name_1` (class), `label_name_2`
-- (class, or attribute name when `relationship` is `is`) and `relationship_name`.

create or replace view relationships_named as
with

final as (
    select
        relationships.*,
        subject_class.display_name as label_name_1,
        case
            when relationships.relationship = 'is' then attributes.display_name
            else object_class.display_name
        end as label_name_2,
        relationship_names.display_name as relationship_name
    from relationships
    left join classes as subject_class on subject_class.label_mid = relationships.label_mid_1
    left join classes as object_class on object_class.label_mid = relationships.label_mid_2
    left join attributes on attributes.attribute_mid = relationships.label_mid_2
    left join relationship_names on relationship_names.relationship = relationships.relationship
)

select * from final
