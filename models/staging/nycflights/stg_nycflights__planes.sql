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
