with

outcomes as (

    select * from {{ ref('int_predictions_joined_outcomes') }}

),

binned as (

    -- Equal-count deciles of the day's probabilities; flight_id breaks ties, so a rebuild bins alike.
    select
        model_version,
        delay_probability,
        is_delayed,
        flight_date,
        ntile(10) over (
            partition by model_version, flight_date order by delay_probability, flight_id
        ) as probability_decile

    from outcomes

),

final as (

    select
        model_version,
        probability_decile,
        count(*) as scored_flight_count,
        min(delay_probability) as min_delay_probability,
        max(delay_probability) as max_delay_probability,
        avg(delay_probability) as predicted_delay_rate,
        avg(cast(is_delayed as double)) as observed_delay_rate,
        flight_date

    from binned
    group by model_version, flight_date, probability_decile

)

select * from final
