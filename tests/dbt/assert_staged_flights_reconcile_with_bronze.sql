{#- Staging keeps every bronze flight but duplicate copies: staged rows = bronze rows - surplus copies. -#}
with

bronze as (

    select
        count(*) as bronze_rows,
        count(distinct carrier, flight, origin, year, month, day, sched_dep_time) as distinct_flights

    from {{ source('nycflights', 'flights') }}

),

staged as (

    select count(*) as staged_rows from {{ ref('stg_nycflights__flights') }}

),

reconciled as (

    select
        bronze.bronze_rows,
        bronze.bronze_rows - bronze.distinct_flights as duplicate_copies,
        staged.staged_rows

    from bronze
    cross join staged

)

select * from reconciled
where staged_rows != bronze_rows - duplicate_copies
