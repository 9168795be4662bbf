-- Mask PNGs without a segmentation row, and segmentation rows without a PNG: `kind` is
-- 'png without row' or 'row without png'. A PNG counts when its split has segmentation rows; a row
-- counts when the archive for its split and ImageID's first hex digit was built (it is in
-- mask_archives, made from the manifest, even when it held no member), so a split whose archives were
-- not downloaded lists no rows. The manifest's mask_orphans holds the same counts.

create or replace view mask_orphans as
with

row_splits as (
    select distinct split
    from masks
),

pngs_without_row as (
    select
        mask_pixels.split,
        'png without row' as kind,
        mask_pixels.mask_path,
        mask_pixels.image_id,
        mask_pixels.label_mid,
        mask_pixels.box_id
    from mask_pixels
    inner join row_splits on row_splits.split = mask_pixels.split
    where not exists (
        select 1
        from masks
        where masks.split = mask_pixels.split and masks.mask_path = mask_pixels.mask_path
    )
),

rows_without_png as (
    select
        masks.split,
        'row without png' as kind,
        masks.mask_path,
        masks.image_id,
        masks.label_mid,
        masks.box_id
    from masks
    inner join mask_archives
        on mask_archives.split = masks.split and mask_archives.digit = substr(masks.image_id, 1, 1)
    where not exists (
        select 1
        from mask_pixels
        where mask_pixels.split = masks.split and mask_pixels.mask_path = masks.mask_path
    )
),

final as (
    select * from pngs_without_row
    union all
    select * from rows_without_png
)

select * from final
