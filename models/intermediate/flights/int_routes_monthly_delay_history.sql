{#-
    For each route and month: the delay rate of the route's departed flights in all earlier months. A flight
    takes the row of its own month, which by construction holds nothing of that month or later. A table, rebuilt by every
    build: one small row per route and month.
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

),

cumulative as (

    select
        route_code,
        month_start_date,
        sum(departed_count) over earlier_months as prior_departed_count,
        sum(delayed_count) over earlier_months as prior_delayed_count

    from route_months
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
        prior_delayed_count / prior_departed_count as route_prior_delayed_share

    from cumulative

)

select * from final
