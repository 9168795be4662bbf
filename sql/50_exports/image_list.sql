-- Images to download, in the input format of the official Open Images `downloader.py`: one
-- `SPLIT/IMAGE_ID` per row (`image`), deduplicated and sorted, for images with at least
-- `min_boxes` boxes of the named classes (exact, case-insensitive display names; with their
-- subcategory descendants when `include_descendants`), in `split_name` or every split.
-- Example: `select image from image_list(['Cat', 'Dog'], split_name := 'validation')`.

create or replace macro image_list(
    class_names,
    include_descendants := false,
    split_name := null,
    min_boxes := 1
) as table
with

selected as (
    select distinct label_mid
    from class_mids(class_names, include_descendants := include_descendants)
),

matching as (
    select
        split,
        image_id,
        count(*) as boxes
    from boxes
    where
        label_mid in (select label_mid from selected)
        and (split_name is null or split = split_name)
    group by split, image_id
    having count(*) >= min_boxes
),

final as (
    select
        split || '/' || image_id as image,
        split,
        image_id,
        boxes
    from matching
    order by image
)

select * from final
