{#-
    For each flight: how many flights left its origin in the hours before its scheduled departure, and how
    late they left. Only flights that had actually departed before that moment count, so a flight never sees
    its own delay, a later flight's, or that of an earlier flight still waiting on the ground.

    The window is a range join; bucketing departures by hour turns it into an equi-join on (origin, hour), so
    each flight meets a few dozen candidates rather than every flight of its origin.
-#}
{%- set window_hours = var('origin_history_hours') -%}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

departures as (

    select
        flight_id,
        origin_airport_code,
        departure_delay_minutes,
        actual_departure_at,
        date_trunc('hour', actual_departure_at) as departure_hour_at

    from flights
    where actual_departure_at is not null

),

lookback_hours as (

    select
        flight_id,
        origin_airport_code,
        scheduled_departure_at,
        explode(sequence(
            date_trunc('hour', scheduled_departure_at - make_dt_interval(0, {{ window_hours }}, 0, 0)),
            date_trunc('hour', scheduled_departure_at),
            interval 1 hour
        )) as departure_hour_at

    from flights
    where scheduled_departure_at is not null

),

prior_departures as (

    select
        lookback_hours.flight_id,
        departures.departure_delay_minutes

    from lookback_hours
    inner join departures
        on lookback_hours.origin_airport_code = departures.origin_airport_code
        and lookback_hours.departure_hour_at = departures.departure_hour_at
        -- One range, window start <= actual departure < scheduled departure, kept in that order (ST09 would
        -- swap the sides of `<`) and with the `>=` line hanging under its left side (LT02 would dedent it).
        and departures.actual_departure_at
            >= lookback_hours.scheduled_departure_at - make_dt_interval(0, {{ window_hours }}, 0, 0)  -- noqa: LT02
        and departures.actual_departure_at < lookback_hours.scheduled_departure_at  -- noqa: ST09
        and lookback_hours.flight_id != departures.flight_id

),

aggregated as (

    select
        flights.flight_id,
        count(prior_departures.departure_delay_minutes) as origin_prior_departure_count,
        avg(prior_departures.departure_delay_minutes) as origin_prior_mean_delay_minutes,
        avg(cast({{ is_delayed('prior_departures.departure_delay_minutes') }} as int))
            as origin_prior_delayed_share

    from flights
    left join prior_departures
        on flights.flight_id = prior_departures.flight_id
    group by flights.flight_id

)

select * from aggregated
