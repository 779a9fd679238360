{#-
    One row per flight that departed: what was known `prediction_lead_minutes` before its scheduled departure
    (at `features_as_of_at`, macros/features_as_of.sql), and whether it left more than `delay_threshold_minutes`
    late. Incremental by what arrived: every feature looks back in time
    (or, the scheduled congestion, across its own day), so the flights or weather staged since the last build
    (macros/arrivals.sql) can change the features of their own day and of later days only. A build recomputes
    the flights from the earliest such day on, and the days after the last one built (up to
    `features_through_month`, when set), and merges them. Not partitioned by month: the merge matches on
    flight_id, and 300 years of months would be 3,600 folders of small files.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='flight_id',
        on_schema_change='fail',
    )
}}

with

flights as (

    select * from {{ ref('int_flights_joined_aircraft') }}

),

origin_history as (

    select * from {{ ref('int_flights_prior_origin_departures') }}

),

route_history as (

    select * from {{ ref('int_routes_monthly_delay_history') }}

),

aircraft_history as (

    select * from {{ ref('int_flights_prior_aircraft_departures') }}

),

schedule as (

    select * from {{ ref('int_flights_scheduled_origin_congestion') }}

),

carrier_history as (

    select * from {{ ref('int_carriers_daily_origin_delay_history') }}

),

calendar as (

    select * from {{ ref('int_calendar_days_to_holidays') }}

),

-- The earliest day a build must recompute: that of a flight or an observation staged since the last build.
changed_days as (

    select min(flight_date) as changed_from_date
    from {{ ref('stg_nycflights__flights') }}
    where {{ arrived_since_last_build(ref('stg_nycflights__flights'), 'loaded_at') }}

    union all

    select min(to_date(observed_at)) as changed_from_date
    from {{ ref('stg_nycflights__weather') }}
    where {{ arrived_since_last_build(ref('stg_nycflights__weather'), 'loaded_at') }}
    {%- if is_incremental() %}

        -- and the days after the last one built, when `features_through_month` has moved on
        union all

        select date_add(max(flight_date), 1) as changed_from_date
        from {{ this }}

        -- and every day built at another prediction lead
        union all

        select min(flight_date) as changed_from_date
        from {{ this }}
        where features_as_of_at != {{ features_as_of('scheduled_departure_at') }}
    {%- endif %}

),

-- A first build finds every staged row arrived, and takes every day.
departed as (

    select * from flights
    where not is_cancelled
        and {{ is_within_feature_months('flight_date') }}
        and flight_date >= (select min(changed_days.changed_from_date) from changed_days)

),

-- The histories of every flight join by hashing them, partition by partition, instead of sorting the flights'
-- wide rows as a sort-merge join would (the origin's: one sort fewer, 69 -> 51 s at 10M flights); and never by
-- broadcast, which Spark picks for a history whose size its estimate of a window's output understates (a
-- driver out of memory at 10M flights).
final as (

    select /*+ shuffle_hash(origin_history, aircraft_history, schedule) */
        departed.flight_id,
        departed.carrier_code,
        departed.origin_airport_code,
        departed.destination_airport_code,
        departed.route_code,
        departed.aircraft_type,
        departed.engine_type,
        month(departed.flight_date) as month_of_year,
        dayofweek(departed.flight_date) as day_of_week,
        hour(departed.scheduled_departure_at) as scheduled_hour,
        departed.distance_miles,
        departed.engine_count,
        departed.seat_count,
        departed.aircraft_age_years,
        departed.temperature_f,
        departed.dewpoint_f,
        departed.relative_humidity,
        departed.wind_direction_degrees,
        departed.wind_speed_mph,
        departed.wind_gust_mph,
        departed.precipitation_inches,
        departed.pressure_millibars,
        departed.visibility_miles,
        departed.visibility_change_miles,
        departed.pressure_change_millibars,
        departed.recent_precipitation_inches,
        origin_history.origin_prior_departure_count,
        origin_history.origin_prior_mean_delay_minutes,
        origin_history.origin_prior_delayed_share,
        route_history.route_prior_departure_count,
        route_history.route_prior_delayed_share,
        aircraft_history.aircraft_earlier_flight_count,
        aircraft_history.aircraft_scheduled_gap_minutes,
        aircraft_history.aircraft_previous_delay_minutes,
        schedule.origin_scheduled_departure_count,
        carrier_history.carrier_origin_prior_departure_count,
        carrier_history.carrier_origin_prior_delayed_share,
        calendar.days_to_nearest_holiday,
        {{ is_delayed('departed.departure_delay_minutes') }} as is_delayed,
        departed.flight_date,
        departed.scheduled_departure_at,
        departed.features_as_of_at

    from departed
    left join origin_history
        on departed.flight_id = origin_history.flight_id
    left join route_history
        on departed.route_code = route_history.route_code
        and trunc(to_date(departed.features_as_of_at), 'MM') = route_history.month_start_date
    left join aircraft_history
        on departed.flight_id = aircraft_history.flight_id
    left join schedule
        on departed.flight_id = schedule.flight_id
    left join carrier_history
        on departed.carrier_code = carrier_history.carrier_code
        and departed.origin_airport_code = carrier_history.origin_airport_code
        and to_date(departed.features_as_of_at) = carrier_history.as_of_date
    left join calendar
        on departed.flight_date = calendar.flight_date

)

select * from final
