-- Human labels expanded along the hierarchy, machine labels as they are:
-- `image_labels_expand(include_machine := false)`. See image_labels_expand.sql for the rules.

create or replace view image_labels_expanded as
with

final as (
    select * from image_labels_expand(include_machine := false)
)

select * from final
