{#-
    Each weather observation with how the weather has been changing at that airport over the `weather_trend_hours`
    hours up to it: visibility and pressure now against then (a falling barometer comes before a storm), and the
    precipitation of every observation from then to now, both ends included. Only observations up to the hour
    itself count, the same hour the flight's own weather comes from.
-#}
{%- set trend_hours = var('weather_trend_hours') | int -%}
{%- set trend_seconds = trend_hours * 3600 -%}

with

weather as (

    select * from {{ ref('stg_nycflights__weather') }}

),

with_changes as (

    select
        weather.*,
        weather.visibility_miles - earlier.visibility_miles as visibility_change_miles,
        weather.pressure_millibars - earlier.pressure_millibars as pressure_change_millibars

    from weather
    left join weather as earlier
        on weather.airport_code = earlier.airport_code
        and weather.observed_at - make_dt_interval(0, {{ trend_hours }}, 0, 0) = earlier.observed_at

),

final as (

    select
        *,
        sum(precipitation_inches) over (
            partition by airport_code
            order by unix_seconds(observed_at)
            range between {{ trend_seconds }} preceding and current row
        ) as recent_precipitation_inches

    from with_changes

)

select * from final
