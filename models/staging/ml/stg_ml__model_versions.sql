{#- A view, for the reason stg_ml__predictions is one. -#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ source_or_empty('ml', 'model_versions') }}

),

final as (

    select
        model_version,
        estimator,
        features_table,
        features_delta_version,
        threshold,
        test_roc_auc,
        test_from_date,
        test_before_date,
        trained_at

    from source

)

select * from final
