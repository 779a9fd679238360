with

predictions as (

    select * from {{ ref('stg_ml__predictions') }}

),

flights as (

    select * from {{ ref('flight_features') }}

),

final as (

    select
        predictions.flight_id,
        predictions.model_version,
        predictions.delay_probability,
        predictions.is_predicted_delayed,
        flights.is_delayed,
        flights.flight_date

    from predictions
    inner join flights
        on predictions.flight_id = flights.flight_id

)

select * from final
