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
