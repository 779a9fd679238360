-- The deciles of a model version's day hold every flight that model_daily_performance counts for it, and the
-- delayed ones among them: one row for every day where they disagree.
with

deciles as (

    select
        model_version,
        flight_date,
        sum(scored_flight_count) as scored_flight_count,
        sum(scored_flight_count * observed_delay_rate) as delayed_flight_count

    from {{ ref('model_calibration_by_decile') }}
    group by model_version, flight_date

),

daily as (

    select * from {{ ref('model_daily_performance') }}

)

select
    daily.model_version,
    daily.flight_date,
    daily.scored_flight_count,
    deciles.scored_flight_count as decile_flight_count

from daily
full outer join deciles
    on daily.model_version = deciles.model_version
    and daily.flight_date = deciles.flight_date
where
    deciles.scored_flight_count is distinct from daily.scored_flight_count
    or abs(deciles.delayed_flight_count - daily.delayed_flight_count) > 1e-6
