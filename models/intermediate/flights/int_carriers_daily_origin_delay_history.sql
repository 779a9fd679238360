{#-
    For each carrier, origin and day that a flight's features are taken on (its scheduled departure less the
    prediction lead, macros/features_as_of.sql, as a New York date): the carrier's departures from that origin
    in the `carrier_history_days` days before (not the day itself), and the share of them that left late. A
    flight takes the row of its as-of day, which holds nothing of that day or later.
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
        flight_date as as_of_date,
        count_if(not is_cancelled) as departed_count,
        count_if({{ is_delayed('departure_delay_minutes') }}) as delayed_count

    from flights
    group by 1, 2, 3

    union all

    -- the days flights' features are taken on, which a lead can move to the evening before a day with no departures
    select distinct
        carrier_code,
        origin_airport_code,
        to_date({{ features_as_of('scheduled_departure_at') }}) as as_of_date,
        0 as departed_count,
        0 as delayed_count

    from flights
    where scheduled_departure_at is not null

),

days as (

    select
        carrier_code,
        origin_airport_code,
        as_of_date,
        sum(departed_count) as departed_count,
        sum(delayed_count) as delayed_count

    from carrier_origin_days
    group by 1, 2, 3

),

cumulative as (

    select
        carrier_code,
        origin_airport_code,
        as_of_date,
        sum(departed_count) over earlier_days as prior_departed_count,
        sum(delayed_count) over earlier_days as prior_delayed_count

    from days
    window earlier_days as (
        partition by carrier_code, origin_airport_code
        order by unix_date(as_of_date)
        range between {{ history_days }} preceding and 1 preceding
    )

),

final as (

    select
        carrier_code,
        origin_airport_code,
        as_of_date,
        coalesce(prior_departed_count, 0) as carrier_origin_prior_departure_count,
        prior_delayed_count / nullif(prior_departed_count, 0) as carrier_origin_prior_delayed_share

    from cumulative

)

select * from final
