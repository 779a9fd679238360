{#-
    Incremental: a build merges the bronze rows loaded since the last one, from the CSV loader and the stream
    alike (macros/arrivals.sql), and takes every row again when a CSV load replaced rows instead of adding them.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='flight_id',
        on_schema_change='fail',
    )
}}
{%- set bronze_columns -%}
    year, month, day, sched_dep_time, dep_time, dep_delay, arr_delay, air_time, carrier, flight, tailnum, origin,
    dest, distance, time_hour, _batch_id, _loaded_at
{%- endset %}

with

loaded as (

    select {{ bronze_columns }}
    from {{ source('nycflights', 'flights') }}
    where {{ arrived_since_last_build(source('nycflights', 'flights'), '_loaded_at') }}

),

streamed as (

    select {{ bronze_columns }}
    from {{ source('nycflights', 'flight_events') }}
    where {{ arrived_since_last_build(source('nycflights', 'flight_events'), '_loaded_at') }}

),

source as (

    select * from loaded
    union all
    select * from streamed

),

renamed as (

    select
        carrier as carrier_code,
        cast(flight as string) as flight_number,
        nullif(tailnum, 'NA') as tail_number,
        origin as origin_airport_code,
        dest as destination_airport_code,
        concat(origin, '-', dest) as route_code,
        sched_dep_time as scheduled_departure_hhmm,
        dep_time as departure_hhmm,
        dep_delay as departure_delay_minutes,
        arr_delay as arrival_delay_minutes,
        air_time as air_time_minutes,
        distance as distance_miles,
        make_date(year, month, day) as flight_date,
        {{ hhmm_to_timestamp('make_date(year, month, day)', 'sched_dep_time') }} as scheduled_departure_at,
        time_hour as source_scheduled_hour_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

),

keyed as (

    select
        -- An unreadable scheduled time keeps the date in the key: one flight number on two days stays two keys.
        {{ surrogate_key([
            'carrier_code', 'flight_number', 'origin_airport_code',
            'coalesce(cast(unix_seconds(scheduled_departure_at) as string), cast(flight_date as string))',
        ]) }} as flight_id,
        *

    from renamed

),

-- A flight loaded more than once (twice from CSV, or from CSV and the stream) keeps its latest load, unless the
-- loader proved there is only one.
deduplicated as (

    select
        *,
        {%- if has_no_duplicate_loads(source('nycflights', 'flights'), source('nycflights', 'flight_events')) %}
            1 as copy_number
        {%- else %}
            row_number() over (partition by flight_id order by loaded_at desc, batch_id asc) as copy_number
        {%- endif %}

    from keyed

),

final as (

    select
        flight_id,
        carrier_code,
        flight_number,
        tail_number,
        origin_airport_code,
        destination_airport_code,
        route_code,
        scheduled_departure_hhmm,
        departure_hhmm,
        departure_delay_minutes,
        arrival_delay_minutes,
        air_time_minutes,
        distance_miles,
        -- A flight that never left has no departure time; the source has no other cancellation flag.
        departure_hhmm is null as is_cancelled,
        flight_date,
        scheduled_departure_at,
        -- dep_time alone cannot say which day a flight left (23:59 + 20 minutes late is 00:19 tomorrow);
        -- the delay, measured by the source, can.
        timestampadd(minute, departure_delay_minutes, scheduled_departure_at) as actual_departure_at,
        source_scheduled_hour_at,
        loaded_at

    from deduplicated
    where copy_number = 1

)

select * from final
