{#-
    Staging keeps every bronze flight, loaded from a CSV or streamed, but duplicate copies:
    staged rows = bronze rows - surplus copies, over the bronze rows loaded by the newest load staging has taken
    (a stream that builds beside itself, `lakehouse stream --build`, may have landed more since; a load's rows
    commit together, and each one is stamped later than the one before).
-#}
{%- set flight_key = 'carrier, flight, origin, year, month, day, sched_dep_time' -%}
with

staged_through as (

    select max(loaded_at) as loaded_at from {{ ref('stg_nycflights__flights') }}

),

bronze as (

    select {{ flight_key }} from {{ source('nycflights', 'flights') }}
    where _loaded_at <= (select staged_through.loaded_at from staged_through)
    union all
    select {{ flight_key }} from {{ source('nycflights', 'flight_events') }}
    where _loaded_at <= (select staged_through.loaded_at from staged_through)

),

counted as (

    select
        count(*) as bronze_rows,
        count(distinct {{ flight_key }}) as distinct_flights

    from bronze

),

staged as (

    select count(*) as staged_rows from {{ ref('stg_nycflights__flights') }}

),

reconciled as (

    select
        counted.bronze_rows,
        counted.bronze_rows - counted.distinct_flights as duplicate_copies,
        staged.staged_rows

    from counted
    cross join staged

)

select * from reconciled
where staged_rows != bronze_rows - duplicate_copies
