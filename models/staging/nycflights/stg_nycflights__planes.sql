{#-
    A view, not a table: a rename of a seed of a few thousand rows at most, which costs nothing to read
    through and would cost a Delta commit (about a second) on every build to copy.
-#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ ref('planes') }}

),

final as (

    select
        tailnum as tail_number,
        nullif(type, 'NA') as aircraft_type,
        nullif(manufacturer, 'NA') as manufacturer,
        nullif(model, 'NA') as model,
        nullif(engine, 'NA') as engine_type,
        year as manufactured_year,
        engines as engine_count,
        seats as seat_count,
        speed as cruising_speed_mph

    from source

)

select * from final
