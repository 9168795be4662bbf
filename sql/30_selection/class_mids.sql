-- Classes selected by display name (case-insensitive, exact), optionally with every subcategory
-- descendant: `select * from class_mids(['Animal'], include_descendants := true)`.
-- Returns `label_mid`, `label_name`, `matched_name` (the name asked for) and `is_descendant`.
-- An unknown name is an error that lists the closest names.

create or replace macro class_mids(names, include_descendants := false) as table
with

wanted as (
    select distinct unnest(names) as matched_name
),

matched as (
    select
        wanted.matched_name,
        classes.label_mid,
        classes.display_name
    from wanted
    left join classes on lower(classes.display_name) = lower(wanted.matched_name)
),

unknown as (
    select
        string_agg(
            format('"{}" (closest: {})', matched_name, (
                select string_agg(display_name, ', ' order by rank)
                from (
                    select
                        display_name,
                        row_number() over (
                            order by
                                damerau_levenshtein(lower(display_name), lower(matched_name)),
                                jaro_winkler_similarity(lower(display_name), lower(matched_name)) desc,
                                display_name
                        ) as rank
                    from classes
                    where display_name is not null
                    qualify rank <= 3
                ) as closest
            )),
            '; '
        ) as message
    from matched
    where label_mid is null
),

checked as (
    select matched.*
    from matched, unknown
    where
        matched.label_mid is not null
        and (unknown.message is null or error('unknown class name(s): ' || unknown.message) is null)
),

final as (
    select
        label_mid,
        display_name as label_name,
        matched_name,
        false as is_descendant
    from checked
    union
    select
        class_ancestors.label_mid,
        classes.display_name as label_name,
        checked.matched_name,
        true as is_descendant
    from checked
    inner join class_ancestors on class_ancestors.ancestor_mid = checked.label_mid
    left join classes on classes.label_mid = class_ancestors.label_mid
    where include_descendants
)

select * from final
