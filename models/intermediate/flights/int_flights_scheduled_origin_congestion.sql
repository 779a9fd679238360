{#-
    For each flight: how many flights the schedule has leaving its origin within `congestion_minutes` either
    side of its scheduled departure, itself included. The schedule is published before the day starts, so this
    is known in advance; cancelled flights count, as they were on the schedule. The day is the flight date
    (New York), so the count does not reach across midnight.
-#}
{%- set congestion_seconds = var('congestion_minutes') | int * 60 -%}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

final as (

    select
        flight_id,
        count(*) over (
            partition by origin_airport_code, flight_date
            order by unix_seconds(scheduled_departure_at)
            range between {{ congestion_seconds }} preceding and {{ congestion_seconds }} following
        ) as origin_scheduled_departure_count

    from flights
    where scheduled_departure_at is not null

)

select * from final
