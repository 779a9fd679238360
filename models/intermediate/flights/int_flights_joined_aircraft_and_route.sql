{#-
    Each flight with its aircraft (age at departure) and its route (origin and destination airports).
    A view, not a table: flight_features reads it once, and writing every flight's columns only to read them
    back costs more than it saves (80 s of a 430 s build at 10M flights).
-#}
{{ config(materialized='view') }}

with

flights as (

    select * from {{ ref('int_flights_joined_weather') }}

),

planes as (

    select * from {{ ref('stg_nycflights__planes') }}

),

airports as (

    select * from {{ ref('stg_nycflights__airports') }}

),

joined as (

    select
        flights.*,
        planes.aircraft_type,
        planes.manufacturer as aircraft_manufacturer,
        planes.engine_type,
        planes.engine_count,
        planes.seat_count,
        year(flights.flight_date) - planes.manufactured_year as aircraft_age_years,
        destinations.timezone_name as destination_timezone_name,
        destinations.latitude as destination_latitude,
        destinations.longitude as destination_longitude

    from flights
    left join planes
        on flights.tail_number = planes.tail_number
    left join airports as destinations
        on flights.destination_airport_code = destinations.airport_code

)

select * from joined
