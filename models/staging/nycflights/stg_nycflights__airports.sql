{#-
    A view, not a table: a rename of a seed of a few thousand rows at most, which costs nothing to read
    through and would cost a Delta commit (about a second) on every build to copy.
-#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ ref('airports') }}

),

final as (

    select
        faa as airport_code,
        name as airport_name,
        nullif(tzone, 'NA') as timezone_name,
        nullif(dst, 'U') as dst_rule,
        lat as latitude,
        lon as longitude,
        alt as altitude_feet,
        tz as utc_offset_hours

    from source

)

select * from final
