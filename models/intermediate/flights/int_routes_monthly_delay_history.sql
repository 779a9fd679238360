{#-
    For each route and month: the delay rate of the route's departed flights in all earlier months. A flight
    takes the row of the month its features are taken in (its scheduled departure less the prediction lead,
    macros/features_as_of.sql), which by construction holds nothing of that month or later. A table, rebuilt by
    every build: one small row per route and month.
-#}
{{ config(materialized='table') }}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

route_months as (

    select
        route_code,
        trunc(flight_date, 'MM') as month_start_date,
        count(*) as departed_count,
        sum(cast({{ is_delayed('departure_delay_minutes') }} as int)) as delayed_count

    from flights
    where not is_cancelled
    group by 1, 2

    union all

    -- the months flights' features are taken in, which a lead can move to the last evening of a month without
    -- departures on the route
    select distinct
        route_code,
        trunc(to_date({{ features_as_of('scheduled_departure_at') }}), 'MM') as month_start_date,
        0 as departed_count,
        0 as delayed_count

    from flights
    where scheduled_departure_at is not null

),

months as (

    select
        route_code,
        month_start_date,
        sum(departed_count) as departed_count,
        sum(delayed_count) as delayed_count

    from route_months
    group by 1, 2

),

cumulative as (

    select
        route_code,
        month_start_date,
        sum(departed_count) over earlier_months as prior_departed_count,
        sum(delayed_count) over earlier_months as prior_delayed_count

    from months
    window earlier_months as (
        partition by route_code
        order by month_start_date
        rows between unbounded preceding and 1 preceding
    )

),

final as (

    select
        route_code,
        month_start_date,
        coalesce(prior_departed_count, 0) as route_prior_departure_count,
        prior_delayed_count / nullif(prior_departed_count, 0) as route_prior_delayed_share

    from cumulative

)

select * from final
