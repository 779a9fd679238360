{#-
    A view: ml/score.py merges into the source after a build, and a view shows what it holds now. Empty
    before the first scoring run (macros/source_or_empty.sql).
-#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ source_or_empty('ml', 'predictions') }}

),

final as (

    select
        flight_id,
        model_version,
        delay_probability,
        features_delta_version,
        is_predicted_delayed,
        scored_at

    from source

)

select * from final
