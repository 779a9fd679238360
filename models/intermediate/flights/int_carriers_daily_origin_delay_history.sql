{#-
    For each carrier, origin and day with a scheduled flight: the carrier's departures from that origin in the
    `carrier_history_days` days before (not the day itself), and the share of them that left late. A flight
    takes the row of its own day, which holds nothing of that day or later.
-#}
{%- set history_days = var('carrier_history_days') | int -%}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

carrier_origin_days as (

    select
        carrier_code,
        origin_airport_code,
        flight_date,
        count_if(not is_cancelled) as departed_count,
        count_if({{ is_delayed('departure_delay_minutes') }}) as delayed_count

    from flights
    group by 1, 2, 3

),

cumulative as (

    select
        carrier_code,
        origin_airport_code,
        flight_date,
        sum(departed_count) over earlier_days as prior_departed_count,
        sum(delayed_count) over earlier_days as prior_delayed_count

    from carrier_origin_days
    window earlier_days as (
        partition by carrier_code, origin_airport_code
        order by unix_date(flight_date)
        range between {{ history_days }} preceding and 1 preceding
    )

),

final as (

    select
        carrier_code,
        origin_airport_code,
        flight_date,
        coalesce(prior_departed_count, 0) as carrier_origin_prior_departure_count,
        prior_delayed_count / nullif(prior_departed_count, 0) as carrier_origin_prior_delayed_share

    from cumulative

)

select * from final
