{#-
    Each flight with the weather observed at its origin in the hour of its scheduled departure.
-#}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

weather as (

    select * from {{ ref('stg_nycflights__weather') }}

),

joined as (

    select
        flights.*,
        weather.weather_observation_id,
        weather.temperature_f,
        weather.dewpoint_f,
        weather.relative_humidity,
        weather.wind_direction_degrees,
        weather.wind_speed_mph,
        weather.wind_gust_mph,
        weather.precipitation_inches,
        weather.pressure_millibars,
        weather.visibility_miles

    from flights
    left join weather
        on flights.origin_airport_code = weather.airport_code
        and date_trunc('hour', flights.scheduled_departure_at) = weather.observed_at

)

select * from joined
