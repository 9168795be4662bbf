-- Hierarchy edges with names: `hierarchy` plus `parent_name` and `child_name`.

create or replace view hierarchy_named as
with

final as (
    select
        hierarchy.*,
        parent.display_name as parent_name,
        child.display_name as child_name
    from hierarchy
    left join classes as parent on parent.label_mid = hierarchy.parent_mid
    left join classes as child on child.label_mid = hierarchy.child_mid
)

select * from final
