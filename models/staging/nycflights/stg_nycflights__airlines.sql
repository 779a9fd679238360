{#-
    A view, not a table: a rename of a seed of a few thousand rows at most, which costs nothing to read
    through and would cost a Delta commit (about a second) on every build to copy.
-#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ ref('airlines') }}

),

final as (

    select
        carrier as carrier_code,
        name as carrier_name

    from source

)

select * from final
