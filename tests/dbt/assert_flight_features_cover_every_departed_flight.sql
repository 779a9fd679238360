{#- flight_features holds exactly the flights that departed (within `features_through_month`, when set). -#}
with

departed as (

    select flight_id from {{ ref('stg_nycflights__flights') }}
    where not is_cancelled
        and {{ is_within_feature_months('flight_date') }}

),

features as (

    select flight_id from {{ ref('flight_features') }}

),

missing as (

    select
        departed.flight_id,
        'departed but not in flight_features' as problem

    from departed
    left anti join features on departed.flight_id = features.flight_id

),

unexpected as (

    select
        features.flight_id,
        'in flight_features but not a departed flight' as problem

    from features
    left anti join departed on features.flight_id = departed.flight_id

)

select * from missing
union all
select * from unexpected
