-- Part-of edges with names: `class_parts` plus `part_name` and `whole_name`.

create or replace view class_parts_named as
with

final as (
    select
        class_parts.*,
        part.display_name as part_name,
        whole.display_name as whole_name
    from class_parts
    left join classes as part on part.label_mid = class_parts.part_mid
    left join classes as whole on whole.label_mid = class_parts.whole_mid
)

select * from final
