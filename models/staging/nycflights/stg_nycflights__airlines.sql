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
