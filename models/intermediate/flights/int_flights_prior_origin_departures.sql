{#-
    For each flight: how many flights left its origin in the hours before its features are taken (its scheduled
    departure less the prediction lead, macros/features_as_of.sql), and how late they left. Only flights that had
    actually departed before that moment count, so a flight never sees its own delay, a later flight's, or that
    of an earlier flight still waiting on the ground.

    The window [as of - N hours, as of) is read off running totals rather than joined row by row: per
    origin, in order of time, each departure enters the totals (count, delay, delayed count) when it leaves the
    gate and leaves them again N hours later, and each flight drops one marker at its as-of time. The
    totals at a flight's marker are then exactly the departures inside its window (a marker sorts before an
    event at the same instant, so a departure exactly N hours earlier is still in, one at the same instant not
    yet); a flight that left early enough to fall in its own window is taken out again. The totals restart every
    day (UTC), so the work spreads over origin-days; a departure in a day's last N hours enters the next day's
    totals as well, where later flights' windows reach back to it. One sort of about three rows per flight, and
    the marker row is the answer: no range join, no grouping afterwards. A table, rebuilt by every build: the
    build's costliest sort, written once for flight_features to join (not measured against a view since builds
    stopped reusing unchanged tables).
-#}
{{ config(materialized='table') }}
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

-- Each departure enters the totals when it leaves the gate, in its own day and, when its window reaches into
-- the next day, in that day too; it leaves them again N hours later.
totals_changes as (

    select
        origin_airport_code,
        floor(departed_at_micros / {{ day_micros }}) as day_number,
        departed_at_micros as event_at_micros,
        1 as change_sign,
        departure_delay_minutes,
        delayed_count

    from departures

    union all

    select
        origin_airport_code,
        floor((departed_at_micros + {{ window_micros }}) / {{ day_micros }}) as day_number,
        departed_at_micros as event_at_micros,
        1 as change_sign,
        departure_delay_minutes,
        delayed_count

    from departures
    where
        floor((departed_at_micros + {{ window_micros }}) / {{ day_micros }})
        > floor(departed_at_micros / {{ day_micros }})

    union all

    select
        origin_airport_code,
        floor((departed_at_micros + {{ window_micros }}) / {{ day_micros }}) as day_number,
        departed_at_micros + {{ window_micros }} as event_at_micros,
        -1 as change_sign,
        departure_delay_minutes,
        delayed_count

    from departures

),

departure_events as (

    select
        origin_airport_code,
        day_number,
        event_at_micros,
        1 as event_rank,
        null as flight_id,
        change_sign as departed_count,
        change_sign * departure_delay_minutes as departure_delay_minutes,
        change_sign * delayed_count as delayed_count

    from totals_changes

),

as_of as (

    select
        *,
        {{ features_as_of('scheduled_departure_at') }} as features_as_of_at

    from flights
    where scheduled_departure_at is not null

),

markers as (

    select
        origin_airport_code,
        floor(unix_micros(features_as_of_at) / {{ day_micros }}) as day_number,
        unix_micros(features_as_of_at) as event_at_micros,
        0 as event_rank,
        flight_id,
        0 as departed_count,
        0 as departure_delay_minutes,
        0 as delayed_count,
        -- the flight itself, when it left early enough to be inside its own window
        coalesce(
            actual_departure_at >= features_as_of_at - make_dt_interval(0, {{ window_hours }}, 0, 0)
            and actual_departure_at < features_as_of_at,
            false
        ) as is_own_departure,
        departure_delay_minutes as own_delay_minutes,
        cast({{ is_delayed('departure_delay_minutes') }} as int) as own_delayed_count

    from as_of

),

running_totals as (

    select
        flight_id,
        is_own_departure,
        own_delay_minutes,
        own_delayed_count,
        sum(departed_count) over running as departed_count,
        sum(departure_delay_minutes) over running as delay_minutes,
        sum(delayed_count) over running as delayed_count

    from (
        select
            *,
            false as is_own_departure,
            0 as own_delay_minutes,
            0 as own_delayed_count
        from departure_events
        union all
        select * from markers
    ) as events
    -- The day first: the sort that the window needs compares 8-byte prefixes of its first key, and the day
    -- tells rows apart where three origin codes would not.
    window running as (
        partition by day_number, origin_airport_code
        order by event_at_micros, event_rank
        rows between unbounded preceding and current row
    )

),

prior_departures as (

    select
        flight_id,
        departed_count - cast(is_own_departure as int) as departed_count,
        delay_minutes - if(is_own_departure, own_delay_minutes, 0) as delay_minutes,
        delayed_count - if(is_own_departure, own_delayed_count, 0) as delayed_count

    from running_totals
    where flight_id is not null

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
