{#-
    For each flight: what its aircraft's earlier flight that day already says when this one's features are taken
    (its scheduled departure less the prediction lead, macros/features_as_of.sql). A late aircraft makes its
    next flight late, and the schedule plus the departures so far are known by then: the previous flight's
    scheduled departure (the slack between the two), and its delay as far as it is known at that moment. A
    previous flight that left before then has its delay known; one still on the ground has been late at least as
    long as the time since its scheduled departure (none, when it is not yet due), and that lower bound is all a
    flight may see (its real delay would be the future). A cancelled previous flight gives no delay. The
    aircraft is its tail number; the day is the flight date (New York).
-#}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

sequenced as (

    select
        flight_id,
        scheduled_departure_at,
        {{ features_as_of('scheduled_departure_at') }} as features_as_of_at,
        row_number() over same_aircraft_day - 1 as aircraft_earlier_flight_count,
        lag(scheduled_departure_at) over same_aircraft_day as previous_scheduled_departure_at,
        lag(actual_departure_at) over same_aircraft_day as previous_actual_departure_at,
        lag(departure_delay_minutes) over same_aircraft_day as previous_departure_delay_minutes

    from flights
    where tail_number is not null and scheduled_departure_at is not null
    window same_aircraft_day as (
        partition by tail_number, flight_date
        order by scheduled_departure_at, flight_id
    )

),

final as (

    select
        flight_id,
        aircraft_earlier_flight_count,
        timestampdiff(
            minute, previous_scheduled_departure_at, scheduled_departure_at
        ) as aircraft_scheduled_gap_minutes,
        case
            when previous_actual_departure_at is null then null
            when previous_actual_departure_at < features_as_of_at then previous_departure_delay_minutes
            else greatest(timestampdiff(minute, previous_scheduled_departure_at, features_as_of_at), 0)
        end as aircraft_previous_delay_minutes

    from sequenced

)

select * from final
