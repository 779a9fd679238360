with

outcomes as (

    select * from {{ ref('int_predictions_joined_outcomes') }}

),

ranked as (

    -- Each flight's rank by probability within its day and model version, tied flights sharing their mean rank,
    -- so that in the rank form of ROC AUC below a tie between a delayed and an on-time flight counts one half.
    select
        model_version,
        delay_probability,
        is_predicted_delayed,
        is_delayed,
        flight_date,
        cast(rank() over (partition by model_version, flight_date order by delay_probability) as double)
        + (count(*) over (partition by model_version, flight_date, delay_probability) - 1) / 2.0
            as probability_rank

    from outcomes

),

daily as (

    select
        model_version,
        flight_date,
        count(*) as scored_flight_count,
        count_if(is_delayed) as delayed_flight_count,
        avg(cast(is_delayed as double)) as observed_delay_rate,
        avg(delay_probability) as predicted_delay_rate,
        avg(cast(is_predicted_delayed as double)) as flagged_share,
        avg(power(delay_probability - cast(is_delayed as double), 2)) as brier_score,
        sum(if(is_delayed, probability_rank, 0)) as delayed_rank_sum

    from ranked
    group by model_version, flight_date

),

final as (

    select
        model_version,
        scored_flight_count,
        delayed_flight_count,
        observed_delay_rate,
        predicted_delay_rate,
        flagged_share,
        brier_score,
        -- Mann-Whitney: the share of (delayed, on-time) pairs the model ranks the right way round; null on a day
        -- with flights of one kind only.
        (delayed_rank_sum - delayed_flight_count * (delayed_flight_count + 1) / 2.0)
        / nullif(delayed_flight_count * (scored_flight_count - delayed_flight_count), 0) as roc_auc,
        flight_date

    from daily

)

select * from final
