-- Per class and split: the distribution of box area (fraction of the image) and aspect ratio
-- (width / height in normalised coordinates, so relative to the image's own aspect) as
-- quantiles (p05, p25, median, p75, p95) and mean.

create or replace view box_geometry_live as
with

measured as (
    select
        split,
        label_mid,
        cast(x_max - x_min as double) * cast(y_max - y_min as double) as area,
        cast(x_max - x_min as double) / cast(nullif(y_max - y_min, 0) as double) as aspect_ratio
    from boxes
),

-- one quantile aggregate per column (a group's values are held in memory while it is sorted:
-- two columns at once ran out of the build's DuckDB memory at full scale)
area_quantiles as (
    select
        label_mid,
        split,
        count(*) as boxes,
        avg(area) as area_mean,
        quantile_cont(area, [0.05, 0.25, 0.5, 0.75, 0.95]) as area_q
    from measured
    group by label_mid, split
),

aspect_ratio_quantiles as (
    select
        label_mid,
        split,
        quantile_cont(aspect_ratio, [0.05, 0.25, 0.5, 0.75, 0.95]) as aspect_ratio_q
    from measured
    group by label_mid, split
),

quantiles as (
    select
        area_quantiles.*,
        aspect_ratio_quantiles.aspect_ratio_q
    from area_quantiles
    inner join aspect_ratio_quantiles
        on aspect_ratio_quantiles.label_mid = area_quantiles.label_mid
        and aspect_ratio_quantiles.split = area_quantiles.split
),

final as (
    select
        quantiles.label_mid,
        classes.display_name as label_name,
        quantiles.split,
        quantiles.boxes,
        quantiles.area_mean,
        quantiles.area_q[1] as area_p05,
        quantiles.area_q[2] as area_p25,
        quantiles.area_q[3] as area_median,
        quantiles.area_q[4] as area_p75,
        quantiles.area_q[5] as area_p95,
        quantiles.aspect_ratio_q[1] as aspect_ratio_p05,
        quantiles.aspect_ratio_q[2] as aspect_ratio_p25,
        quantiles.aspect_ratio_q[3] as aspect_ratio_median,
        quantiles.aspect_ratio_q[4] as aspect_ratio_p75,
        quantiles.aspect_ratio_q[5] as aspect_ratio_p95
    from quantiles
    left join classes on classes.label_mid = quantiles.label_mid
)

select * from final
