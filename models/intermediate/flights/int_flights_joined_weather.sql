{#-
    Each flight with the weather observed at its origin in the hour its features are taken at (its scheduled
    departure less the prediction lead, macros/features_as_of.sql), and its trend.
-#}

with

flights as (

    select
        *,
        {{ features_as_of('scheduled_departure_at') }} as features_as_of_at

    from {{ ref('stg_nycflights__flights') }}

),

weather as (

    select * from {{ ref('int_weather_hourly_trends') }}

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
        weather.visibility_miles,
        weather.visibility_change_miles,
        weather.pressure_change_millibars,
        weather.recent_precipitation_inches

    from flights
    left join weather
        on flights.origin_airport_code = weather.airport_code
        and date_trunc('hour', flights.features_as_of_at) = weather.observed_at

)

select * from joined
