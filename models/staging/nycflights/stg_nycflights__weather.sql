{#-
    Incremental like stg_nycflights__flights: a build merges the observations loaded since the last one, from the
    CSV loader and the stream, and takes every row again when a CSV load replaced rows.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='weather_observation_id',
        on_schema_change='fail',
    )
}}
{%- set bronze_columns -%}
    origin, temp, dewp, humid, wind_dir, wind_speed, wind_gust, precip, pressure, visib, time_hour, _batch_id,
    _loaded_at
{%- endset %}

with

loaded as (

    select {{ bronze_columns }}
    from {{ source('nycflights', 'weather') }}
    where {{ arrived_since_last_build(source('nycflights', 'weather'), '_loaded_at') }}

),

streamed as (

    select {{ bronze_columns }}
    from {{ source('nycflights', 'weather_events') }}
    where {{ arrived_since_last_build(source('nycflights', 'weather_events'), '_loaded_at') }}

),

source as (

    select * from loaded
    union all
    select * from streamed

),

renamed as (

    select
        origin as airport_code,
        temp as temperature_f,
        dewp as dewpoint_f,
        humid as relative_humidity,
        wind_dir as wind_direction_degrees,
        wind_speed as wind_speed_mph,
        wind_gust as wind_gust_mph,
        precip as precipitation_inches,
        pressure as pressure_millibars,
        visib as visibility_miles,
        -- The source gives each observation's hour as an instant (UTC), so no DST arithmetic is needed.
        time_hour as observed_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

),

-- An observation loaded more than once keeps its latest load, unless the loader proved there is only one.
deduplicated as (

    select
        *,
        {%- if has_no_duplicate_loads(source('nycflights', 'weather'), source('nycflights', 'weather_events')) %}
            1 as copy_number
        {%- else %}
            row_number() over (
                partition by airport_code, observed_at order by loaded_at desc, batch_id asc
            ) as copy_number
        {%- endif %}

    from renamed

),

final as (

    select
        {{ surrogate_key(['airport_code', 'unix_seconds(observed_at)']) }} as weather_observation_id,
        airport_code,
        temperature_f,
        dewpoint_f,
        relative_humidity,
        wind_direction_degrees,
        wind_speed_mph,
        wind_gust_mph,
        precipitation_inches,
        pressure_millibars,
        visibility_miles,
        observed_at,
        loaded_at

    from deduplicated
    where copy_number = 1

)

select * from final
