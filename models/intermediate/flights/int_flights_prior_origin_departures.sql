{#-
    For each flight: how many flights left its origin in the hours before its scheduled departure, and how
    late they left. Only flights that had actually departed before that moment count, so a flight never sees
    its own delay, a later flight's, or that of an earlier flight still waiting on the ground.

    The window [scheduled - N hours, scheduled) is read off running totals rather than joined row by row: per
    origin, in order of time, departures add to a running count, delay total and delayed count, and each flight
    drops two markers, at its window's start and at its end. The totals at the end marker less those at the
    start marker are the departures inside the window (a marker sorts before a departure at the same instant,
    so the window includes its start and excludes its end); a flight that left early enough to fall in its own
    window is taken out again. The running totals restart every day (UTC), so the work spreads over
    origin-days; a departure in a day's last N hours is counted in the next day as well, where later flights'
    windows reach back to it. One sort of about three rows per flight, instead of a range join that pairs each
    flight with the few dozen departures around it.
-#}
{%- set window_hours = var('origin_history_hours') | int -%}
{%- set window_micros = window_hours * 3600 * 1000000 -%}
{%- set day_micros = 24 * 3600 * 1000000 -%}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

departures as (

    select
        origin_airport_code,
        unix_micros(actual_departure_at) as departed_at_micros,
        departure_delay_minutes,
        cast({{ is_delayed('departure_delay_minutes') }} as int) as delayed_count

    from flights
    where actual_departure_at is not null

),

departure_events as (

    select
        origin_airport_code,
        explode(array_distinct(array(
            floor(departed_at_micros / {{ day_micros }}),
            floor((departed_at_micros + {{ window_micros }}) / {{ day_micros }})
        ))) as day_number,
        departed_at_micros as event_at_micros,
        1 as event_rank,
        cast(null as string) as flight_id,
        0 as marker_sign,
        1 as departed_count,
        departure_delay_minutes,
        delayed_count

    from departures

),

window_starts as (

    select
        origin_airport_code,
        floor(unix_micros(scheduled_departure_at) / {{ day_micros }}) as day_number,
        unix_micros(scheduled_departure_at) - {{ window_micros }} as event_at_micros,
        0 as event_rank,
        flight_id,
        -1 as marker_sign,
        0 as departed_count,
        0 as departure_delay_minutes,
        0 as delayed_count,
        false as is_own_departure,
        0 as own_delay_minutes,
        0 as own_delayed_count

    from flights
    where scheduled_departure_at is not null

),

window_ends as (

    select
        origin_airport_code,
        floor(unix_micros(scheduled_departure_at) / {{ day_micros }}) as day_number,
        unix_micros(scheduled_departure_at) as event_at_micros,
        0 as event_rank,
        flight_id,
        1 as marker_sign,
        0 as departed_count,
        0 as departure_delay_minutes,
        0 as delayed_count,
        -- the flight itself, when it left early enough to be inside its own window
        coalesce(
            actual_departure_at >= scheduled_departure_at - make_dt_interval(0, {{ window_hours }}, 0, 0)
            and actual_departure_at < scheduled_departure_at,
            false
        ) as is_own_departure,
        departure_delay_minutes as own_delay_minutes,
        cast({{ is_delayed('departure_delay_minutes') }} as int) as own_delayed_count

    from flights
    where scheduled_departure_at is not null

),

running_totals as (

    select
        origin_airport_code,
        day_number,
        flight_id,
        marker_sign,
        is_own_departure,
        own_delay_minutes,
        own_delayed_count,
        sum(departed_count) over running as departed_before,
        sum(departure_delay_minutes) over running as delay_minutes_before,
        sum(delayed_count) over running as delayed_before

    from (
        select
            *,
            false as is_own_departure,
            0 as own_delay_minutes,
            0 as own_delayed_count
        from departure_events
        union all
        select * from window_starts
        union all
        select * from window_ends
    ) as events
    window running as (
        partition by origin_airport_code, day_number
        order by event_at_micros, event_rank
        rows between unbounded preceding and current row
    )

),

-- Grouped by the window's partition too, so the markers of a flight meet where the window left them.
prior_departures as (

    select
        flight_id,
        sum(marker_sign * departed_before) - count_if(is_own_departure) as departed_count,
        sum(marker_sign * delay_minutes_before) - sum(if(is_own_departure, own_delay_minutes, 0)) as delay_minutes,
        sum(marker_sign * delayed_before) - sum(if(is_own_departure, own_delayed_count, 0)) as delayed_count

    from running_totals
    where flight_id is not null
    group by origin_airport_code, day_number, flight_id

),

final as (

    select
        flight_id,
        departed_count as origin_prior_departure_count,
        delay_minutes / nullif(departed_count, 0) as origin_prior_mean_delay_minutes,
        delayed_count / nullif(departed_count, 0) as origin_prior_delayed_share

    from prior_departures

    union all

    -- without a scheduled time there is no window: nothing before it
    select
        flight_id,
        0 as origin_prior_departure_count,
        null as origin_prior_mean_delay_minutes,
        null as origin_prior_delayed_share

    from flights
    where scheduled_departure_at is null

)

select * from final
