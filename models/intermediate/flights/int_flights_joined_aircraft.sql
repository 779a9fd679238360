{#-
    Each flight with its aircraft: type, engines, seats, and its age in the year of the flight.
-#}

with

flights as (

    select * from {{ ref('int_flights_joined_weather') }}

),

planes as (

    select * from {{ ref('stg_nycflights__planes') }}

),

joined as (

    select
        flights.*,
        planes.aircraft_type,
        planes.engine_type,
        planes.engine_count,
        planes.seat_count,
        year(flights.flight_date) - planes.manufactured_year as aircraft_age_years

    from flights
    left join planes
        on flights.tail_number = planes.tail_number

)

select * from joined
