-- Per class and split, over the mask PNGs: masks, images, empty masks, the mask's area as a fraction
-- of its mask grid (mean and quantiles p05, p25, median, p75, p95), how much of its own pixel box the
-- mask fills, the mean grid size, and how well the pixel box agrees with the segmentation row's box
-- (mean IoU of the two normalised boxes, over the PNGs that have a row). Means are summed in
-- mask_path order, so they do not depend on the order the files are read in.

create or replace view mask_stats_live as
with

measured as (
    select
        split,
        label_mid,
        image_id_u64,
        mask_path,
        mask_width,
        mask_height,
        area,
        cast(area as double) / (mask_width * mask_height) as area_fraction,
        cast(area as double)
        / nullif(cast(pixel_x1 - pixel_x0 as double) * cast(pixel_y1 - pixel_y0 as double), 0) as box_fill
    from mask_pixels
),

area_quantiles as (
    select
        label_mid,
        split,
        count(*) as masks,
        count(*) filter (where area = 0) as empty_masks,
        avg(area_fraction order by mask_path) as area_fraction_mean,
        quantile_cont(area_fraction, [0.05, 0.25, 0.5, 0.75, 0.95]) as area_fraction_q,
        avg(box_fill order by mask_path) as box_fill_mean,
        avg(mask_width) as mask_width_mean,
        avg(mask_height) as mask_height_mean
    from measured
    group by label_mid, split
),

image_counts as (
    select label_mid, split, count(*) as images
    from (
        select label_mid, split, image_id_u64
        from measured
        group by label_mid, split, image_id_u64
    ) as distinct_images
    group by label_mid, split
),

paired_boxes as (
    select
        label_mid,
        split,
        mask_path,
        cast(mask_x_min as double) as mx0,
        cast(mask_x_max as double) as mx1,
        cast(mask_y_min as double) as my0,
        cast(mask_y_max as double) as my1,
        cast(box_x_min as double) as bx0,
        cast(box_x_max as double) as bx1,
        cast(box_y_min as double) as by0,
        cast(box_y_max as double) as by1
    from masks_pixels_named
),

box_overlaps as (
    select
        label_mid,
        split,
        mask_path,
        (mx1 - mx0) * (my1 - my0) as mask_box_area,
        (bx1 - bx0) * (by1 - by0) as row_box_area,
        greatest(0, least(mx1, bx1) - greatest(mx0, bx0)) * greatest(0, least(my1, by1) - greatest(my0, by0))
        as overlap
    from paired_boxes
),

box_agreement as (
    select
        label_mid,
        split,
        count(*) as masks_with_row,
        avg(overlap / nullif(mask_box_area + row_box_area - overlap, 0) order by mask_path) as box_iou_mean
    from box_overlaps
    group by label_mid, split
),

final as (
    select
        area_quantiles.label_mid,
        classes.display_name as label_name,
        area_quantiles.split,
        area_quantiles.masks,
        image_counts.images,
        area_quantiles.empty_masks,
        area_quantiles.area_fraction_mean,
        area_quantiles.area_fraction_q[1] as area_fraction_p05,
        area_quantiles.area_fraction_q[2] as area_fraction_p25,
        area_quantiles.area_fraction_q[3] as area_fraction_median,
        area_quantiles.area_fraction_q[4] as area_fraction_p75,
        area_quantiles.area_fraction_q[5] as area_fraction_p95,
        area_quantiles.box_fill_mean,
        area_quantiles.mask_width_mean,
        area_quantiles.mask_height_mean,
        coalesce(box_agreement.masks_with_row, 0) as masks_with_row,
        box_agreement.box_iou_mean
    from area_quantiles
    inner join image_counts
        on image_counts.label_mid = area_quantiles.label_mid and image_counts.split = area_quantiles.split
    left join box_agreement
        on box_agreement.label_mid = area_quantiles.label_mid and box_agreement.split = area_quantiles.split
    left join classes on classes.label_mid = area_quantiles.label_mid
)

select * from final
