-- Image-level labels expanded along the hierarchy (the Open Images evaluation convention):
-- a human positive (confidence 1) also counts for every subcategory ancestor, a human negative
-- (confidence 0) also counts for every descendant. Machine labels pass through unexpanded unless
-- `include_machine` is true, in which case they count for every ancestor with their confidence.
-- `label_mid` is the class the row counts for, `original_label_mid` the label's own class.
-- No (split, image, label, polarity) row appears twice: a label's own row wins over an expanded
-- one, then the nearest origin; human and machine rows are kept apart.

create or replace macro image_labels_expand(include_machine := false) as table
with

labels as (
    select
        split,
        image_id,
        image_id_u64,
        source,
        label_mid,
        confidence,
        source = 'machine' as is_machine
    from image_labels
),

own as (
    select
        labels.* exclude (label_mid),
        labels.label_mid,
        labels.label_mid as original_label_mid,
        false as is_expanded,
        0 as distance
    from labels
),

positive_ancestors as (
    select
        labels.* exclude (label_mid),
        class_ancestors.ancestor_mid as label_mid,
        labels.label_mid as original_label_mid,
        true as is_expanded,
        class_ancestors.distance
    from labels
    inner join class_ancestors on class_ancestors.label_mid = labels.label_mid
    where (not labels.is_machine and labels.confidence = 1) or (labels.is_machine and include_machine)
),

negative_descendants as (
    select
        labels.* exclude (label_mid),
        class_ancestors.label_mid,
        labels.label_mid as original_label_mid,
        true as is_expanded,
        class_ancestors.distance
    from labels
    inner join class_ancestors on class_ancestors.ancestor_mid = labels.label_mid
    where not labels.is_machine and labels.confidence = 0
),

unioned as (
    select * from own
    union all
    select * from positive_ancestors
    union all
    select * from negative_descendants
),

ranked as (
    select
        unioned.*,
        row_number() over (
            partition by
                split,
                image_id_u64,
                label_mid,
                is_machine,
                case when is_machine then null else confidence end
            order by is_expanded asc, distance asc, confidence desc, source asc, original_label_mid asc
        ) as preference
    from unioned
),

final as (
    select
        split,
        image_id,
        image_id_u64,
        source,
        label_mid,
        confidence,
        original_label_mid,
        is_expanded,
        distance
    from ranked
    where preference = 1
)

select * from final
