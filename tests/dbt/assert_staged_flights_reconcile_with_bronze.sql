{#-
    Staging keeps every bronze flight, loaded from a CSV or streamed, but duplicate copies:
    staged rows = bronze rows - surplus copies.
-#}
{%- set flight_key = 'carrier, flight, origin, year, month, day, sched_dep_time' -%}
with

bronze as (

    select {{ flight_key }} from {{ source('nycflights', 'flights') }}
    union all
    select {{ flight_key }} from {{ source('nycflights', 'flight_events') }}

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
