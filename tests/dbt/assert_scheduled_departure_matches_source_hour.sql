{#- Our HHMM-to-instant conversion must land in the hour the source itself records as `time_hour`. -#}
select
    flight_id,
    scheduled_departure_at,
    source_scheduled_hour_at

from {{ ref('stg_nycflights__flights') }}
where date_trunc('hour', scheduled_departure_at) != source_scheduled_hour_at
