{#-
    A view, not a table: ten rules from a seed, which cost nothing to read through.
-#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ ref('us_federal_holidays') }}

),

final as (

    select
        holiday_name,
        month_of_year,
        day_of_month,
        day_of_week,
        week_of_month

    from source

)

select * from final
