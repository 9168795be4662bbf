-- Segmentation rows joined to their mask PNGs: `masks_named` plus the pixel columns of `mask_pixels`
-- (on split and mask_path) and `area_fraction`, the instance's share of its mask grid. Only rows with
-- a PNG (and PNGs with a row) are here; `mask_orphans` lists the others.

create or replace view masks_pixels_named as
with

final as (
    select
        masks_named.*,
        mask_pixels.mask_width,
        mask_pixels.mask_height,
        mask_pixels.area,
        cast(mask_pixels.area as double) / (mask_pixels.mask_width * mask_pixels.mask_height) as area_fraction,
        mask_pixels.pixel_x0,
        mask_pixels.pixel_y0,
        mask_pixels.pixel_x1,
        mask_pixels.pixel_y1,
        mask_pixels.mask_x_min,
        mask_pixels.mask_x_max,
        mask_pixels.mask_y_min,
        mask_pixels.mask_y_max,
        mask_pixels.rle_counts
    from masks_named
    inner join mask_pixels
        on mask_pixels.split = masks_named.split and mask_pixels.mask_path = masks_named.mask_path
)

select * from final
