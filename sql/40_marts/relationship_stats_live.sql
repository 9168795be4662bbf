-- Per relationship triplet (subject class, relationship, object class or attribute) with names:
-- the number of annotations (`relationships`), of distinct images (`images`) and of splits.
-- `in_triplet_list` tells whether the triplet is in `relationship_triplets`.

create or replace view relationship_stats_live as
with

-- distinct images as a two-step group by (spills to disk) rather than count(distinct) (does not)
per_image as (
    select label_mid_1, relationship, label_mid_2, split, image_id_u64, count(*) as relationships
    from relationships
    group by label_mid_1, relationship, label_mid_2, split, image_id_u64
),

counted as (
    select
        label_mid_1,
        relationship,
        label_mid_2,
        cast(sum(relationships) as bigint) as relationships,
        count(*) as images
    from per_image
    group by label_mid_1, relationship, label_mid_2
),

final as (
    select
        counted.label_mid_1,
        named.label_name_1,
        counted.relationship,
        counted.label_mid_2,
        named.label_name_2,
        counted.relationships,
        counted.images,
        triplets.relationship is not null as in_triplet_list
    from counted
    left join (
        select distinct label_mid_1, relationship, label_mid_2, label_name_1, label_name_2
        from relationships_named
    ) as named
        on named.label_mid_1 = counted.label_mid_1
        and named.relationship = counted.relationship
        and named.label_mid_2 = counted.label_mid_2
    left join (select distinct * from relationship_triplets) as triplets
        on triplets.label_mid_1 = counted.label_mid_1
        and triplets.relationship = counted.relationship
        and triplets.label_mid_2 = counted.label_mid_2
)

select * from final
