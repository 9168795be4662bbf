-- Per image: split, number of boxes, distinct box classes, masks, relationships, narratives,
-- positive human labels, rotation and license. One row per image of `images`; images that only
-- appear in annotation files (no images file ingested) are included with NULL metadata.

create or replace view image_summary_live as
with

-- distinct classes as a two-step group by (spills to disk) rather than count(distinct) (does not)
box_classes as (
    select split, image_id_u64, label_mid, count(*) as boxes
    from boxes
    group by split, image_id_u64, label_mid
),

box_counts as (
    select split, image_id_u64, cast(sum(boxes) as bigint) as boxes, count(*) as classes
    from box_classes
    group by split, image_id_u64
),

mask_counts as (
    select split, image_id_u64, count(*) as masks
    from masks
    group by split, image_id_u64
),

relationship_counts as (
    select split, image_id_u64, count(*) as relationships
    from relationships
    group by split, image_id_u64
),

narrative_counts as (
    select split, image_id_u64, count(*) as narratives
    from narratives
    group by split, image_id_u64
),

label_counts as (
    select split, image_id_u64, count(*) as positive_labels
    from image_labels
    where source <> 'machine' and confidence = 1
    group by split, image_id_u64
),

keys as (
    select split, image_id_u64, image_id from images
    union
    select split, image_id_u64, image_id from boxes
    union
    select split, image_id_u64, image_id from masks
    union
    select split, image_id_u64, image_id from relationships
    union
    select split, image_id_u64, image_id from narratives
),

final as (
    select
        keys.image_id,
        keys.image_id_u64,
        keys.split,
        coalesce(box_counts.boxes, 0) as boxes,
        coalesce(box_counts.classes, 0) as classes,
        coalesce(mask_counts.masks, 0) as masks,
        coalesce(relationship_counts.relationships, 0) as relationships,
        coalesce(narrative_counts.narratives, 0) as narratives,
        coalesce(label_counts.positive_labels, 0) as positive_labels,
        images.rotation,
        images.license
    from keys
    left join images on images.split = keys.split and images.image_id_u64 = keys.image_id_u64
    left join box_counts on box_counts.split = keys.split and box_counts.image_id_u64 = keys.image_id_u64
    left join mask_counts on mask_counts.split = keys.split and mask_counts.image_id_u64 = keys.image_id_u64
    left join relationship_counts
        on relationship_counts.split = keys.split and relationship_counts.image_id_u64 = keys.image_id_u64
    left join narrative_counts
        on narrative_counts.split = keys.split and narrative_counts.image_id_u64 = keys.image_id_u64
    left join label_counts on label_counts.split = keys.split and label_counts.image_id_u64 = keys.image_id_u64
)

select * from final
