-- Per class and split: images (with a box, a mask or a positive human label of the class), boxes,
-- masks, relationships (as subject or object), positive and negative human labels, machine
-- labels; with the class name and its list flags. Counts are of the class's own annotations
-- (not expanded along the hierarchy; use boxes_expanded for that).

create or replace view class_stats_live as
with

box_counts as (
    select split, label_mid, count(*) as boxes
    from boxes
    group by split, label_mid
),

mask_counts as (
    select split, label_mid, count(*) as masks
    from masks
    group by split, label_mid
),

relationship_counts as (
    select split, label_mid, count(*) as relationships
    from (
        select split, label_mid_1 as label_mid from relationships
        union all
        select split, label_mid_2 as label_mid from relationships where relationship <> 'is'
    ) as mentions
    group by split, label_mid
),

label_counts as (
    select
        split,
        label_mid,
        count(*) filter (where source <> 'machine' and confidence = 1) as positive_labels,
        count(*) filter (where source <> 'machine' and confidence = 0) as negative_labels,
        count(*) filter (where source = 'machine') as machine_labels
    from image_labels
    group by split, label_mid
),

keys as (
    select split, label_mid from box_counts
    union
    select split, label_mid from mask_counts
    union
    select split, label_mid from relationship_counts
    union
    select split, label_mid from label_counts
),

-- distinct images by a union (a group by that spills to disk) rather than count(distinct) (does not)
image_counts as (
    select split, label_mid, count(*) as images
    from (
        select split, label_mid, image_id_u64 from boxes
        union
        select split, label_mid, image_id_u64 from masks
        union
        select split, label_mid, image_id_u64 from image_labels where source <> 'machine' and confidence = 1
    ) as annotated
    group by split, label_mid
),

final as (
    select
        keys.label_mid,
        classes.display_name as label_name,
        keys.split,
        coalesce(image_counts.images, 0) as images,
        coalesce(box_counts.boxes, 0) as boxes,
        coalesce(mask_counts.masks, 0) as masks,
        coalesce(relationship_counts.relationships, 0) as relationships,
        coalesce(label_counts.positive_labels, 0) as positive_labels,
        coalesce(label_counts.negative_labels, 0) as negative_labels,
        coalesce(label_counts.machine_labels, 0) as machine_labels,
        classes.is_boxable,
        classes.is_trainable,
        classes.is_segmentable
    from keys
    left join classes on classes.label_mid = keys.label_mid
    left join image_counts on image_counts.split = keys.split and image_counts.label_mid = keys.label_mid
    left join box_counts on box_counts.split = keys.split and box_counts.label_mid = keys.label_mid
    left join mask_counts on mask_counts.split = keys.split and mask_counts.label_mid = keys.label_mid
    left join relationship_counts
        on relationship_counts.split = keys.split and relationship_counts.label_mid = keys.label_mid
    left join label_counts on label_counts.split = keys.split and label_counts.label_mid = keys.label_mid
)

select * from final
