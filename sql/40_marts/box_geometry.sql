-- Per class and split: the distribution of box area (fraction of the image) and aspect ratio
-- (width / height in normalised coordinates, so relative to the image's own aspect) as
-- quantiles (p05, p25, median, p75, p95) and mean.

create or replace view box_geometry as
with

measured as (
    select
        split,
        label_mid,
        (x_max - x_min)::double * (y_max - y_min)::double as area,
        (x_max - x_min)::double / nullif(y_max - y_min, 0)::double as aspect_ratio,
    from boxes
),

final as (
    select
        measured.label_mid,
        classes.display_name as label_name,
        measured.split,
        count(*) as boxes,
        avg(area) as area_mean,
        quantile_cont(area, 0.05) as area_p05,
        quantile_cont(area, 0.25) as area_p25,
        quantile_cont(area, 0.5) as area_median,
        quantile_cont(area, 0.75) as area_p75,
        quantile_cont(area, 0.95) as area_p95,
        quantile_cont(aspect_ratio, 0.05) as aspect_ratio_p05,
        quantile_cont(aspect_ratio, 0.25) as aspect_ratio_p25,
        quantile_cont(aspect_ratio, 0.5) as aspect_ratio_median,
        quantile_cont(aspect_ratio, 0.75) as aspect_ratio_p75,
        quantile_cont(aspect_ratio, 0.95) as aspect_ratio_p95,
    from measured
    left join classes on classes.label_mid = measured.label_mid
    group by all
)

select * from final
